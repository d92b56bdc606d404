"""Settling a request into one Settled record the per-image step reads.

The request is first filled field by field, request > preset > built-in default (sources.py), into a
typed GenerateRequest; the rules below then fix it: a performance mode forces its sampler, scheduler,
LoRA and neutral guidance, an SD 1.5 base neutral ADM scalers, and the `overwrite_*` fields have the last
word. A new knob needs no line here unless it has a rule of its own: it is filled like every field and
read by the per-image step (job.py) from `Settled.used`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from contract.prompt_schedule import ScheduledPrompt
from contract.request import GenerateRequest, LoraEntry, Performance
from contract.task import MAX_SEED
from orchestrator.catalog import Catalog, CatalogSnapshot, ModelFile, ModelKind, Style
from orchestrator.catalog.tables import FAST_MODE_FORCED, PERFORMANCE, PerformanceMode
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize.architecture import ADM_NEUTRAL, lora_fits, neutralize_sdxl_only, refiner_fits
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.hires import KERNEL_NAME as HIRES_KERNEL_NAME
from orchestrator.normalize.hires import HiresPlan, plan_hires
from orchestrator.normalize.image_input import IMAGE_FIELDS, InputPlan, plan_input
from orchestrator.normalize.image_prompts import CONTROL_KNOBS, PromptPlan, idle_knobs, plan_prompts
from orchestrator.normalize.prompt_schedule import KERNEL_NAME as SCHEDULE_KERNEL_NAME
from orchestrator.normalize.prompt_schedule import plan_schedule
from orchestrator.normalize.prompts import extract_lora_tags, split_lines, tidy_commas
from orchestrator.normalize.sources import Sources


@dataclass
class Settled:
    """What a job's images share. `used` is the request as it runs: every knob filled from the request, the
    preset or the built-in default (sources.py), then fixed by the rules in `settle`; the per-image step
    reads its knobs from there. The other fields are what its names and texts stand for."""

    used: GenerateRequest
    steps: int
    base: ModelFile
    refiner: ModelFile | None
    vae: ModelFile | None
    loras: list[tuple[ModelFile, float]]  # `used.loras`, then the prompt's <lora:…> tags and a fast mode's LoRA
    main_prompt: str
    extra_prompts: list[str]
    main_negative: str
    extra_negatives: list[str]
    styles: list[Style | None]
    expansion: bool
    width: int
    height: int
    effective: GenerateRequest  # the job's record: `used`, with the knobs that had no effect as the client sent them
    snapshot: CatalogSnapshot  # the one catalog view the whole job was read from
    image_input: InputPlan | None = None  # Vary / Upscale / Inpaint of an input image; None: text to image
    image_prompts: PromptPlan | None = None  # up to four image prompts; None: none
    hires: HiresPlan | None = None  # hires fix's second pass; None: none
    schedule: list[ScheduledPrompt] | None = None  # the per-step conditioning schedule; None: the prompts throughout


FREEU_KEYS = ("b1", "b2", "s1", "s2")
# Knobs that act only on an input image (the image fields themselves are checked in image_input.py).
INPUT_IMAGE_KNOBS = (
    "uov_method", "upscale_value", "upscale_model", "upscale_fallback", "overwrite_vary_strength",
    "overwrite_upscale_strength", "inpaint_additional_prompt", "outpaint_selections", "inpaint_strength",
    "inpaint_respective_field", "inpaint_erode_or_dilate", "invert_mask_checkbox", "inpaint_disable_initial_latent",
    "inpaint_engine",
)


def _switch_step(st: Sources) -> int | None:
    """Fooocus's `default_overwrite_switch` (a step number) of the first preset layer that has one."""
    return next((p.overwrite_switch_step for p in st.layers if p.overwrite_switch_step), None)


def _listed(fields: list[str]) -> str:
    return f"{fields[0]} has no effect" if len(fields) == 1 else f"{', '.join(fields)} have no effect"


def _prompt_lines(prompt: str, negative: str) -> tuple[list[str], list[tuple[str, float]], list[str]]:
    """(prompt lines without LoRA tags, the tags, negative lines); line 0 is the main one."""
    lines, tags = [], []
    for j, line in enumerate(split_lines(prompt)):
        line, found = extract_lora_tags(line)
        tags += found
        line = tidy_commas(line) if j == 0 else line
        if line or j == 0:
            lines.append(line)
    return lines or [""], tags, split_lines(negative) or [""]


