"""The `a1111` metadata scheme: the plain-text layout AUTOMATIC1111 and Civitai read, as Fooocus 2.5 writes it.

    <prompt chunks joined by ", ">
    Negative prompt: <negative chunks joined by ", ">
    Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 1, Size: 1152x896, CFG scale: 4.0, …

Values holding a comma, a colon or a newline are written as JSON strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from orchestrator.common.image_params import ImageParams, LoraUse
from orchestrator.store.metadata import hires_fields, input_fields, prompt_fields
from orchestrator.store.metadata.fooocus import (
    DEFAULT_ADAPTIVE_CFG,
    DEFAULT_SWAP_METHOD,
    DEFAULT_VAE,
    STEPS_BY_PERFORMANCE,
    as_float,
    as_int,
    float_tuple,
    none_if,
    stem,
)

# Fooocus sampler → the A1111/Civitai label Fooocus writes; "" = no counterpart, the Fooocus name is written.
SAMPLER_LABELS: dict[str, str] = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "heunpp2": "",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "",
    "dpmpp_3m_sde_gpu": "",
    "ddpm": "",
    "lcm": "LCM",
    "tcd": "TCD",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "",
    "plms": "PLMS",
}
# Reading back, a label shared by two samplers means the `_gpu` one: Fooocus's default sampler is one of them.
SAMPLER_BY_LABEL: dict[str, str] = {}
for _name, _label in SAMPLER_LABELS.items():
    if _label and (_label not in SAMPLER_BY_LABEL or _name.endswith("_gpu")):
        SAMPLER_BY_LABEL[_label] = _name

# A1111's DDIM on its own timesteps (`a1111_ddim`) runs as `ddim` at eta 0 and as `euler_ancestral` at eta 1; both
# are written `Sampler: DDIM`, and a non-default eta (A1111's is 0) as A1111 writes it, `Eta DDIM: 1.0`.
DDIM_SCHEDULE = "a1111_ddim"
DDIM_BY_ETA = {0.0: "ddim", 1.0: "euler_ancestral"}
DDIM_ETA_KEY = "Eta DDIM"
KARRAS_SUFFIX = " Karras"
NEGATIVE_PREFIX = "Negative prompt:"
# Fooocus's performance per step count, to name the performance of texts that carry only `Steps`.
PERFORMANCE_BY_STEPS = {steps: name for name, steps in reversed(STEPS_BY_PERFORMANCE.items())}
# Not carried by this scheme; the value a reader assumes.
DEFAULT_REFINER_SWITCH = 0.8
_OPTIONAL = (
    ("adaptive_cfg", "Adaptive CFG"),
    ("overwrite_switch", "Overwrite Switch"),
    ("refiner_swap_method", "Refiner Swap Method"),
    ("freeu", "FreeU"),
    ("tiling", "Tiling"),  # A1111's `Tiling: True`, written only when on
)
# `Key: value` pairs of the last line; a value is a JSON string or runs to the next comma.
_PAIR = re.compile(r'\s*(\w[\w /-]*):\s*("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def quote(value: Any) -> str:
    text = str(value)
    if "," in text or ":" in text or "\n" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            found = json.loads(text)
        except ValueError:
            return text
        return found if isinstance(found, str) else text
    return text


def sampler_label(sampler: str, scheduler: str) -> str:
    if scheduler == DDIM_SCHEDULE and sampler in DDIM_BY_ETA.values():
        return "DDIM"
    label = SAMPLER_LABELS.get(sampler, "")
    if not label:
        return sampler
    # Fooocus checks its no-Karras list against the label rather than the sampler name, so it never matches:
    # every labelled sampler gets the suffix under the karras schedule.
    return label + KARRAS_SUFFIX if scheduler == "karras" else label


def ddim_eta(sampler: str, scheduler: str) -> float | None:
    """`Eta DDIM` for A1111's DDIM run at an eta other than its default 0; None otherwise."""
    if scheduler != DDIM_SCHEDULE:
        return None
    eta = next((e for e, name in DDIM_BY_ETA.items() if name == sampler), None)
    return eta or None


def render(params: ImageParams, fields: dict[str, Any]) -> str:
    """The `parameters` text; `fields` is `metadata.log_fields(params)` (it decides the optional keys)."""
    entries: list[tuple[str, Any]] = [
        ("Steps", params.steps),
        ("Sampler", sampler_label(params.sampler, params.scheduler)),
        (DDIM_ETA_KEY, ddim_eta(params.sampler, params.scheduler)),
        ("Seed", fields["seed"]),
        ("Size", f"{params.width}x{params.height}"),
        ("CFG scale", fields["guidance_scale"]),
        ("Sharpness", fields["sharpness"]),
        ("ADM Guidance", fields["adm_guidance"]),
        ("Model", stem(params.base_model)),
        ("Model hash", params.base_model_hash),  # None (not known yet): left out, like every None
        ("Performance", params.performance),
        ("Scheduler", params.scheduler),
        ("VAE", stem(params.vae or DEFAULT_VAE)),
        ("Variation seed", params.variation[0] if params.variation else None),  # A1111's keys, when on
        ("Variation seed strength", params.variation[1] if params.variation else None),
        # The raw prompts survive multi-line text and style expansion, which the first lines cannot.
        ("Raw prompt", params.prompt),
        ("Raw negative prompt", params.negative_prompt),
    ]
    if params.refiner_model:
        entries += [("Refiner", stem(params.refiner_model)), ("Refiner hash", params.refiner_model_hash)]
    entries += [(label, fields[key]) for key, label in _OPTIONAL if key in fields]
    if params.loras:
        # A hash not known yet is left out, as A1111 does: readers of this scheme expect hex digits.
        if hashed := [lora for lora in params.loras if lora.hash]:
            entries.append(("Lora hashes", ", ".join(f"{stem(lora.name)}: {lora.hash}" for lora in hashed)))
        weights = ", ".join(f"{stem(lora.name)}: {float(lora.weight)}" for lora in params.loras)
        entries.append(("Lora weights", weights))
    entries += input_fields.a1111_entries(params.input)
    entries += prompt_fields.a1111_entries(params.image_prompts)
    entries += hires_fields.a1111_entries(params.hires)
    entries.append(("Version", params.version))
    if params.created_by:
        entries.append(("User", params.created_by))
    line = ", ".join(
        key if key == value else f"{key}: {quote(value)}" for key, value in entries if value is not None
    )
    positive = ", ".join(params.full_prompt) if params.full_prompt else params.prompt
    negative = (
        ", ".join(params.full_negative_prompt) if params.full_negative_prompt else params.negative_prompt
    )
    negative_text = f"\n{NEGATIVE_PREFIX} {negative}" if negative else ""
    return f"{positive}{negative_text}\n{line}".strip()


