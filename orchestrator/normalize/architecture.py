"""Defaults per architecture: what an SD 1.5 checkpoint cannot take is made neutral, or refused.

Fooocus's defaults are SDXL's. Like Fooocus, an SD 1.5 job ignores the SDXL-only knobs (ADM size
conditioning); here they are set to their neutral values and the job's warnings say so. A value the
client chose that the architecture cannot honour is refused naming the field. LoRAs and refiners are
matched to the base by the width of the prompt features their UNet takes (read from each file's
header, `catalog/model_info.lora_fits`): an SDXL LoRA on an SD 1.5 checkpoint is an error when the client
asked for it, and is left out when a preset did (at the scan for the preset's own checkpoint, else with a
warning). The SDXL refiner architecture runs only in the refiner slot, after an SDXL base. What the
header could not tell is left to the worker.
"""

from __future__ import annotations

import msgspec

from contract.request import GenerateRequest
from orchestrator.catalog import ModelFile
from orchestrator.catalog.model_info import lora_fits, refines_only  # shared with the catalog
from orchestrator.normalize.errors import NormalizeError

ADM_NEUTRAL = {"adm_scaler_positive": 1.0, "adm_scaler_negative": 1.0, "adm_scaler_end": 0.0}
__all__ = ["ADM_NEUTRAL", "base_fits", "lora_fits", "neutralize_sdxl_only", "refiner_fits"]


def neutralize_sdxl_only(base: ModelFile, used: GenerateRequest, overridden: list[str], warn) -> GenerateRequest:
    """On an SD 1.5 base: the ADM scalers become neutral; ones the client set otherwise are an error."""
    if base.architecture != "sd15":
        return used
    for field in overridden:
        if getattr(used, field) != ADM_NEUTRAL[field]:
            raise NormalizeError(
                field, f"ADM size conditioning exists only for SDXL; {base.name} is an SD 1.5 checkpoint "
                f"(leave {field} out, or send {ADM_NEUTRAL[field]:g})")
    if any(getattr(used, f) != v for f, v in ADM_NEUTRAL.items()):
        warn(f"{base.name} is an SD 1.5 checkpoint: the SDXL-only ADM scalers were set neutral (1, 1, 0)")
    return msgspec.structs.replace(used, **ADM_NEUTRAL)


def base_fits(base: ModelFile) -> str | None:
    """Why a checkpoint cannot be the base model: the SDXL refiner architecture has no CLIP-L encoder and
    is conditioned on an aesthetic score, so it only finishes an SDXL base's image."""
    if refines_only(base):
        return (f"{base.name} is an SDXL refiner-architecture checkpoint: choose it as refiner_model_name "
                "after an SDXL base model")
    return None


def refiner_fits(base: ModelFile, refiner: ModelFile) -> str | None:
    """An SD 1.5 refiner after an SDXL base works (the latents are swapped through the VAE, as in
    Fooocus); an SDXL refiner (either architecture) after an SD 1.5 base cannot (its prompts are the
    SDXL base's encoding)."""
    if base.architecture == "sd15" and refiner.architecture == "sdxl":
        return (f"refiner {refiner.name} is an SDXL checkpoint, which needs an SDXL base; "
                f"{base.name} is SD 1.5")
    if base.architecture == "sd15" and refiner.architecture == "sdxl_refiner":
        return (f"refiner {refiner.name} is an SDXL refiner-architecture checkpoint, which needs an SDXL "
                f"base; {base.name} is SD 1.5")
    return None