def settle(request: GenerateRequest, catalog: Catalog, *, default_preset: str, rng: random.Random,
           warnings: list[str], inputs: dict[str, ResolvedImage] | None = None) -> Settled:
    st = Sources(request, catalog, default_preset, warnings)
    req, asked = request, st.asked
    mode = PERFORMANCE[Performance(asked.performance_selection)]
    steps = asked.overwrite_step if asked.overwrite_step is not None and asked.overwrite_step > 0 else mode.steps

    base = st.base_model()
    refiner = st.optional_model("refiner_model_name", ModelKind.checkpoints)
    if refiner is not None and refiner.name == base.name:
        st.warn("refiner is the base model; refiner not used")
        refiner = None
    if refiner is not None and (why := refiner_fits(base, refiner)):
        st.fail(st.origin["refiner_model_name"], "refiner_model_name", why, then="no refiner used")
        refiner = None
    vae = st.optional_model("vae_name", ModelKind.vae)
    chosen_loras = st.loras(base)
    loras = list(chosen_loras)
    lines, tags, negative_lines = _prompt_lines(asked.prompt, asked.negative_prompt)
    st.inline_loras(tags, loras, base)
    styles, expansion, style_names = st.styles()
    width, height, aspect = st.size()

    used = asked
    if mode.fast:
        used = _force_fast_mode(st, mode, used, loras, base)
        if refiner is not None:
            st.warn(f"refiner {refiner.name} not used: {mode.name} runs without a refiner")
            refiner = None
        for field, forced in (("sampler_name", mode.sampler), ("scheduler_name", mode.scheduler)):
            asked_for = getattr(req, field)
            if st.overridden([field]) and asked_for != forced:
                st.warn(f"{mode.name} sets {field} to {forced} (the request asked for {asked_for})")
        used = msgspec.structs.replace(used, sampler_name=mode.sampler, scheduler_name=mode.scheduler)
    else:
        used = msgspec.structs.replace(
            used, sampler_name=st.kernel_choice("sampler_name", catalog.samplers, "sampler"),
            scheduler_name=st.kernel_choice("scheduler_name", catalog.schedulers, "scheduler"))
    used = neutralize_sdxl_only(base, used, st.overridden(list(ADM_NEUTRAL)), st.warn)

    switch, overwrite_switch = used.refiner_switch, used.overwrite_switch
    if overwrite_switch is not None and 0 < overwrite_switch < 0.1:
        st.fail(st.origin["overwrite_switch"], "overwrite_switch", "must be within 0.1…1.0, or -1 for off",
                then="not applied")
        overwrite_switch = None
    if overwrite_switch is not None and overwrite_switch > 0 and not mode.fast:
        switch = overwrite_switch
    elif req.overwrite_switch is None and not mode.fast and (step := _switch_step(st)):
        switch = min(1.0, max(0.1, step / steps))
    if refiner is None:
        unused = st.overridden(["refiner_switch", "refiner_swap_method"])
        unused += ["overwrite_switch"] if overwrite_switch is not None and overwrite_switch > 0 else []
        if unused:
            st.warn(f"{_listed(unused)} without a refiner")
    if not used.freeu_enabled:
        unused = st.overridden([f"freeu_{k}" for k in FREEU_KEYS])
        if unused:
            st.warn(f"{_listed(unused)} while freeu_enabled is false")
    if not used.save_metadata_to_images and st.overridden(["metadata_scheme"]):
        st.warn("metadata_scheme has no effect while save_metadata_to_images is false")
    plan = plan_input(used, inputs or {}, st.snap, mode, steps, st.warn, catalog.runs_image_input, base.architecture,
                      base.inpainting)
    if plan is None and (unused := [f for f in st.overridden(list(INPUT_IMAGE_KNOBS)) if f != "uov_method"]):
        st.warn(f"{_listed(unused)} without an input image")
    if plan is not None:
        unused = st.overridden(["aspect_ratios_selection"])
        unused += [f for f in ("overwrite_width", "overwrite_height") if (getattr(req, f) or 0) > 0]
        if unused:
            st.warn(f"{_listed(unused)} with {plan.use.method}: the input image decides the size")
        width, height, steps = plan.width, plan.height, plan.steps
        if plan.prompt_first_line.strip():  # Fooocus puts the additional inpaint prompt on the first line
            lines = [plan.prompt_first_line, *(ln for ln in lines if ln)]
    prompts = plan_prompts(used, inputs or {}, st.snap, st.warn, catalog.runs_image_input, base.architecture)
    if unused := idle_knobs(prompts, st.overridden(list(CONTROL_KNOBS))):
        st.warn(f"{_listed(unused)} without an image prompt of a type it acts on")
    hires, keeps_refiner = plan_hires(
        used.hires_fix, width, height, steps, image_input=plan is not None, image_prompts=prompts is not None,
        refiner_asked=st.origin["refiner_model_name"] == "request", refiner=refiner is not None,
        kernel_runs=catalog.runs_image_input(HIRES_KERNEL_NAME), warn=st.warn)
    refiner = refiner if keeps_refiner else None
    schedule, hires = plan_schedule(
        used.prompt_schedule, steps, expansion=expansion, image_input=plan.method if plan else None,
        additional_prompt=bool(plan and plan.prompt_first_line.strip()), image_prompts=prompts is not None,
        hires=hires, hires_asked=used.hires_fix.prompt_schedule if used.hires_fix else None, refiner=refiner,
        swap_method=used.refiner_swap_method.value, base_architecture=base.architecture,
        kernel_runs=catalog.runs_image_input(SCHEDULE_KERNEL_NAME))

    used = msgspec.structs.replace(
        used, style_selections=style_names, aspect_ratios_selection=aspect, image_seed=st.seed(rng),
        variation_seed=_variation_seed(used, rng),
        seed_random=False, base_model_name=base.name, refiner_model_name=refiner.name if refiner else None,
        vae_name=vae.name if vae else None, refiner_switch=float(switch), overwrite_switch=overwrite_switch,
        loras=[LoraEntry(name=m.name, weight=w) for m, w in chosen_loras],
        preset=st.preset.name if st.preset else None)
    return Settled(
        used=used, steps=steps, base=base, refiner=refiner, vae=vae, loras=loras, main_prompt=lines[0],
        extra_prompts=lines[1:], main_negative=negative_lines[0], extra_negatives=negative_lines[1:],
        styles=styles, expansion=expansion, width=width, height=height,
        effective=_record(used, req, refined=refiner is not None, image_input=plan is not None,
                          image_prompts=prompts is not None),
        snapshot=st.snap, image_input=plan, image_prompts=prompts, hires=hires, schedule=schedule)


