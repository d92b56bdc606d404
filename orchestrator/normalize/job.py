"""Request → NormalizedJob: per-image prompts and seeds, the metadata of each image, and the tasks.

Per image, in Fooocus's order: seed, a random generator seeded with it, wildcards, `[[a,b]]` arrays,
Random Style picks, then styles around the prompt. Consecutive images that differ only in seed share
one task.
"""

from __future__ import annotations

import random

import msgspec

from contract.a1111_timesteps import pairing_problem
from contract.hires import HiresFix
from contract.prompt_schedule import ScheduledPrompt
from contract.request import GenerateRequest
from contract.task import (
    MAX_SEED,
    AdmScalers,
    FreeU,
    GenerateTask,
    LoraSpec,
    ModelRef,
    PreviewSettings,
    Sampler,
    Scheduler,
    UnetTimestep,
    Variation,
)
from orchestrator.catalog import Catalog, ModelFile, Style
from orchestrator.catalog.styles import PROMPT_EXPANSION
from orchestrator.common.image_params import ImageParams, LoraUse
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize.embeddings import task_embeddings
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.fields import Settled, settle
from orchestrator.normalize.prompts import build_chunks, expand_arrays, expand_wildcards, pick_random_style
from orchestrator.store.metadata import text as metadata

TILING = "tiling"  # the name a worker's kernel declares (Health.image_inputs) when it runs seamless tiling
INTERPOLATED_TIMESTEPS = "unet_timestep.interpolated"  # … and when it conditions the UNet on fractional timesteps
VARIATION = "variation"  # … and when it runs AUTOMATIC1111's variation seeds


class NormalizedJob(msgspec.Struct, frozen=True, kw_only=True):
    """`images[i]` is job image i; tasks cover the images in order, a task's seeds being consecutive images."""

    tasks: list[GenerateTask]
    images: list[ImageParams]
    warnings: list[str]
    request: GenerateRequest  # the effective request after preset and defaults


def _ref(model: ModelFile | None) -> ModelRef | None:
    return None if model is None else ModelRef(name=model.name, path=model.path)


class _Image(msgspec.Struct, kw_only=True):
    params: ImageParams
    task: GenerateTask  # one-seed task; merged with its neighbours later


