"""The JSON shapes AUTOMATIC1111's API answers with, from a finished job and the catalog.

txt2img / img2img answer `{images, parameters, info}`: `images` the base64 PNGs, `parameters` the request
echoed with every field (as A1111 echoes its request model), `info` a JSON *string* of A1111's processed
result (modules/processing.py `Processed.js`). Errors: `{error, detail, field}`; a refused field also gets
FastAPI's validation item in `detail` (`loc` ["body", field]), which A1111 clients already read.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import msgspec

from orchestrator.api.responses import json_response
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.common.image_params import ImageParams
from orchestrator.compat.a1111.face_options import model_name, title
from orchestrator.compat.a1111.request_mapping import Mapped
from orchestrator.compat.a1111.request_models import Img2ImgRequest, Txt2ImgRequest
from orchestrator.jobs.store import Job
from orchestrator.store.metadata import a1111 as a1111_text
from orchestrator.store.metadata import hires_fields
from orchestrator.store.metadata.fooocus import log_fields

# Keys of `info`, in A1111's order (Processed.js).
INFO_KEYS = (
    "prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
    "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps", "batch_size",
    "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash", "sd_vae_name", "sd_vae_hash",
    "seed_resize_from_w", "seed_resize_from_h", "denoising_strength", "extra_generation_params",
    "index_of_first_image", "infotexts", "styles", "job_timestamp", "clip_skip", "is_using_inpainting_conditioning",
)


def error(status: int, message: str, field: str | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {"error": message, "field": field, **extra}
    if field is not None and status == 422:
        body["detail"] = [{"loc": ["body", *field.replace("[", ".").replace("]", "").split(".")],
                           "msg": message, "type": "value_error"}]
    else:
        body["detail"] = message
    return json_response(body, status)


def parameters(body: Txt2ImgRequest | Img2ImgRequest, mapped: Mapped) -> dict[str, Any]:
    """The request as A1111 echoes it: every field, the sampler as resolved, no images unless asked."""
    echo = msgspec.to_builtins(body)
    for name in body.__struct_fields__:
        echo.setdefault(name, None)
    echo["sampler_name"] = mapped.sampling.sampler.name
    echo["sampler_index"] = None
    echo["scheduler"] = mapped.sampling.scheduler.label
    echo["do_not_save_samples"] = echo["do_not_save_grid"] = not body.save_images
    if isinstance(body, Img2ImgRequest):
        include = echo.pop("include_init_images", False)
        if not include:
            echo["init_images"] = None
            echo["mask"] = None
    return echo


def _timestamp(job: Job) -> str:
    return datetime.fromtimestamp(job.started_at or job.created_at, UTC).strftime("%Y%m%d%H%M%S")


def infotext(params: ImageParams) -> str:
    """The image's A1111 text, as it is embedded in the file (store/metadata/a1111.py)."""
    return a1111_text.render(params, log_fields(params))


