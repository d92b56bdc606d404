"""Small JPEG previews of the current x0 estimate, straight from the latent (no VAE decode per step).

The first three latent channels, each stretched to its own range, give a rough false-colour picture
of the composition: enough to watch an image form, at the cost of a few microseconds.
"""

from __future__ import annotations

import io

import torch
from PIL import Image

from contract.task import PreviewSettings


def latent_preview(x0: torch.Tensor, settings: PreviewSettings) -> bytes:
    lat = x0[0, :3].detach().float().cpu()
    lo = lat.amin(dim=(1, 2), keepdim=True)
    hi = lat.amax(dim=(1, 2), keepdim=True)
    rgb = ((lat - lo) / (hi - lo).clamp(min=1e-6) * 255).round().to(torch.uint8)
    image = Image.fromarray(rgb.permute(1, 2, 0).numpy(), "RGB")
    scale = settings.max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=settings.quality)
    return buf.getvalue()