def _image(s: Settled, index: int, hashes: dict[str, str], missing: set[str]) -> _Image:
    u = s.used
    seed = u.image_seed if u.disable_seed_increment else (u.image_seed + index) % (MAX_SEED + 1)
    # AUTOMATIC1111 gives image i the variation seed + i, whatever the seeds do
    variation = ((u.variation_seed + index) % (MAX_SEED + 1), u.variation_strength) if u.variation_strength else None
    rng = random.Random(seed)
    snapshot = s.snapshot

    def expand(text: str) -> str:
        return expand_wildcards(text, snapshot.wildcards, rng, index, u.read_wildcards_in_order, missing)

    if s.schedule is not None:  # the entries are encoded; the prompts are recorded as written
        prompt, negative, extra_positive, extra_negative = (
            s.main_prompt, s.main_negative, list(s.extra_prompts), list(s.extra_negatives))
    else:
        prompt = expand_arrays(expand(s.main_prompt), index)
        negative = expand(s.main_negative)
        extra_positive = [expand(x) for x in s.extra_prompts]
        extra_negative = [expand(x) for x in s.extra_negatives]

    styles: list[Style] = []
    for style in s.styles:
        if style is None:  # Random Style: drawn from this image's generator, after its wildcards
            picked = pick_random_style(snapshot.style_names, rng)
            if picked is not None:
                styles.append(snapshot.styles[picked])
        else:
            styles.append(style)
    positive_chunks, negative_chunks = build_chunks(prompt, negative, extra_positive, extra_negative, styles)
    # With a schedule the model reads its entries, step by step (step 0 reads the first), each styled as a prompt
    # is: AUTOMATIC1111 applies styles to the prompt before it reads the editing syntax in it.
    encoded = ([_styled(e, styles) for e in s.schedule] if s.schedule and styles else s.schedule) or [
        ScheduledPrompt(until_step=0, positive=positive_chunks, negative=negative_chunks)]
    logged_styles = ([PROMPT_EXPANSION] if s.expansion else []) + [st.name for st in styles]
    adm = (u.adm_scaler_positive, u.adm_scaler_negative, u.adm_scaler_end)
    freeu = FreeU(enabled=u.freeu_enabled, b1=u.freeu_b1, b2=u.freeu_b2, s1=u.freeu_s1, s2=u.freeu_s2)
    forced_switch = u.overwrite_switch if s.refiner and u.overwrite_switch and u.overwrite_switch > 0 else None

    params = ImageParams(
        prompt="\n".join([prompt, *extra_positive]), negative_prompt="\n".join([negative, *extra_negative]),
        styles=logged_styles, performance=u.performance_selection.value, steps=s.steps, width=s.width,
        height=s.height, guidance_scale=u.guidance_scale, sharpness=u.image_sharpness, adm_guidance=adm,
        base_model=s.base.name, base_model_hash=hashes.get(s.base.path), sampler=u.sampler_name,
        scheduler=u.scheduler_name, seed=seed, clip_skip=u.clip_skip, adaptive_cfg=u.adaptive_cfg,
        refiner_switch=u.refiner_switch, refiner_model=s.refiner.name if s.refiner else None,
        refiner_model_hash=hashes.get(s.refiner.path) if s.refiner else None,
        refiner_swap_method=u.refiner_swap_method.value, vae=s.vae.name if s.vae else None,
        loras=[LoraUse(name=m.name, weight=w, hash=hashes.get(m.path)) for m, w in s.loras],
        full_prompt=positive_chunks, full_negative_prompt=negative_chunks,
        freeu=(freeu.b1, freeu.b2, freeu.s1, freeu.s2) if freeu.enabled else None,
        metadata_scheme=u.metadata_scheme.value, overwrite_switch=forced_switch,
        input=s.image_input.use if s.image_input else None,
        image_prompts=s.image_prompts.uses if s.image_prompts else [],
        tiling=bool(u.tiling), hires=s.hires.use if s.hires else None, unet_timestep=_unet_timestep(u).value,
        variation=variation)
    task = GenerateTask(
        task_id="-", base_model=_ref(s.base), width=s.width, height=s.height, seeds=[seed],
        positive=encoded[0].positive, negative=encoded[0].negative, steps=s.steps, sampler=Sampler(u.sampler_name),
        scheduler=Scheduler(u.scheduler_name), guidance_scale=u.guidance_scale, sharpness=u.image_sharpness,
        adaptive_cfg=u.adaptive_cfg, adm=AdmScalers(positive=adm[0], negative=adm[1], end=adm[2]),
        clip_skip=u.clip_skip, loras=[LoraSpec(name=m.name, path=m.path, weight=w) for m, w in s.loras],
        embeddings=task_embeddings(snapshot, [c for e in encoded for c in e.positive],
                                   [c for e in encoded for c in e.negative]), vae=_ref(s.vae),
        refiner=_ref(s.refiner), refiner_switch=u.refiner_switch, refiner_swap_method=u.refiner_swap_method,
        freeu=freeu, output_format=u.output_format,
        image_metadata=[metadata.embedded_text(params, u.metadata_scheme)] if u.save_metadata_to_images else [],
        preview=PreviewSettings(enabled=not u.disable_preview),
        image_input=s.image_input.method if s.image_input else msgspec.UNSET,
        image_prompts=s.image_prompts.prompts if s.image_prompts else msgspec.UNSET,
        control=s.image_prompts.control if s.image_prompts else msgspec.UNSET,
        tiling=True if u.tiling else msgspec.UNSET,  # sent only when on: other tasks stay byte-identical
        hires=_styled_hires(s.hires.fix, styles) if s.hires else msgspec.UNSET,
        prompt_schedule=encoded if s.schedule is not None else msgspec.UNSET,
        # sent only when interpolated: other tasks stay byte-identical
        unet_timestep=UnetTimestep.interpolated if _unet_timestep(u) is UnetTimestep.interpolated else msgspec.UNSET,
        variation=Variation(seeds=[variation[0]], strength=variation[1]) if variation else msgspec.UNSET)
    return _Image(params=params, task=task)


def _styled(entry: ScheduledPrompt, styles: list[Style]) -> ScheduledPrompt:
    positive, negative = build_chunks(entry.positive[0], entry.negative[0], entry.positive[1:], entry.negative[1:],
                                      styles)
    return msgspec.structs.replace(entry, positive=positive, negative=negative)


def _styled_hires(fix: HiresFix, styles: list[Style]) -> HiresFix:
    entries = fix.schedule()
    if entries is None or not styles:
        return fix
    return msgspec.structs.replace(fix, prompt_schedule=[_styled(e, styles) for e in entries])


# The request field behind each task field a pairing problem names (contract/a1111_timesteps.py).
_PAIRING_FIELDS = {"sampler": "sampler_name", "scheduler": "scheduler_name", "steps": "overwrite_step",
                   "image_input": "scheduler_name", "hires": "hires_fix", "refiner": "refiner_model_name"}


