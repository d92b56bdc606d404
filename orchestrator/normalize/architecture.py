"""Defaults per architecture: what an SD 1.5 checkpoint cannot take is made neutral, or refused.

Fooocus's defaults are SDXL's. Like Fooocus, an SD 1.5 job ignores the SDXL-only knobs (ADM size
conditioning); here they are set to their neutral values and the job's warnings say so. A value the
client chose that the architecture cannot honour is refused naming the field. LoRAs and refiners are
matched to the base by the width of the prompt features their UNet takes (read from each file's
header): an SDXL LoRA on an SD 1.5 checkpoint is an error when the client asked for it, and is left out
with a warning when a preset did. What the header could not tell is left to the worker.
"""

from __future__ import annotations

from typing import Any

from orchestrator.catalog import ModelFile
from orchestrator.normalize.errors import NormalizeError

ADM_NEUTRAL = {"adm_scaler_positive": 1.0, "adm_scaler_negative": 1.0, "adm_scaler_end": 0.0}
_WIDTH_NAMES = {2048: "SDXL", 768: "SD 1.5", 1024: "SD 2.x"}
_ARCH_NAMES = {"sdxl": "SDXL", "sd15": "SD 1.5"}


def _family(width: int, architecture: str | None = None) -> str:
    name = _ARCH_NAMES.get(architecture or "") or _WIDTH_NAMES.get(width)
    return f"{name} ({width}-wide prompt features)" if name else f"a model with {width}-wide prompt features"


def neutralize_sdxl_only(base: ModelFile, values: dict[str, Any], overridden: list[str], warn) -> None:
    """On an SD 1.5 base: the ADM scalers become neutral; ones the client set otherwise are an error."""
    if base.architecture != "sd15":
        return
    for field in overridden:
        if values[field] != ADM_NEUTRAL[field]:
            raise NormalizeError(
                field, f"ADM size conditioning exists only for SDXL; {base.name} is an SD 1.5 checkpoint "
                f"(leave {field} out, or send {ADM_NEUTRAL[field]:g})")
    if any(values[f] != v for f, v in ADM_NEUTRAL.items()):
        warn(f"{base.name} is an SD 1.5 checkpoint: the SDXL-only ADM scalers were set neutral (1, 1, 0)")
    values.update(ADM_NEUTRAL)


def lora_fits(base: ModelFile, lora: ModelFile) -> str | None:
    """Why a LoRA cannot go on this base, or None (also when either width is unknown)."""
    if base.context_width is None or lora.context_width is None or base.context_width == lora.context_width:
        return None
    return (f"LoRA {lora.name} is made for {_family(lora.context_width)}; checkpoint {base.name} "
            f"is {_family(base.context_width, base.architecture)}")


def refiner_fits(base: ModelFile, refiner: ModelFile) -> str | None:
    """An SD 1.5 refiner after an SDXL base works (the latents are swapped through the VAE, as in
    Fooocus); an SDXL refiner after an SD 1.5 base cannot (its prompts need both SDXL text encoders)."""
    if base.architecture == "sd15" and refiner.architecture == "sdxl":
        return (f"refiner {refiner.name} is an SDXL checkpoint, which needs an SDXL base; "
                f"{base.name} is SD 1.5")
    return None
