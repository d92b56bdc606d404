"""The metadata text embedded in images, as Fooocus logs per-image parameters (common/image_params.py).

The normalizer fills one ImageParams per image; this module turns it into the embedded text of either
scheme and reads such text back (history import and reconcile). The text is laid out the way Fooocus 2.5
writes it, key for key, so tools that read Fooocus images read remgo's:

- scheme `fooocus`: `parameters` holds a JSON object with sorted keys (model, VAE and LoRA names as file stems);
- scheme `a1111`: `parameters` holds `<prompt>\\nNegative prompt: <neg>\\nSteps: …, Sampler: …, …`;
- `fooocus_scheme` names the scheme in both cases.
"""

from __future__ import annotations

import ast
import json
from pathlib import PurePosixPath
from typing import Any

import msgspec

from orchestrator.common.image_params import ImageParams, LoraUse
from orchestrator.store.metadata import hires_fields, input_fields, prompt_fields

FOOOCUS_EXPANSION = "Fooocus V2"  # the style name that stands for prompt expansion
DEFAULT_VAE = "Default (model)"  # Fooocus's name for "the checkpoint's own VAE"
DEFAULT_ADAPTIVE_CFG = 7.0  # Fooocus logs adaptive_cfg only when it differs from this
DEFAULT_SWAP_METHOD = "joint"  # … and refiner_swap_method only when it differs from this
# A model hash not computed yet when the job was made (hashing runs in the background); read back as None.
UNKNOWN_HASH = "unknown"
# Fooocus's step count per performance (texts that omit `steps` meant these).
STEPS_BY_PERFORMANCE = {"Quality": 60, "Speed": 30, "Extreme Speed": 8, "Lightning": 4, "Hyper-SD": 4}
# Fooocus 2.1 logged display labels instead of keys; read them as the keys they became.
_LABEL_KEYS = {
    "Prompt": "prompt",
    "Negative Prompt": "negative_prompt",
    "Fooocus V2 Expansion": "prompt_expansion",
    "Styles": "styles",
    "Performance": "performance",
    "Steps": "steps",
    "Resolution": "resolution",
    "Sharpness": "sharpness",
    "Guidance Scale": "guidance_scale",
    "ADM Guidance": "adm_guidance",
    "Base Model": "base_model",
    "Refiner Model": "refiner_model",
    "Refiner Switch": "refiner_switch",
    "Sampler": "sampler",
    "Scheduler": "scheduler",
    "Seed": "seed",
    "Version": "version",
}


