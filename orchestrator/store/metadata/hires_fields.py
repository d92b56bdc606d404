"""How an image's hires fix (common/image_params.HiresUse) is written into its metadata text and read back.

The a1111 scheme writes AUTOMATIC1111's own keys as it writes them: `Size` is the first pass, then
`Denoising strength`, `Hires upscale` (by scale) or `Hires resize` (`WxH`, 0 for a side not given),
`Hires steps` (only when not 0) and `Hires upscaler`; the final size is not written, a reader works it out
from those. Texts of A1111 before 1.0 wrote `Size` as the final size and `First pass size` (`0x0`: chosen
by A1111, about 512² pixels in the final aspect); those are read too. The fooocus scheme writes the same
under snake-case keys plus `hires_size`. An image made without hires fix carries none of these keys.
"""

from __future__ import annotations

import math
import re
from typing import Any

from contract.hires import HiresFixRequest, HiresUpscaler
from orchestrator.common.image_params import HiresUse

_SIZE = re.compile(r"^\s*\(?\s*(\d+)\s*[x,]\s*(\d+)\s*\)?\s*$")
DEFAULT_UPSCALER = HiresUpscaler.latent.value  # A1111's `latent_upscale_default_mode`
OLD_FIRST_PASS_PIXELS = 512 * 512


def _pair(text: Any) -> tuple[int, int]:
    found = _SIZE.match(str(text))
    if found is None:
        raise ValueError(f"expected WxH, got {text!r}")
    return int(found.group(1)), int(found.group(2))


def a1111_entries(use: HiresUse | None) -> list[tuple[str, Any]]:
    if use is None:
        return []
    entries: list[tuple[str, Any]] = [("Denoising strength", use.denoise)]
    if use.resize is not None:
        entries.append(("Hires resize", f"{use.resize[0]}x{use.resize[1]}"))
    else:
        entries.append(("Hires upscale", use.scale))
    if use.steps:
        entries.append(("Hires steps", use.steps))
    entries.append(("Hires upscaler", use.upscaler))
    return entries


def fooocus_fields(use: HiresUse | None) -> dict[str, Any]:
    if use is None:
        return {}
    out: dict[str, Any] = {"hires_size": str((use.width, use.height)), "denoising_strength": use.denoise}
    if use.resize is not None:
        out["hires_resize"] = f"{use.resize[0]}x{use.resize[1]}"
    else:
        out["hires_upscale"] = use.scale
    out["hires_steps"] = use.steps
    out["hires_upscaler"] = use.upscaler
    return out


def from_fooocus(data: dict[str, Any]) -> HiresUse | None:
    """Raises (TypeError, ValueError) on a malformed value: the caller's parse fails."""
    if "hires_size" not in data:
        return None
    width, height = _pair(data["hires_size"])
    resize = _pair(data["hires_resize"]) if "hires_resize" in data else None
    return HiresUse(width=width, height=height, upscaler=str(data.get("hires_upscaler", DEFAULT_UPSCALER)),
                    steps=int(data.get("hires_steps", 0)), denoise=float(data["denoising_strength"]),
                    scale=None if resize else float(data.get("hires_upscale", 2.0)), resize=resize)


def _old_first_pass(width: int, height: int) -> tuple[int, int]:
    """A1111 before 1.0, first pass size 0x0: about 512² pixels in the final aspect, sides up to 64s."""
    ratio = math.sqrt(OLD_FIRST_PASS_PIXELS / (width * height))
    return math.ceil(ratio * width / 64) * 64, math.ceil(ratio * height / 64) * 64


def from_a1111(values: dict[str, str], size: tuple[int, int]) -> tuple[HiresUse | None, tuple[int, int]]:
    """(the hires fix, the first pass size) of an A1111 text whose `Size` is `size`."""
    upscaler = values.get("Hires upscaler", DEFAULT_UPSCALER)
    if "First pass size" in values:  # the old layout: Size is the final image
        first = _pair(values["First pass size"])
        if first == (0, 0):
            first = _old_first_pass(*size)
        use = HiresUse(width=size[0], height=size[1], upscaler=upscaler, steps=int(values.get("Hires steps", 0)),
                       denoise=float(values.get("Denoising strength", 0.7)), resize=size)
        return use, first
    if "Hires upscale" not in values and "Hires resize" not in values:
        return None, size
    if "Hires resize" in values:
        resize = _pair(values["Hires resize"])
        asked = HiresFixRequest(resize_width=resize[0], resize_height=resize[1])
        scale = None
    else:
        resize, scale = None, float(values["Hires upscale"])
        asked = HiresFixRequest(scale=scale)
    _, (width, height) = asked.sizes(*size)
    use = HiresUse(width=width, height=height, upscaler=upscaler, steps=int(values.get("Hires steps", 0)),
                   denoise=float(values.get("Denoising strength", 0.7)), scale=scale, resize=resize)
    return use, size
