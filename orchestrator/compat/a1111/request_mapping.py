"""An AUTOMATIC1111 txt2img / img2img body → remgo's GenerateRequest, every field honoured or refused.

The request is made A1111-like explicitly, so no preset adds what A1111 would not do: no styles but those
asked, no LoRAs but the prompt's `<lora:…>` tags, no sharpness, adaptive CFG or ADM scaling, no FreeU,
Speed performance (never a fast mode's forced LoRA), A1111 metadata in the images. The base model is the
face's `sd_model_checkpoint` (else the default preset's). What cannot be run as A1111 runs it is a
`MappingRefused` naming the A1111 field; docs/api-a1111.md lists each decision.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from contract.request import GenerateRequest, Performance
from contract.task import OutputFormat, RefinerSwapMethod, UnetTimestep
from orchestrator.catalog import Catalog
from orchestrator.catalog.preset_fit import MODEL_VAE
from orchestrator.catalog.tables import size_problem
from orchestrator.common.field_error import FieldError
from orchestrator.compat.a1111 import hires_mapping
from orchestrator.compat.a1111.face_options import FaceOptions, OptionRefused, find_checkpoint
from orchestrator.compat.a1111.prompt_syntax import PromptRefused, check_syntax, joint_schedule, to_remgo
from orchestrator.compat.a1111.request_models import Img2ImgRequest, Txt2ImgRequest
from orchestrator.compat.a1111.sampler_names import NameRefused, Sampling, resolve
from orchestrator.normalize.prompts import LORA_TAG_RE

JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_IMAGES = 32
MAX_STEPS = 200
# A1111's samplers that evaluate the model twice per step: its refiner switch counts evaluations there.
SECOND_ORDER = frozenset({"Heun", "DPM2", "DPM2 a", "DPM++ 2S a", "DPM++ SDE"})
class MappingRefused(FieldError):
    """An A1111 field that is not honoured; `field` is its name (`override_settings.sd_vae`, `init_images[0]`)."""


@dataclass
class Mapped:
    request: GenerateRequest
    sampling: Sampling
    notes: list[str] = field(default_factory=list)
    job_id: str | None = None
    options_after: dict[str, Any] | None = None  # override_settings to keep (restore_afterwards false)


def refuse(name: str, message: str) -> MappingRefused:
    return MappingRefused(name, message)


def _check_common(body: Txt2ImgRequest | Img2ImgRequest) -> None:
    if body.restore_faces:
        raise refuse("restore_faces", "face restoration is not run here: it needs a loader for face-restoration models "
                                      "(GFPGAN, CodeFormer), which this build does not include; send false")
    if not 0 <= (body.subseed_strength or 0) <= 1:
        raise refuse("subseed_strength", f"must be within 0…1, got {body.subseed_strength:g}")
    for name in ("seed_resize_from_w", "seed_resize_from_h"):
        if (getattr(body, name) or 0) > 0:
            raise refuse(name, "resizing the seed's noise is not run here; send -1 or 0")
    if body.s_min_uncond:
        raise refuse("s_min_uncond", "skipping the negative prompt at low noise (NGMS) is not run here; send 0")
    if body.s_churn not in (None, 0):
        raise refuse("s_churn", "churn is not run here; send 0 (s_tmin and s_tmax then do nothing)")
    if body.s_noise not in (None, 1):
        raise refuse("s_noise", "the samplers here add noise at scale 1.0; send 1")
    if body.disable_extra_networks:
        raise refuse("disable_extra_networks", "<lora:…> tags in the prompt are always applied here")
    if body.firstpass_image:
        raise refuse("firstpass_image", "a given first-pass image is not taken: hires fix runs its own first pass "
                                        "here; send none")
    if body.comments:
        raise refuse("comments", "comments are not written into the images here")
    if body.script_name:
        raise refuse("script_name", f"script {body.script_name!r} is not run here: this server runs no scripts")
    if body.script_args:
        raise refuse("script_args", "this server runs no scripts; send an empty list")
    for name in body.alwayson_scripts or {}:
        raise refuse(f"alwayson_scripts.{name}", f"script {name!r} is not run here: this server runs no scripts")
    if body.infotext:
        raise refuse("infotext", "reading parameters from an infotext is not done here; send the fields")


def _sampling(body: Txt2ImgRequest | Img2ImgRequest, catalog: Catalog) -> Sampling:
    name = body.sampler_name or body.sampler_index
    field_name = "sampler_name" if body.sampler_name else "sampler_index"
    try:
        sampling = resolve(name, body.scheduler, field=field_name)
    except NameRefused as exc:
        raise refuse(exc.field, exc.message) from None
    known = sampling.sampler
    if known.eta is not None:
        eta = known.eta_option if body.eta is None else body.eta  # A1111's eta_ancestral / eta_ddim
        if known.runs(eta) is None:
            etas = " or ".join(f"{e:g}" for e in (known.eta, *(e for e, _ in known.other_etas)))
            null = " (or null)" if known.runs(known.eta_option) is not None else ""
            raise refuse("eta", f"{known.name} runs with eta {etas} here; send {etas}{null}")
        sampling = replace(sampling, eta=eta)
    sampler, scheduler = sampling.ours
    if sampler not in catalog.samplers:
        raise refuse(field_name, f"{known.name!r} is not run by the workers' kernel")
    if scheduler not in catalog.schedulers:
        raise refuse("scheduler", f"{sampling.scheduler.label!r} is not run by the workers' kernel")
    return sampling


def _seed(body: Txt2ImgRequest | Img2ImgRequest) -> tuple[int, bool]:
    seed = -1 if body.seed is None else body.seed
    if seed < -1:
        raise refuse("seed", f"must be -1 (random) or 0 or more, got {seed}")
    return seed, seed == -1


def _count(body: Txt2ImgRequest | Img2ImgRequest) -> int:
    for name in ("batch_size", "n_iter"):
        value = getattr(body, name)
        if value is not None and value < 1:
            raise refuse(name, f"must be 1 or more, got {value}")
    total = (body.batch_size or 1) * (body.n_iter or 1)
    if total > MAX_IMAGES:
        raise refuse("n_iter", f"batch_size × n_iter is {total}; at most {MAX_IMAGES} images a request")
    return total


def asked_size(body: Txt2ImgRequest | Img2ImgRequest) -> tuple[int, int]:
    width, height = body.width or 512, body.height or 512
    problem = size_problem(width, height)
    if problem:
        raise refuse(problem.split(" ", 1)[0], problem)
    return width, height


def _options(body: Txt2ImgRequest | Img2ImgRequest, catalog: Catalog, options: FaceOptions) -> tuple[FaceOptions, dict]:
    """The face's options with the request's override_settings applied (a copy)."""
    overrides = body.override_settings or {}
    used = FaceOptions(checkpoint=options.checkpoint, vae=options.vae, vae_label=options.vae_label,
                       clip_skip=options.clip_skip)
    try:
        used.apply(catalog, overrides, prefix="override_settings.")
    except OptionRefused as exc:
        raise refuse(exc.field, exc.message) from None
    return used, overrides


def _refiner(body: Txt2ImgRequest | Img2ImgRequest, catalog: Catalog, sampling: Sampling, steps: int) -> tuple[str, float | None]:
    given = (body.refiner_checkpoint or "").strip()
    if given in ("", "None", "none"):
        return "None", None
    try:
        name = find_checkpoint(catalog, given, "refiner_checkpoint").name
    except OptionRefused as exc:
        raise refuse(exc.field, exc.message) from None
    at = body.refiner_switch_at
    if at is None or not 0 < at <= 1:
        raise refuse("refiner_switch_at", f"with a refiner, the share of steps before it takes over: 0 < x ≤ 1, "
                                           f"got {at}")
    if sampling.sampler.name in SECOND_ORDER:
        raise refuse("refiner_checkpoint", f"with {sampling.sampler.name} A1111 hands over by model evaluations, "
                                            "remgo by steps; use a sampler that evaluates once per step")
    # A1111 hands over after the steps whose share of the run is at most `at` (steps 0 … ⌊steps·at⌋);
    # remgo's joint swap hands over after steps 0 … round(steps·switch): switch = ⌊steps·at⌋ / steps.
    base_steps = math.floor(steps * at)
    switch = min(1.0, base_steps / steps)
    if switch < 0.1:
        raise refuse("refiner_switch_at", f"{at} hands over after {base_steps} of {steps} steps; remgo's refiner "
                                           "switch starts at 0.1 of the steps")
    return name, switch


def _check_own_timesteps(body: Txt2ImgRequest | Img2ImgRequest, sampling: Sampling, steps: int,
                         refiner: str) -> None:
    """DDIM and UniPC on A1111's own timesteps run text to image alone here, from the fewest steps A1111 runs them
    at: 2 for DDIM (at 1 A1111 makes no model step and returns the noise), 3 for UniPC (A1111's UniPC of order 3
    fails below)."""
    name = sampling.sampler.name
    fewest = 3 if name == "UniPC" else 2
    if steps < fewest:
        raise refuse("steps", f"{name} runs from {fewest} steps here, as in A1111; send {fewest} or more")
    if isinstance(body, Img2ImgRequest):
        raise refuse("sampler_name", f"img2img with {name} is not run here (A1111 noises the image to one timestep "
                                      "and starts sampling at the next lower one); use another sampler")
    if body.enable_hr:
        raise refuse("enable_hr", f"hires fix with {name} is not run here; use another sampler")
    if refiner != "None":
        raise refuse("refiner_checkpoint", f"a refiner with {name} is not run here; use another sampler")


def _prompts(body: Txt2ImgRequest | Img2ImgRequest, steps: int, sampling: Sampling) -> dict[str, Any]:
    """The prompts in remgo's syntax; with prompt editing or alternation, A1111's schedule of them as
    `prompt_schedule` (each variant translated) and the prompts as written, which the images record.

    The schedule spans the steps A1111's denoiser counts: its model evaluations, twice the steps for a
    sampler that evaluates twice a step. `<lora:…>` tags are read before, as A1111 reads them: they act
    throughout, wherever they stand (the normalizer takes them from `prompt`)."""
    prompt, negative = body.prompt or "", body.negative_prompt or ""
    try:
        check_syntax(prompt, "prompt")
        check_syntax(negative, "negative_prompt")
        span = steps * 2 if sampling.sampler.name in SECOND_ORDER else steps
        bare = [LORA_TAG_RE.sub("", _one_line(t)) for t in (prompt, negative)]
        joint = joint_schedule(*bare, span)
        if len(joint) == 1 and list(joint[0][1:]) == bare:  # nothing scheduled: the prompts as they were
            return dict(prompt=to_remgo(prompt, "prompt"), negative_prompt=to_remgo(negative, "negative_prompt"))
        entries = [dict(until_step=until, prompt=to_remgo(p, "prompt"), negative_prompt=to_remgo(n, "negative_prompt"))
                   for until, p, n in joint]
    except PromptRefused as exc:
        raise refuse(exc.field, exc.message) from None
    return dict(prompt=prompt, negative_prompt=negative, prompt_schedule=entries)


def _variation(body: Txt2ImgRequest | Img2ImgRequest) -> dict[str, Any]:
    """A1111's variation seeds: with a strength, every image keeps the seed and image i takes the subseed + i
    (-1: a random one), as A1111 numbers `all_seeds` and `all_subseeds` then."""
    if not body.subseed_strength:
        return {}
    subseed = body.subseed if body.subseed is not None and body.subseed >= 0 else -1
    return {"variation_seed": subseed, "variation_strength": float(body.subseed_strength),
            "disable_seed_increment": True}


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def base_fields(body: Txt2ImgRequest | Img2ImgRequest, catalog: Catalog, options: FaceOptions) -> tuple[dict, Mapped]:
    _check_common(body)
    sampling = _sampling(body, catalog)
    used, overrides = _options(body, catalog, options)
    steps = body.steps if body.steps is not None else 50
    if not 1 <= steps <= MAX_STEPS:
        raise refuse("steps", f"must be within 1…{MAX_STEPS}, got {steps}")
    cfg = body.cfg_scale if body.cfg_scale is not None else 7.0
    if not 1.0 <= cfg <= 30.0:
        raise refuse("cfg_scale", f"must be within 1…30, got {cfg:g}")
    width, height = asked_size(body)
    seed, random_seed = _seed(body)
    prompts = _prompts(body, steps, sampling)
    refiner, switch = _refiner(body, catalog, sampling, steps)
    if sampling.sampler.timesteps is not None:
        _check_own_timesteps(body, sampling, steps, refiner)
    sampler, scheduler = sampling.ours
    if body.force_task_id is not None and not JOB_ID.match(body.force_task_id):
        raise refuse("force_task_id", "1-64 of A-Za-z0-9._-, starting with a letter or digit")
    notes = []
    if not body.save_images:
        notes.append("save_images is false: remgo keeps every image in its outputs and history all the same")
    fields = dict(
        **prompts, style_selections=list(body.styles or []),
        performance_selection=Performance.speed.value, aspect_ratios_selection=f"{width}*{height}",
        image_number=_count(body), image_seed=seed, seed_random=random_seed, image_sharpness=0.0,
        guidance_scale=cfg, adaptive_cfg=cfg, base_model_name=used.checkpoint, refiner_model_name=refiner,
        sampler_name=sampler, scheduler_name=scheduler, vae_name=used.vae or MODEL_VAE,
        output_format=OutputFormat.png.value, clip_skip=used.clip_skip, loras=[], adm_scaler_positive=1.0,
        adm_scaler_negative=1.0, adm_scaler_end=0.0, refiner_swap_method=RefinerSwapMethod.joint.value,
        freeu_enabled=False, overwrite_step=steps, disable_seed_increment=False, save_metadata_to_images=True,
        metadata_scheme="a1111", read_wildcards_in_order=False,
        tiling=bool(body.tiling),  # A1111's `tiling` option is off: null is false
        # A1111 (its `enable_quantization` off) conditions the UNet on the fractional timestep of each level.
        unet_timestep=UnetTimestep.interpolated.value,
    )
    fields.update(_variation(body))
    if switch is not None:
        fields["refiner_switch"] = switch
    keep = overrides if body.override_settings_restore_afterwards is False and overrides else None
    return fields, Mapped(request=GenerateRequest(), sampling=sampling, notes=notes, job_id=body.force_task_id,
                          options_after=keep)


def txt2img(body: Txt2ImgRequest, catalog: Catalog, options: FaceOptions) -> Mapped:
    try:
        first = hires_mapping.first_pass_size(body)
    except hires_mapping.HiresRefused as exc:
        raise refuse(exc.field, exc.message) from None
    if first is not None:  # the old hires fix: the first pass at firstphase_width × firstphase_height
        if problem := size_problem(*first):
            raise refuse("firstphase_" + problem.split(" ", 1)[0], problem)
        body = msgspec.structs.replace(body, width=first[0], height=first[1])
    fields, mapped = base_fields(body, catalog, options)
    if body.enable_hr:
        try:
            fields["hires_fix"] = hires_mapping.hires_fix(body, mapped.sampling, catalog, fields["base_model_name"],
                                                          fields["refiner_model_name"])
        except hires_mapping.HiresRefused as exc:
            raise refuse(exc.field, exc.message) from None
        # A1111 schedules the second pass anew over its own steps (the hr prompt is the prompt here).
        second = _prompts(body, fields["hires_fix"]["steps"] or fields["overwrite_step"], mapped.sampling)
        if "prompt_schedule" in second:
            fields["hires_fix"]["prompt_schedule"] = second["prompt_schedule"]
    mapped.request = build(fields)
    return mapped


def build(fields: dict[str, Any]) -> GenerateRequest:
    """The request, checked against the contract's ranges (a value out of range names the A1111 field)."""
    try:
        return msgspec.convert(fields, GenerateRequest)
    except msgspec.ValidationError as exc:
        path = re.search(r"at `(\$[^`]*)`", str(exc))
        raise refuse(a1111_field(path.group(1) if path else "$"), str(exc).split(" - at ")[0]) from None


