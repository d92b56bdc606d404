"""Settling every knob of a request into one Settled record the per-image step reads.

Each value is request > preset > built-in default (see sources.py); the performance mode then forces
its sampler, scheduler, LoRA and neutral guidance, and the `overwrite_*` fields have the last word.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import msgspec

from contract.request import GenerateRequest, LoraEntry, MetadataScheme, Performance
from contract.task import FreeU, OutputFormat, RefinerSwapMethod
from orchestrator.catalog import Catalog, CatalogSnapshot, ModelFile, ModelKind, Style
from orchestrator.catalog.tables import FAST_MODE_FORCED, PERFORMANCE, PerformanceMode
from orchestrator.normalize.architecture import ADM_NEUTRAL, lora_fits, neutralize_sdxl_only, refiner_fits
from orchestrator.normalize.errors import NormalizeError
from orchestrator.normalize.prompts import extract_lora_tags, split_lines, tidy_commas
from orchestrator.normalize.sources import Sources


@dataclass
class Settled:
    """Everything a job's images share, fully resolved. `styles` holds None for each Random Style slot."""

    performance: Performance
    steps: int
    base: ModelFile
    refiner: ModelFile | None
    vae: ModelFile | None
    loras: list[tuple[ModelFile, float]]
    main_prompt: str
    extra_prompts: list[str]
    main_negative: str
    extra_negatives: list[str]
    styles: list[Style | None]
    expansion: bool
    width: int
    height: int
    sampler: str
    scheduler: str
    guidance_scale: float
    sharpness: float
    adaptive_cfg: float
    adm: tuple[float, float, float]
    clip_skip: int
    refiner_switch: float
    overwrite_switch: float | None
    refiner_swap_method: RefinerSwapMethod
    freeu: FreeU
    output_format: OutputFormat
    image_number: int
    seed: int
    disable_seed_increment: bool
    read_wildcards_in_order: bool
    save_metadata: bool
    metadata_scheme: MetadataScheme
    preview: bool
    effective: GenerateRequest
    snapshot: CatalogSnapshot  # the one catalog view the whole job was read from


FREEU_KEYS = ("b1", "b2", "s1", "s2")


def _switch_step(st: Sources) -> int | None:
    """Fooocus's `default_overwrite_switch` (a step number) of the first preset layer that has one."""
    return next((p.overwrite_switch_step for p in st.layers if p.overwrite_switch_step), None)


def _listed(fields: list[str]) -> str:
    return f"{fields[0]} has no effect" if len(fields) == 1 else f"{', '.join(fields)} have no effect"


def _prompts(settler: Sources) -> tuple[str, list[str], list[tuple[str, float]], str, list[str]]:
    """(prompt text, its lines without LoRA tags, the tags, negative text, its lines); line 0 is the main one."""
    prompt, _ = settler.pick("prompt")
    lines, tags = [], []
    for j, line in enumerate(split_lines(prompt)):
        line, found = extract_lora_tags(line)
        tags += found
        line = tidy_commas(line) if j == 0 else line
        if line or j == 0:
            lines.append(line)
    negative, _ = settler.pick("negative_prompt")
    return prompt, lines or [""], tags, negative, split_lines(negative) or [""]