def info(body: Txt2ImgRequest | Img2ImgRequest, mapped: Mapped, job: Job, catalog: Catalog,
         done: list[int]) -> str:
    """`info`: A1111's processed result for the job; `done` are the indexes of the images returned."""
    planned = job.normalized.images
    first = planned[0]
    count = len(planned)
    prompt, negative = body.prompt or "", body.negative_prompt or ""
    styled = bool(body.styles)
    all_prompts = [", ".join(p.full_prompt) if styled else prompt for p in planned]
    all_negative = [", ".join(p.full_negative_prompt) if styled else negative for p in planned]
    checkpoint = catalog.snapshot().models[ModelKind.checkpoints].get(first.base_model)
    vae = catalog.snapshot().models[ModelKind.vae].get(first.vae or "")
    subseed = body.subseed if body.subseed is not None else -1
    strength = first.variation[1] if first.variation else 0
    all_subseeds = [p.variation[0] for p in planned] if first.variation else [subseed] * count
    denoise = first.input.denoise if first.input is not None else None
    if first.hires is not None:
        denoise = first.hires.denoise
    # As A1111's: the schedule, then the hires keys of the infotext (`Denoising strength` is a field of its own);
    # `width`/`height` are the first pass's, as A1111's `p.width`/`p.height` stay.
    extra: dict[str, Any] = {"Schedule type": mapped.sampling.scheduler.label}
    if (eta := a1111_text.ddim_eta(first.sampler, first.scheduler)) is not None:
        extra[a1111_text.DDIM_ETA_KEY] = eta
    extra.update((k, v) for k, v in hires_fields.a1111_entries(first.hires) if k != "Denoising strength")
    result = {
        "prompt": all_prompts[0], "all_prompts": all_prompts,
        "negative_prompt": all_negative[0], "all_negative_prompts": all_negative,
        "seed": first.seed, "all_seeds": [p.seed for p in planned],
        # Without a strength the subseed did nothing: it is reported as sent.
        "subseed": all_subseeds[0], "all_subseeds": all_subseeds, "subseed_strength": strength,
        "width": first.width, "height": first.height, "sampler_name": mapped.sampling.sampler.name,
        "cfg_scale": first.guidance_scale, "steps": first.steps, "batch_size": body.batch_size or 1,
        "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": os.path.splitext(os.path.basename(first.base_model))[0],
        "sd_model_hash": first.base_model_hash or (catalog.known_hash(checkpoint) if checkpoint else None),
        "sd_vae_name": os.path.splitext(os.path.basename(vae.name))[0] if vae else None,
        "sd_vae_hash": catalog.known_hash(vae) if vae else None,
        "seed_resize_from_w": body.seed_resize_from_w, "seed_resize_from_h": body.seed_resize_from_h,
        "denoising_strength": denoise if isinstance(body, Img2ImgRequest) or first.hires else body.denoising_strength,
        "extra_generation_params": extra,
        "index_of_first_image": 0,
        "infotexts": [infotext(planned[i]) for i in done],
        "styles": list(body.styles or []), "job_timestamp": _timestamp(job), "clip_skip": first.clip_skip,
        "is_using_inpainting_conditioning": False,
    }
    return json.dumps(result)


def images_payload(files: list[bytes], send: bool) -> list[str]:
    return [base64.b64encode(data).decode() for data in files] if send else []


# ----- lists ------------------------------------------------------------------------------------------


def sd_models(catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for model in catalog.snapshot().models[ModelKind.checkpoints].values():
        short = catalog.known_hash(model)
        out.append({"title": title(model, short), "model_name": model_name(model), "hash": short, "sha256": None,
                    "filename": model.path, "config": None})
    return out


def sd_vaes(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"model_name": model.name, "filename": model.path}
            for model in catalog.snapshot().models[ModelKind.vae].values()]


def loras(catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for model in catalog.snapshot().models[ModelKind.loras].values():
        name = os.path.splitext(model.name)[0]
        out.append({"name": name, "alias": name, "path": model.path, "metadata": {}})
    return out


def embeddings(catalog: Catalog) -> dict[str, Any]:
    """Every file of the embeddings folders as `loaded` (remgo checks an embedding against the model when a
    prompt uses it, so none is known to be skipped); shape and vectors are not read here."""
    loaded = {os.path.splitext(m.name)[0]: {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                                            "shape": 0, "vectors": 0}
              for m in catalog.snapshot().models[ModelKind.embeddings].values()}
    return {"loaded": loaded, "skipped": {}}


def prompt_styles(catalog: Catalog) -> list[dict[str, Any]]:
    return [{"name": s["name"], "prompt": s["prompt"], "negative_prompt": s["negative_prompt"]}
            for s in catalog.styles_list() if "special" not in s]


UPSCALERS = [
    {"name": "None", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
    {"name": "Lanczos", "model_name": None, "model_path": None, "model_url": None, "scale": 4},
]