def _check_own_timesteps(s: Settled) -> None:
    """AUTOMATIC1111's own timestep schedules' rules, refused here before the job is queued rather than failed
    by the worker."""
    u = s.used
    if problem := pairing_problem(u.sampler_name, u.scheduler_name, s.steps, image_input=s.image_input is not None,
                                  hires=s.hires is not None, refiner=s.refiner is not None):
        field, message = problem
        raise NormalizeError(_PAIRING_FIELDS[field], message)


def _unet_timestep(used) -> UnetTimestep:
    return used.unet_timestep or UnetTimestep.nearest


def _merge(images: list[_Image], job_id: str) -> list[GenerateTask]:
    """Consecutive one-seed tasks equal apart from seed, variation seed and metadata become one task."""
    groups: list[list[_Image]] = []
    for img in images:
        if groups and _per_image_apart(groups[-1][0].task) == _per_image_apart(img.task):
            groups[-1].append(img)
        else:
            groups.append([img])
    tasks = []
    for k, group in enumerate(groups):
        first = group[0].task
        variation = first.variation
        if variation is not msgspec.UNSET:
            variation = Variation(seeds=[s for g in group for s in g.task.variation.seeds], strength=variation.strength)
        tasks.append(msgspec.structs.replace(
            first, task_id=f"{job_id}-{k}", seeds=[seed for g in group for seed in g.task.seeds],
            image_metadata=[m for g in group for m in g.task.image_metadata], variation=variation))
    return tasks


def _per_image_apart(task: GenerateTask) -> GenerateTask:
    """The task without what differs image by image."""
    variation = task.variation
    if variation is not msgspec.UNSET:
        variation = msgspec.structs.replace(variation, seeds=[0])
    return msgspec.structs.replace(task, seeds=[0], image_metadata=[], variation=variation)


def _validated(task: GenerateTask) -> GenerateTask:
    """Structs built in code skip msgspec's constraints: check the task as a worker would decode it."""
    try:
        return msgspec.convert(msgspec.to_builtins(task), GenerateTask)
    except msgspec.ValidationError as exc:
        raise NormalizeError("request", f"the request makes an invalid task: {exc}") from None


def normalize(request: GenerateRequest, catalog: Catalog, *, job_id: str, default_preset: str = "default",
              rng: random.Random | None = None, inputs: dict[str, ResolvedImage] | None = None) -> NormalizedJob:
    """Turn a request into fully expanded, validated tasks. Raises NormalizeError naming the bad field.

    `inputs`: the request's input images as the input store holds them, by field name."""
    warnings: list[str] = []
    s = settle(request, catalog, default_preset=default_preset, rng=rng or random.Random(), warnings=warnings,
               inputs=inputs)
    if s.used.tiling and not catalog.runs_image_input(TILING):
        raise NormalizeError("tiling", "seamless tiling is not run by the workers' kernel; send tiling false")
    _check_own_timesteps(s)
    if s.used.variation_strength and not catalog.runs_image_input(VARIATION):
        raise NormalizeError("variation_strength", "variation seeds are not run by the workers' kernel; send 0")
    if _unet_timestep(s.used) is UnetTimestep.interpolated and not catalog.runs_image_input(INTERPOLATED_TIMESTEPS):
        raise NormalizeError("unet_timestep", "interpolated UNet timesteps are not run by the workers' kernel; "
                                              "send unet_timestep nearest")
    models = [s.base, *([s.refiner] if s.refiner else []), *(m for m, _ in s.loras)]
    # Never waits for a hash (a checkpoint takes seconds to read): one not computed yet is logged unknown.
    hashes = {m.path: h for m in models if (h := catalog.known_hash(m)) is not None}
    missing: set[str] = set()
    images = [_image(s, i, hashes, missing) for i in range(s.used.image_number)]
    if missing:
        names = ", ".join(f"__{n}__" for n in sorted(missing))
        warnings.append(f"no wildcard file for {names}; the name was used as a plain word")
    if any(st is None for st in s.styles) and not s.snapshot.style_names:
        warnings.append("Random Style: no styles are installed, so none was applied")
    if s.expansion and any(img.params.prompt.strip() for img in images):
        warnings.append("Fooocus V2 prompt expansion is not available; prompts are used as written")
    tasks = [_validated(t) for t in _merge(images, job_id)]
    return NormalizedJob(tasks=tasks, images=[img.params for img in images], warnings=warnings,
                         request=s.effective)