def settle(request: GenerateRequest, catalog: Catalog, *, default_preset: str, rng: random.Random,
           warnings: list[str]) -> Settled:
    st = Sources(request, catalog, default_preset, warnings)
    req = request
    performance = Performance(st.pick("performance_selection")[0])
    mode = PERFORMANCE[performance]
    steps = mode.steps
    overwrite_step, _ = st.pick("overwrite_step")
    if overwrite_step is not None and overwrite_step > 0:
        steps = overwrite_step

    base = st.base_model()
    refiner = st.optional_model("refiner_model_name", ModelKind.checkpoints)
    if refiner is not None and refiner.name == base.name:
        st.warn("refiner is the base model; refiner not used")
        refiner = None
    if refiner is not None and (why := refiner_fits(base, refiner)):
        st.fail(st.pick("refiner_model_name")[1], "refiner_model_name", why, then="no refiner used")
        refiner = None
    vae = st.optional_model("vae_name", ModelKind.vae)
    chosen_loras = st.loras(base)
    loras = list(chosen_loras)
    prompt, lines, tags, negative, negative_lines = _prompts(st)
    st.inline_loras(tags, loras, base)
    styles, expansion, style_names = st.styles()
    width, height, aspect = st.size()

    values = {f: st.pick(f)[0] for f in FAST_MODE_FORCED}
    sampler = scheduler = None
    if mode.fast:
        sampler, scheduler = mode.sampler, mode.scheduler
        _force_fast_mode(st, mode, values, loras, base)
        if refiner is not None:
            st.warn(f"refiner {refiner.name} not used: {mode.name} runs without a refiner")
            refiner = None
        for field, forced in (("sampler_name", sampler), ("scheduler_name", scheduler)):
            asked = getattr(req, field)
            if st.overridden([field]) and asked != forced:
                st.warn(f"{mode.name} sets {field} to {forced} (the request asked for {asked})")
    else:
        sampler = st.kernel_choice("sampler_name", catalog.samplers, "sampler")
        scheduler = st.kernel_choice("scheduler_name", catalog.schedulers, "scheduler")
    neutralize_sdxl_only(base, values, st.overridden(list(ADM_NEUTRAL)), st.warn)

    switch = values["refiner_switch"]
    overwrite_switch, origin = st.pick("overwrite_switch")
    if overwrite_switch is not None and 0 < overwrite_switch < 0.1:
        st.fail(origin, "overwrite_switch", "must be within 0.1…1.0, or -1 for off", then="not applied")
        overwrite_switch = None
    if overwrite_switch is not None and overwrite_switch > 0 and not mode.fast:
        switch = overwrite_switch
    elif req.overwrite_switch is None and not mode.fast and (step := _switch_step(st)):
        switch = min(1.0, max(0.1, step / steps))
    swap_method = RefinerSwapMethod(st.pick("refiner_swap_method")[0])
    if refiner is None:
        unused = st.overridden(["refiner_switch", "refiner_swap_method"])
        unused += ["overwrite_switch"] if overwrite_switch is not None and overwrite_switch > 0 else []
        if unused:
            st.warn(f"{_listed(unused)} without a refiner")

    freeu_on, _ = st.pick("freeu_enabled")
    freeu = FreeU(enabled=bool(freeu_on), **{k: float(st.pick(f"freeu_{k}")[0]) for k in FREEU_KEYS})
    if not freeu_on:
        unused = st.overridden([f"freeu_{k}" for k in FREEU_KEYS])
        if unused:
            st.warn(f"{_listed(unused)} while freeu_enabled is false")
    save_metadata, _ = st.pick("save_metadata_to_images")
    scheme = MetadataScheme(st.pick("metadata_scheme")[0])
    if not save_metadata and st.overridden(["metadata_scheme"]):
        st.warn("metadata_scheme has no effect while save_metadata_to_images is false")
    image_number, _ = st.pick("image_number")
    seed = st.seed(rng)
    no_increment, _ = st.pick("disable_seed_increment")
    in_order, _ = st.pick("read_wildcards_in_order")
    disable_preview, _ = st.pick("disable_preview")
    output_format = OutputFormat(st.pick("output_format")[0])
    clip_skip, _ = st.pick("clip_skip")

    # What was used, so the job record reproduces it. Knobs that had no effect keep the client's value.
    refined = refiner is not None
    freeu_values = {f"freeu_{k}": getattr(freeu, k) if freeu.enabled else getattr(req, f"freeu_{k}")
                    for k in FREEU_KEYS}
    effective = msgspec.structs.replace(
        req, prompt=prompt, negative_prompt=negative, style_selections=style_names,
        performance_selection=performance, aspect_ratios_selection=aspect, image_number=image_number,
        image_seed=seed, seed_random=False, image_sharpness=values["image_sharpness"],
        guidance_scale=values["guidance_scale"], base_model_name=base.name,
        refiner_model_name=refiner.name if refined else None,
        refiner_switch=switch if refined else req.refiner_switch,
        refiner_swap_method=swap_method if refined else req.refiner_swap_method,
        sampler_name=sampler, scheduler_name=scheduler, vae_name=vae.name if vae else None,
        output_format=output_format, clip_skip=clip_skip,
        loras=[LoraEntry(name=m.name, weight=w) for m, w in chosen_loras],
        adaptive_cfg=values["adaptive_cfg"], adm_scaler_positive=values["adm_scaler_positive"],
        adm_scaler_negative=values["adm_scaler_negative"], adm_scaler_end=values["adm_scaler_end"],
        freeu_enabled=freeu.enabled, **freeu_values,
        overwrite_step=st.pick("overwrite_step")[0], overwrite_switch=overwrite_switch,
        overwrite_width=st.pick("overwrite_width")[0], overwrite_height=st.pick("overwrite_height")[0],
        disable_seed_increment=no_increment, disable_preview=disable_preview, save_metadata_to_images=save_metadata,
        metadata_scheme=scheme if save_metadata else req.metadata_scheme,
        preset=st.preset.name if st.preset else None, read_wildcards_in_order=in_order)

    return Settled(
        performance=performance, steps=steps,
        base=base, refiner=refiner, vae=vae, loras=loras, main_prompt=lines[0], extra_prompts=lines[1:],
        main_negative=negative_lines[0], extra_negatives=negative_lines[1:], styles=styles, expansion=expansion,
        width=width, height=height, sampler=sampler, scheduler=scheduler,
        guidance_scale=float(values["guidance_scale"]), sharpness=float(values["image_sharpness"]),
        adaptive_cfg=float(values["adaptive_cfg"]),
        adm=(float(values["adm_scaler_positive"]), float(values["adm_scaler_negative"]),
             float(values["adm_scaler_end"])),
        clip_skip=clip_skip, refiner_switch=float(switch),
        overwrite_switch=overwrite_switch if overwrite_switch and overwrite_switch > 0 else None,
        refiner_swap_method=swap_method, freeu=freeu, output_format=output_format, image_number=image_number,
        seed=seed, disable_seed_increment=no_increment, read_wildcards_in_order=in_order,
        save_metadata=save_metadata, metadata_scheme=scheme, preview=not disable_preview, effective=effective,
        snapshot=st.snap)


def _force_fast_mode(st: Sources, mode: PerformanceMode, values: dict[str, Any],
                     loras: list[tuple[ModelFile, float]], base: ModelFile) -> None:
    """What Extreme Speed, Lightning and Hyper-SD force: their sampler, LoRA and neutral guidance."""
    for field, forced in FAST_MODE_FORCED.items():
        asked = getattr(st.req, field)
        if st.overridden([field]) and asked != forced and field != "refiner_switch":
            st.warn(f"{mode.name} sets {field} to {forced:g} (the request asked for {asked:g})")
        values[field] = forced
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
