"""Compatibility mode: RemGo's v1 payload `{"fooocus_args_contract_version": 1, "fooocus_args": [152 values]}`.

The positional array (Fooocus 2.5 `AsyncTask` order, see `contract.legacy_slots`) becomes the named v2
`GenerateRequest` the orchestrator normalizes. Every value v1 carries is passed on explicitly, so a preset can
never override what a v1 client said. A feature this version cannot run (input images, enhance, image grid,
NSFW censoring, hidden intermediate results) is refused with a `LegacyError`, never dropped silently; slots that
only matter while such a feature is on are checked for type only, exactly as Fooocus ignores them. Image prompts
run as Fooocus 2.5 runs them: with the input-image box checked, on the "ip" tab or with either mixing box checked,
each slot holding an image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from contract.legacy_slots import ARGS_LENGTH, IMAGE_PROMPT_SLOTS, INDEX, LORA_SLOTS, SLOTS, Kind, Slot
from contract.request import GenerateRequest, LoraEntry

LEGACY_CONTRACT_VERSION = 1
VERSION_KEY = "fooocus_args_contract_version"
ARGS_KEY = "fooocus_args"

# "1152×896", "1152*896", "1152x896"; Fooocus UI labels may trail (" ∣ 9:7", HTML), which are cut off.
_ASPECT = re.compile(r"^\s*(\d+)\s*([×*xX])\s*(\d+)(?=$|\s|<)")
_NUMERIC = re.compile(r"^\s*-?\d+\s*$")

# v1 slot → v2 field, for the slots whose value is passed on unchanged.
_DIRECT: dict[str, str] = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "style_selections": "style_selections",
    "performance_selection": "performance_selection",
    "image_number": "image_number",
    "output_format": "output_format",
    "read_wildcards_in_order": "read_wildcards_in_order",
    "sharpness": "image_sharpness",
    "guidance_scale": "guidance_scale",
    "base_model_name": "base_model_name",
    "refiner_model_name": "refiner_model_name",
    "refiner_switch": "refiner_switch",
    "disable_preview": "disable_preview",
    "disable_seed_increment": "disable_seed_increment",
    "adm_scaler_positive": "adm_scaler_positive",
    "adm_scaler_negative": "adm_scaler_negative",
    "adm_scaler_end": "adm_scaler_end",
    "adaptive_cfg": "adaptive_cfg",
    "clip_skip": "clip_skip",
    "sampler_name": "sampler_name",
    "scheduler_name": "scheduler_name",
    "vae_name": "vae_name",
    "refiner_swap_method": "refiner_swap_method",
    "freeu_enabled": "freeu_enabled",
    "freeu_b1": "freeu_b1",
    "freeu_b2": "freeu_b2",
    "freeu_s1": "freeu_s1",
    "freeu_s2": "freeu_s2",
    "save_metadata_to_images": "save_metadata_to_images",
    "metadata_scheme": "metadata_scheme",
}
# Fooocus treats these as off unless > 0; v1 clients send -1.
_OVERWRITES = ("overwrite_step", "overwrite_switch", "overwrite_width", "overwrite_height")
# Inpaint knobs carried as they are while Fooocus would inpaint (same names in v1 and v2).
_INPAINT_KNOBS = ("inpaint_strength", "inpaint_respective_field", "inpaint_erode_or_dilate", "invert_mask_checkbox",
                  "inpaint_disable_initial_latent", "inpaint_engine")
_INPUT_SLOTS = ("uov_method", "uov_input_image", "overwrite_vary_strength", "overwrite_upscale_strength",
                "inpaint_input_image", "inpaint_additional_prompt", "outpaint_selections", *_INPAINT_KNOBS)
# The image prompts' shared knobs (same names in v1 and v2), carried while image prompts run.
_CONTROL_KNOBS = ("controlnet_softness", "canny_low_threshold", "canny_high_threshold", "skipping_cn_preprocessor",
                  "debugging_cn_preprocessor")
# An image prompt's v2 field → its v1 slot's suffix (`image_prompt_{k}_<suffix>`).
_PROMPT_PARTS = {"image": "image", "stop": "stop_at", "weight": "weight", "type": "type"}
_V2_TO_SLOT: dict[str, str] = (
    {v2: v1 for v1, v2 in _DIRECT.items()}
    | {
        "image_seed": "seed",
        "aspect_ratios_selection": "aspect_ratios_selection",
        "inpaint_mask_image": "inpaint_input_image",
    }
    | {name: name for name in _OVERWRITES}
    | {name: name for name in _INPUT_SLOTS}
    | {name: name for name in _CONTROL_KNOBS}
)
_ERROR_PATH = re.compile(r"at `\$\.(\w+)(?:\[(\d+)\])?(?:\.(\w+)|\[(\d+)\])?`")


class LegacyError(ValueError):
    """A v1 payload that cannot be converted. `index` is the slot (None for the envelope), `field` its name."""

    def __init__(self, index: int | None, field: str, message: str) -> None:
        self.index = index
        self.field = field
        self.message = message
        where = f"{ARGS_KEY}[{index}] ({field})" if index is not None else field
        super().__init__(f"{where}: {message}")

    @property
    def path(self) -> str:
        """JSON path of the offending value in the payload, e.g. `$.fooocus_args[8]`."""
        return f"$.{ARGS_KEY}[{self.index}]" if self.index is not None else f"$.{self.field}"


def is_legacy_payload(payload: object) -> bool:
    """True for a decoded body that is meant as a v1 payload (it names one of the two v1 keys)."""
    return isinstance(payload, Mapping) and (ARGS_KEY in payload or VERSION_KEY in payload)


def from_legacy(payload: Mapping[str, Any] | bytes | str) -> GenerateRequest:
    """The v1 envelope (decoded, or as JSON text) → the v2 request. Raises LegacyError."""
    if isinstance(payload, (bytes, str)):
        try:
            payload = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise LegacyError(None, ARGS_KEY, f"not valid JSON: {exc}") from None
    if not isinstance(payload, Mapping):
        raise LegacyError(None, ARGS_KEY, "a v1 payload must be a JSON object")
    unknown = sorted(set(payload) - {VERSION_KEY, ARGS_KEY})
    if unknown:
        raise LegacyError(
            None, unknown[0], f"unknown key in a v1 payload (allowed: {VERSION_KEY}, {ARGS_KEY})"
        )
    version = payload.get(VERSION_KEY)
    if version != LEGACY_CONTRACT_VERSION or isinstance(version, bool):
        raise LegacyError(None, VERSION_KEY, f"must be {LEGACY_CONTRACT_VERSION}, got {version!r}")
    if ARGS_KEY not in payload:
        raise LegacyError(None, ARGS_KEY, "missing")
    return args_to_request(payload[ARGS_KEY])


def args_to_request(args: object) -> GenerateRequest:
    """The 152 positional values → the v2 request. Raises LegacyError naming the slot at fault."""
    if not isinstance(args, Sequence) or isinstance(args, (str, bytes)):
        raise LegacyError(None, ARGS_KEY, f"must be a list of {ARGS_LENGTH} values")
    if len(args) != ARGS_LENGTH:
        raise LegacyError(None, ARGS_KEY, f"must hold exactly {ARGS_LENGTH} values, got {len(args)}")
    values = [_checked(slot, args[slot.index]) for slot in SLOTS]
    _refuse_unsupported(values)
    fields, lora_slots = _v2_fields(values)
    prompt_slots = _prompt_fields(values, fields)
    try:
        return msgspec.convert(fields, GenerateRequest)
    except msgspec.ValidationError as exc:
        raise _slot_error(exc, lora_slots, prompt_slots) from None


def _v(values: list[Any], name: str) -> Any:
    return values[INDEX[name]]


def _checked(slot: Slot, value: Any) -> Any:
    """The slot's value if it has the slot's kind (seeds and aspect ratios come back normalized)."""
    ok: bool
    kind = slot.kind
    if kind is Kind.bool:
        ok = isinstance(value, bool)
    elif kind is Kind.str:
        ok = isinstance(value, str)
    elif kind is Kind.str_list:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif kind is Kind.number:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is Kind.int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is Kind.seed:
        if isinstance(value, str) and _NUMERIC.match(value):
            return int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is Kind.aspect:
        match = _ASPECT.match(value) if isinstance(value, str) else None
        if match:
            return value[match.start(1) : match.end(3)]
        ok = False
    else:  # Kind.image
        ok = value is None or isinstance(value, (str, dict))
    if not ok:
        raise LegacyError(slot.index, slot.name, f"must be {kind.value}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _refuse_unsupported(values: list[Any]) -> None:
    """Refuse every v1 feature that Fooocus would actually run here and remgo cannot yet."""

    def refuse(name: str, what: str) -> LegacyError:
        return LegacyError(INDEX[name], name, f"{what} is not supported in this version; send false")

    if _v(values, "generate_image_grid") and _v(values, "image_number") > 1:
        # Fooocus only builds the grid (a gallery composite) when a batch has two images or more.
        raise refuse("generate_image_grid", "a grid image of the batch")
    if _v(values, "black_out_nsfw"):
        raise refuse("black_out_nsfw", "NSFW censoring")
    if _v(values, "disable_intermediate_results"):
        raise refuse("disable_intermediate_results", "holding back finished images until the batch ends")
    if _v(values, "enhance_checkbox"):
        raise refuse("enhance_checkbox", "enhance (detect, mask and re-inpaint regions)")
    if _v(values, "input_image_checkbox"):
        tab = _v(values, "current_tab")
        if tab == "enhance" and _v(values, "enhance_input_image") is not None:
            raise refuse("input_image_checkbox", "input image (enhance of enhance_input_image)")
        if _inpaint_runs(values) and _v(values, "debugging_inpaint_preprocessor"):
            raise refuse("debugging_inpaint_preprocessor", "showing the inpaint preprocessing instead of an image")


def _uov_runs(values: list[Any]) -> bool:
    """Fooocus 2.5 runs Vary / Upscale for this tab and image (a checked box with nothing to run runs nothing,
    and RemGo's own client sends exactly that: `true` with tab "disabled")."""
    tab = _v(values, "current_tab")
    return (
        _v(values, "input_image_checkbox")
        and (tab == "uov" or (tab == "ip" and _v(values, "mixing_image_prompt_and_vary_upscale")))
        and _v(values, "uov_method").casefold() != "disabled"
        and _v(values, "uov_input_image") is not None
    )


def _inpaint_runs(values: list[Any]) -> bool:
    tab = _v(values, "current_tab")
    return (
        _v(values, "input_image_checkbox")
        and (tab == "inpaint" or (tab == "ip" and _v(values, "mixing_image_prompt_and_inpaint")))
        and _v(values, "inpaint_input_image") is not None
    )


def _prompts_run(values: list[Any]) -> bool:
    """Fooocus 2.5 runs its image prompts ("cn" goal) for this tab: on "ip", or with either mixing box checked."""
    return _v(values, "input_image_checkbox") and (
        _v(values, "current_tab") == "ip" or _v(values, "mixing_image_prompt_and_vary_upscale")
        or _v(values, "mixing_image_prompt_and_inpaint"))


def _prompt_fields(values: list[Any], fields: dict[str, Any]) -> list[int]:
    """The image prompts (each slot holding an image, in slot order) and their knobs into `fields` while Fooocus
    would run them; returns each prompt's slot number (1…4)."""
    if not _prompts_run(values):
        return []
    slots = [k for k in range(1, IMAGE_PROMPT_SLOTS + 1) if _v(values, f"image_prompt_{k}_image") is not None]
    if not slots:
        return []
    fields["image_prompts"] = [
        {"image": _image_part(_v(values, f"image_prompt_{k}_image"), "image"),
         "stop": _v(values, f"image_prompt_{k}_stop_at"), "weight": _v(values, f"image_prompt_{k}_weight"),
         "type": _v(values, f"image_prompt_{k}_type")} for k in slots]
    fields.update({name: _v(values, name) for name in _CONTROL_KNOBS})
    return slots


def _image_part(value: Any, key: str) -> Any:
    """An image slot holds a base64 / data-URI string, or Gradio's {"image": …, "mask": …} as JSON carries it."""
    return value.get(key) if isinstance(value, Mapping) else (value if key == "image" else None)


def _input_fields(values: list[Any]) -> dict[str, Any]:
    """The input-image fields of the one feature Fooocus 2.5 would run (Vary/Upscale first, as it does)."""
    if _uov_runs(values) and _inpaint_runs(values):
        raise LegacyError(INDEX["mixing_image_prompt_and_inpaint"], "mixing_image_prompt_and_inpaint",
                          "Vary/Upscale and Inpaint in one job: send them as two jobs")
    if _uov_runs(values):
        fields = {"uov_method": _v(values, "uov_method"),
                  "uov_input_image": _image_part(_v(values, "uov_input_image"), "image")}
        for name in ("overwrite_vary_strength", "overwrite_upscale_strength"):
            value = _v(values, name)
            fields[name] = None if value <= 0 else value  # Fooocus's -1 (and 0): the method's own strength
        return fields
    if not _inpaint_runs(values):
        return {}
    slot = _v(values, "inpaint_input_image")
    painted = _image_part(slot, "mask")
    uploaded = _image_part(_v(values, "inpaint_mask_image_upload"), "image") \
        if _v(values, "inpaint_advanced_masking_checkbox") else None
    if painted is not None and uploaded is not None:
        # Fooocus takes the brighter of the two per pixel; remgo takes one mask as given.
        raise LegacyError(INDEX["inpaint_mask_image_upload"], "inpaint_mask_image_upload",
                          "both a painted mask and an uploaded mask: merge them into one mask and send that")
    return {
        "inpaint_input_image": _image_part(slot, "image"),
        "inpaint_mask_image": painted if painted is not None else uploaded,
        "inpaint_additional_prompt": _v(values, "inpaint_additional_prompt"),
        "outpaint_selections": [s.capitalize() for s in _v(values, "outpaint_selections")],
        **{name: _v(values, name) for name in _INPAINT_KNOBS},
    }


def _v2_fields(values: list[Any]) -> tuple[dict[str, Any], list[int]]:
    """The v2 fields as plain data (msgspec.convert then enforces every constraint) and the v1 slot of each LoRA."""
    fields: dict[str, Any] = {v2: _v(values, v1) for v1, v2 in _DIRECT.items()}
    fields["aspect_ratios_selection"] = _v(values, "aspect_ratios_selection")
    fields["image_seed"] = _v(values, "seed")
    for name in _OVERWRITES:
        value = _v(values, name)
        fields[name] = None if value in (-1, 0) else value
    loras, lora_slots = [], []
    for k in range(1, LORA_SLOTS + 1):
        enabled, name, weight = (_v(values, f"lora_{k}_{part}") for part in ("enabled", "name", "weight"))
        # Fooocus keeps a LoRA only when it is enabled and named; "None" is its empty choice.
        if enabled and name != "None":
            loras.append({"name": name, "weight": weight})
            lora_slots.append(INDEX[f"lora_{k}_enabled"])
    fields["loras"] = loras
    fields.update(_input_fields(values))
    return fields, lora_slots


def _slot_error(exc: msgspec.ValidationError, lora_slots: list[int], prompt_slots: list[int]) -> LegacyError:
    """Map msgspec's `... - at $.field` message back to the v1 slot."""
    text = str(exc)
    message = text.split(" - at ")[0]
    match = _ERROR_PATH.search(text)
    if match:
        field, item, part = match.group(1), match.group(2), match.group(3)
        if field == "loras" and item is not None:
            index = lora_slots[int(item)] + (2 if part == "weight" else 1)
            return LegacyError(index, SLOTS[index].name, message)
        if field == "image_prompts" and item is not None and part in _PROMPT_PARTS:
            name = f"image_prompt_{prompt_slots[int(item)]}_{_PROMPT_PARTS[part]}"
            return LegacyError(INDEX[name], name, message)
        name = _V2_TO_SLOT.get(field)
        if name is not None:
            return LegacyError(INDEX[name], name, message)
    return LegacyError(None, ARGS_KEY, text)


def to_legacy(request: GenerateRequest) -> list[Any]:
    """The v2 request as 152 v1 values; what it leaves unset takes Fooocus 2.5's default-preset value."""
    if request.preset is not None:
        raise LegacyError(None, "preset", "a v1 payload cannot name a preset")
    values = [slot.default for slot in SLOTS]

    def put(name: str, value: Any) -> None:
        if value is not None:
            values[INDEX[name]] = value.value if hasattr(value, "value") else value

    for v1, v2 in _DIRECT.items():
        put(v1, getattr(request, v2))
    put("aspect_ratios_selection", request.aspect_ratios_selection)
    put("seed", -1 if request.seed_random else request.image_seed)
    for name in _OVERWRITES:
        put(name, getattr(request, name))
    _put_input(request, put)
    _put_prompts(request, put)
    if request.loras is not None:
        if len(request.loras) > LORA_SLOTS:
            raise LegacyError(None, "loras", f"a v1 payload carries at most {LORA_SLOTS} LoRAs")
        for k in range(1, LORA_SLOTS + 1):
            item = request.loras[k - 1] if k <= len(request.loras) else LoraEntry(name="None", enabled=False)
            enabled, name, weight = (
                (item.enabled, item.name, item.weight) if isinstance(item, LoraEntry) else tuple(item)
            )
            put(f"lora_{k}_enabled", enabled)
            put(f"lora_{k}_name", name)
            put(f"lora_{k}_weight", weight)
    return values


def _put_input(request: GenerateRequest, put: Any) -> None:
    """The input-image fields in v1's slots (images only as inline strings: v1 has no references)."""
    for name in ("uov_input_image", "inpaint_input_image", "inpaint_mask_image"):
        if getattr(request, name) is not None and not isinstance(getattr(request, name), str):
            raise LegacyError(None, name, "a v1 payload carries images inline (base64 or a data URI), not by id")
    if request.uov_input_image is not None:
        put("input_image_checkbox", True)
        put("current_tab", "uov")
        for name in ("uov_method", "uov_input_image", "overwrite_vary_strength", "overwrite_upscale_strength"):
            put(name, getattr(request, name))
    elif request.inpaint_input_image is not None:
        put("input_image_checkbox", True)
        put("current_tab", "inpaint")
        put("inpaint_input_image", {"image": request.inpaint_input_image, "mask": request.inpaint_mask_image})
        put("inpaint_additional_prompt", request.inpaint_additional_prompt)
        if request.outpaint_selections is not None:
            put("outpaint_selections", [d.value for d in request.outpaint_selections])
        for name in _INPAINT_KNOBS:
            put(name, getattr(request, name))


def _put_prompts(request: GenerateRequest, put: Any) -> None:
    """The image prompts in v1's slots: the "ip" tab, or the input image's tab with its mixing box checked."""
    prompts = request.image_prompts or []
    if not prompts:
        return
    if len(prompts) > IMAGE_PROMPT_SLOTS:
        raise LegacyError(None, "image_prompts", f"a v1 payload carries at most {IMAGE_PROMPT_SLOTS} image prompts")
    if any(not isinstance(p.image, str) for p in prompts):
        raise LegacyError(None, "image_prompts", "a v1 payload carries images inline (base64 or a data URI), not by id")
    put("input_image_checkbox", True)
    if request.uov_input_image is not None:
        put("mixing_image_prompt_and_vary_upscale", True)
    elif request.inpaint_input_image is not None:
        put("mixing_image_prompt_and_inpaint", True)
    else:
        put("current_tab", "ip")
    for k, prompt in enumerate(prompts, start=1):
        put(f"image_prompt_{k}_image", prompt.image)
        put(f"image_prompt_{k}_stop_at", 0.0 if prompt.stop is None else prompt.stop)  # 0: the type's default
        put(f"image_prompt_{k}_weight", 0.0 if prompt.weight is None else prompt.weight)
        put(f"image_prompt_{k}_type", prompt.type)
    for name in _CONTROL_KNOBS:
        put(name, getattr(request, name))


def to_legacy_payload(request: GenerateRequest) -> dict[str, Any]:
    return {VERSION_KEY: LEGACY_CONTRACT_VERSION, ARGS_KEY: to_legacy(request)}


__all__ = [
    "ARGS_KEY",
    "ARGS_LENGTH",
    "LEGACY_CONTRACT_VERSION",
    "SLOTS",
    "VERSION_KEY",
    "LegacyError",
    "args_to_request",
    "from_legacy",
    "is_legacy_payload",
    "to_legacy",
    "to_legacy_payload",
]