# Names of remgo's request fields (as the normalizer's errors name them) → the A1111 field behind them.
A1111_FIELD = {
    "style_selections": "styles", "image_number": "batch_size", "guidance_scale": "cfg_scale",
    "overwrite_step": "steps", "base_model_name": "sd_model_checkpoint", "refiner_model_name": "refiner_checkpoint",
    "refiner_switch": "refiner_switch_at", "sampler_name": "sampler_name", "scheduler_name": "scheduler",
    "vae_name": "sd_vae", "clip_skip": "CLIP_stop_at_last_layers", "aspect_ratios_selection": "width",
    "uov_input_image": "init_images[0]", "inpaint_input_image": "init_images[0]", "inpaint_mask_image": "mask",
    "overwrite_vary_strength": "denoising_strength", "inpaint_strength": "denoising_strength",
    "loras": "prompt", "image_seed": "seed", "variation_seed": "subseed", "variation_strength": "subseed_strength",
}


def a1111_field(path: str) -> str:
    """`$.style_selections[0]` → `styles[0]`: a normalizer's field in A1111's name."""
    bare = path.removeprefix("$.").removeprefix("$")
    if bare.startswith(("prompt_schedule", "hires_fix.prompt_schedule")):  # made of prompt and negative_prompt
        return "negative_prompt" if bare.endswith("negative_prompt") else "prompt"
    if bare.startswith("inpaint_a1111."):  # its fields carry A1111's own names
        return bare.removeprefix("inpaint_a1111.")
    if bare.startswith("hires_fix"):
        return hires_mapping.a1111_name(bare.removeprefix("hires_fix").removeprefix("."))
    head = re.match(r"[A-Za-z_]+", bare)
    if head is None:
        return bare or "body"
    return A1111_FIELD.get(head.group(0), head.group(0)) + bare[head.end():]