def _record(used: GenerateRequest, req: GenerateRequest, *, refined: bool, image_input: bool,
            image_prompts: bool) -> GenerateRequest:
    """The job's record of its request: what ran, but a knob that had no effect keeps the client's value."""
    kept = {} if image_input else {f: getattr(req, f) for f in (*INPUT_IMAGE_KNOBS, *IMAGE_FIELDS)}
    if not image_prompts:
        kept.update({f: getattr(req, f) for f in CONTROL_KNOBS})
    if not refined:
        kept.update(refiner_switch=req.refiner_switch, refiner_swap_method=req.refiner_swap_method)
    if not used.freeu_enabled:
        kept.update({f"freeu_{k}": getattr(req, f"freeu_{k}") for k in FREEU_KEYS})
    if not used.save_metadata_to_images:
        kept["metadata_scheme"] = req.metadata_scheme
    return msgspec.structs.replace(used, **kept)


def _force_fast_mode(st: Sources, mode: PerformanceMode, used: GenerateRequest,
                     loras: list[tuple[ModelFile, float]], base: ModelFile) -> GenerateRequest:
    """What Extreme Speed, Lightning and Hyper-SD force: their sampler, LoRA and neutral guidance."""
    for field, forced in FAST_MODE_FORCED.items():
        asked = getattr(st.req, field)
        if st.overridden([field]) and asked != forced and field != "refiner_switch":
            st.warn(f"{mode.name} sets {field} to {forced:g} (the request asked for {asked:g})")
    for needed, offered, label in ((mode.sampler, st.catalog.samplers, "sampler"),
                                   (mode.scheduler, st.catalog.schedulers, "scheduler")):
        if needed not in offered:
            raise NormalizeError("performance_selection",
                                 f"{mode.name} needs the {label} {needed}, which the kernel does not run")
    lora = st.snap.models[ModelKind.loras].get(mode.lora) or st.snap.lora_for_tag(mode.lora.rsplit(".", 1)[0])
    if lora is None:
        where = ", ".join(st.snap.folders[ModelKind.loras]) or "catalog/models/loras"
        raise NormalizeError("performance_selection",
                             f"{mode.name} needs the LoRA file {mode.lora}: add it to {where}")
    lora = st.catalog.described(lora)
    if why := lora_fits(base, lora):
        raise NormalizeError("performance_selection", f"{mode.name} runs on SDXL checkpoints only: {why}")
    for i in reversed(range(len(loras))):
        if loras[i][0].name == lora.name:
            st.warn(f"{lora.name} is added by {mode.name} at weight {mode.lora_weight:g}; the other entry is dropped")
            del loras[i]
    loras.append((lora, mode.lora_weight))
    return msgspec.structs.replace(used, **FAST_MODE_FORCED)


def _variation_seed(used: GenerateRequest, rng: random.Random) -> int:
    """The first image's variation seed: as given, or drawn when -1 and a strength is set (-1 otherwise)."""
    seed = used.variation_seed if used.variation_seed is not None else -1
    if seed < 0 and (used.variation_strength or 0) > 0:
        return rng.randint(0, MAX_SEED)
    return seed