# Model file extensions; only these are cut, so a stem read back from metadata stays as it is.
MODEL_SUFFIXES = frozenset({".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".patch", ".gguf", ".sft"})


def stem(name: str) -> str:
    """A catalog name as Fooocus embeds it: the file name without folders and model-file extension."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.stem if path.suffix.lower() in MODEL_SUFFIXES else path.name


def _float_tuple(values: tuple[float, ...]) -> str:
    return str(tuple(float(v) for v in values))


# ----- reading values back (strict: a wrong type raises, and parse() answers None) ----------------


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)


def as_list(value: Any) -> list:
    """A list, or the Python-literal text of one (Fooocus logs `styles` as `str(list)`)."""
    found = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(found, list):
        raise TypeError("expected a list")
    return found


def as_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def float_tuple(value: Any, size: int) -> tuple:
    """`"(1.5, 0.8, 0.3)"` (Fooocus logs tuples as Python text) or a JSON array → floats."""
    found = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(found, (tuple, list)) or len(found) != size:
        raise ValueError(f"expected {size} numbers")
    return tuple(as_float(v) for v in found)


def int_pair(value: Any) -> tuple[int, int]:
    """`"(1152, 896)"`, or `"('1152', '896')"` as Fooocus's own a1111 reader writes it."""
    width, height = float_tuple(value, 2)
    return int(width), int(height)


def none_if(value: str, *empty: str) -> str | None:
    return None if value in empty else value


def log_fields(params: ImageParams) -> dict[str, Any]:
    """The keys and values Fooocus 2.5 logs for one image, in its order (history shows and searches these)."""
    styles = list(params.styles)
    if FOOOCUS_EXPANSION in styles:  # Fooocus logs the expansion first, then the other styles in order
        styles.remove(FOOOCUS_EXPANSION)
        styles.insert(0, FOOOCUS_EXPANSION)
    fields: dict[str, Any] = {
        "prompt": params.prompt,
        "negative_prompt": params.negative_prompt,
        "prompt_expansion": params.prompt_expansion,
        "styles": str(styles),
        "performance": params.performance,
        "steps": params.steps,
        "resolution": str((params.width, params.height)),
        "guidance_scale": float(params.guidance_scale),
        "sharpness": float(params.sharpness),
        "adm_guidance": _float_tuple(params.adm_guidance),
        "base_model": params.base_model,
        "refiner_model": params.refiner_model or "None",
        "refiner_switch": float(params.refiner_switch),
    }
    if params.refiner_model:
        if params.overwrite_switch is not None and params.overwrite_switch > 0:
            fields["overwrite_switch"] = params.overwrite_switch
        if params.refiner_swap_method != DEFAULT_SWAP_METHOD:
            fields["refiner_swap_method"] = params.refiner_swap_method
    if float(params.adaptive_cfg) != DEFAULT_ADAPTIVE_CFG:
        fields["adaptive_cfg"] = float(params.adaptive_cfg)
    if params.clip_skip > 1:
        fields["clip_skip"] = params.clip_skip
    fields["sampler"] = params.sampler
    fields["scheduler"] = params.scheduler
    fields["vae"] = params.vae or DEFAULT_VAE
    fields["seed"] = str(params.seed)
    if params.freeu is not None:
        fields["freeu"] = _float_tuple(params.freeu)
    for i, lora in enumerate(params.loras, start=1):
        fields[f"lora_combined_{i}"] = f"{lora.name} : {float(lora.weight)}"
    fields.update(input_fields.fooocus_fields(params.input))
    fields.update(prompt_fields.fooocus_fields(params.image_prompts))
    fields.update(hires_fields.fooocus_fields(params.hires))
    if params.tiling:  # remgo's key (Fooocus has no seamless tiling); left out when off
        fields["tiling"] = True
    if params.variation is not None:  # remgo's keys (Fooocus has no variation seeds); left out when off
        fields["variation_seed"], fields["variation_strength"] = str(params.variation[0]), params.variation[1]
    if params.unet_timestep != "nearest":  # remgo's key (Fooocus conditions on the nearest); left out then
        fields["unet_timestep"] = params.unet_timestep
    fields["metadata_scheme"] = params.metadata_scheme
    fields["version"] = params.version
    return fields


def fooocus_json(params: ImageParams) -> str:
    """The `fooocus` scheme's `parameters` text: the logged fields plus prompts, stems and hashes, keys sorted."""
    data = log_fields(params)
    data["metadata_scheme"] = "fooocus"
    for i, lora in enumerate(params.loras, start=1):
        data[f"lora_combined_{i}"] = f"{stem(lora.name)} : {float(lora.weight)}"
    data["full_prompt"] = list(params.full_prompt)
    data["full_negative_prompt"] = list(params.full_negative_prompt)
    data["base_model"] = stem(params.base_model)
    data["base_model_hash"] = params.base_model_hash or UNKNOWN_HASH
    if params.refiner_model:
        data["refiner_model"] = stem(params.refiner_model)
        data["refiner_model_hash"] = params.refiner_model_hash or UNKNOWN_HASH
    data["vae"] = stem(params.vae or DEFAULT_VAE)
    data["loras"] = [[stem(lora.name), float(lora.weight), lora.hash or UNKNOWN_HASH]
                     for lora in params.loras]
    if params.created_by:
        data["created_by"] = params.created_by
    return json.dumps(dict(sorted(data.items())))


def parse_json(text: str) -> ImageParams | None:
    """The `parameters` text of the fooocus scheme (a JSON object) → ImageParams; None when unreadable."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return _from_fooocus(data) if isinstance(data, dict) else None


def _from_fooocus(data: dict[str, Any]) -> ImageParams | None:
    data = {_LABEL_KEYS.get(key, key): value for key, value in data.items()}
    for key in [k for k in data if k.startswith("LoRA ")]:
        data[f"lora_combined_{key[5:]}"] = data.pop(key)
    try:
        width, height = int_pair(data["resolution"])
        loras = [
            LoraUse(name=as_str(name), weight=as_float(weight), hash=none_if(as_str(hash_), "", UNKNOWN_HASH))
            for name, weight, hash_ in data.get("loras", [])
        ]
        if not loras:  # older writers carry only the `lora_combined_N` texts
            loras = _loras_from_combined(data)
        freeu = data.get("freeu")
        overwrite = data.get("overwrite_switch")
        return ImageParams(
            prompt=as_str(data["prompt"]),
            negative_prompt=as_str(data.get("negative_prompt", "")),
            styles=[as_str(s) for s in as_list(data.get("styles", "[]"))],
            performance=as_str(data.get("performance", "")),
            steps=as_int(data["steps"] if "steps" in data else STEPS_BY_PERFORMANCE[data["performance"]]),
            width=width,
            height=height,
            guidance_scale=as_float(data["guidance_scale"]),
            sharpness=as_float(data.get("sharpness", 0.0)),
            adm_guidance=float_tuple(data.get("adm_guidance", "(1.0, 1.0, 0.0)"), 3),
            base_model=as_str(data["base_model"]),
            base_model_hash=none_if(as_str(data.get("base_model_hash", "")), "", UNKNOWN_HASH),
            refiner_model=none_if(as_str(data.get("refiner_model", "None")), "None", ""),
            refiner_model_hash=none_if(as_str(data.get("refiner_model_hash", "")), "", UNKNOWN_HASH),
            refiner_switch=as_float(data.get("refiner_switch", 0.8)),
            refiner_swap_method=as_str(data.get("refiner_swap_method", DEFAULT_SWAP_METHOD)),
            overwrite_switch=None if overwrite is None else as_float(overwrite),
            sampler=as_str(data["sampler"]),
            scheduler=as_str(data["scheduler"]),
            seed=as_int(data["seed"]),
            # Fooocus omits clip_skip when it is 1 and adaptive_cfg when it is the default.
            clip_skip=as_int(data.get("clip_skip", 1)),
            adaptive_cfg=as_float(data.get("adaptive_cfg", DEFAULT_ADAPTIVE_CFG)),
            vae=none_if(as_str(data.get("vae", DEFAULT_VAE)), DEFAULT_VAE, ""),
            loras=loras,
            full_prompt=[as_str(p) for p in data.get("full_prompt", [])],
            full_negative_prompt=[as_str(p) for p in data.get("full_negative_prompt", [])],
            prompt_expansion=as_str(data.get("prompt_expansion", "")),
            freeu=None if freeu is None else float_tuple(freeu, 4),
            # Fooocus logs `false` here when it did not embed metadata; the text is still its own scheme.
            metadata_scheme=data.get("metadata_scheme")
            if isinstance(data.get("metadata_scheme"), str)
            else "fooocus",
            version=as_str(data.get("version", "")),
            created_by=data.get("created_by") if isinstance(data.get("created_by"), str) else None,
            input=input_fields.from_fooocus(data),
            image_prompts=prompt_fields.from_fooocus(data),
            hires=hires_fields.from_fooocus(data),
            tiling=as_flag(data.get("tiling", False)),
            unet_timestep=_unet_timestep(data.get("unet_timestep", "nearest")),
            variation=(as_int(data["variation_seed"]), as_float(data["variation_strength"]))
            if "variation_seed" in data else None,
        )
    except (KeyError, IndexError, TypeError, ValueError, SyntaxError, RecursionError, msgspec.ValidationError):
        return None


def _unet_timestep(value: Any) -> str:
    if value not in ("nearest", "interpolated"):
        raise ValueError(f"unet_timestep {value!r}")
    return value


def _loras_from_combined(data: dict[str, Any]) -> list[LoraUse]:
    found = []
    for key in sorted(
        (k for k in data if k.startswith("lora_combined_")), key=lambda k: int(k.rsplit("_", 1)[1])
    ):
        name, weight = str(data[key]).rsplit(" : ", 1)
        found.append(LoraUse(name=name, weight=float(weight)))
    return found