def parse(text: str) -> ImageParams | None:
    """A1111-style text (from Fooocus, remgo or A1111 itself) → ImageParams; None if it is not such text."""
    *lines, last = text.strip().split("\n")
    pairs = _PAIR.findall(last)
    if len(pairs) < 3:
        return None
    values = {key.strip(): unquote(value.strip()) for key, value in pairs}
    if "Steps" not in values or "Seed" not in values:
        return None
    positive, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].strip()
        (negative if in_negative else positive).append(line)
    try:
        return _params(values, "\n".join(positive), "\n".join(negative))
    except (KeyError, IndexError, TypeError, ValueError, SyntaxError, RecursionError, msgspec.ValidationError):
        return None


def _params(values: dict[str, str], positive: str, negative: str) -> ImageParams:
    size = _SIZE.match(values.get("Size", ""))
    if size is None:
        raise ValueError("Size must be WxH")
    label = values.get("Sampler", "")
    karras = label.endswith(KARRAS_SUFFIX)
    label = label.removesuffix(KARRAS_SUFFIX)
    steps = as_int(values["Steps"])
    scheduler = values.get("Scheduler") or ("karras" if karras else "normal")
    sampler = SAMPLER_BY_LABEL.get(label, label)
    if label == "DDIM" and scheduler == DDIM_SCHEDULE:
        sampler = DDIM_BY_ETA.get(as_float(values.get(DDIM_ETA_KEY, 0.0)), sampler)
    # Fooocus writes Sharpness and never Clip skip, and its default CLIP skip is 2; A1111's is 1.
    from_fooocus = "Sharpness" in values
    freeu = values.get("FreeU")
    overwrite = values.get("Overwrite Switch")
    hires, (width, height) = hires_fields.from_a1111(values, (int(size.group(1)), int(size.group(2))))
    return ImageParams(
        prompt=values.get("Raw prompt", positive),
        negative_prompt=values.get("Raw negative prompt", negative),
        styles=[],
        performance=values.get("Performance") or PERFORMANCE_BY_STEPS.get(steps, ""),
        steps=steps,
        width=width,
        height=height,
        guidance_scale=as_float(values["CFG scale"]),
        sharpness=as_float(values.get("Sharpness", 0.0)),
        adm_guidance=float_tuple(values.get("ADM Guidance", "(1.0, 1.0, 0.0)"), 3),
        base_model=values.get("Model", ""),
        base_model_hash=values.get("Model hash"),
        refiner_model=values.get("Refiner"),
        refiner_model_hash=values.get("Refiner hash"),
        refiner_switch=DEFAULT_REFINER_SWITCH,
        refiner_swap_method=values.get("Refiner Swap Method", DEFAULT_SWAP_METHOD),
        overwrite_switch=None if overwrite is None else as_float(overwrite),
        sampler=sampler,
        scheduler=scheduler,
        seed=as_int(values["Seed"]),
        clip_skip=as_int(values.get("Clip skip", 2 if from_fooocus else 1)),
        adaptive_cfg=as_float(values.get("Adaptive CFG", DEFAULT_ADAPTIVE_CFG)),
        vae=none_if(values.get("VAE", DEFAULT_VAE), DEFAULT_VAE, ""),
        loras=_loras(values.get("Lora weights", ""), values.get("Lora hashes", "")),
        full_prompt=[positive] if positive else [],
        full_negative_prompt=[negative] if negative else [],
        freeu=None if freeu is None else float_tuple(freeu, 4),
        metadata_scheme="a1111",
        version=values.get("Version", ""),
        created_by=values.get("User"),
        input=input_fields.from_a1111(values),
        image_prompts=prompt_fields.from_a1111(values),
        hires=hires,
        tiling=values.get("Tiling") == "True",
        variation=(as_int(values["Variation seed"]), as_float(values.get("Variation seed strength", 0)))
        if "Variation seed" in values and as_float(values.get("Variation seed strength", 0)) else None,
    )


def _loras(weights: str, hashes: str) -> list[LoraUse]:
    """`name: weight, …` plus `name: hash, …`; older Fooocus wrote `name: hash: weight` in the hashes alone."""
    hash_of: dict[str, str] = {}
    weight_of: dict[str, float] = {}
    for item in filter(None, hashes.split(", ")):
        parts = item.split(": ")
        hash_of[parts[0]] = parts[1]
        if len(parts) == 3:
            weight_of[parts[0]] = float(parts[2])
    if weights:
        pairs = [item.rsplit(": ", 1) for item in weights.split(", ")]
        return [LoraUse(name=name, weight=float(weight), hash=hash_of.get(name)) for name, weight in pairs]
    return [LoraUse(name=name, weight=weight, hash=hash_of.get(name)) for name, weight in weight_of.items()]
