"""Small JPEG previews of the current x0 estimate: a linear latent → RGB projection, no VAE decode per step.

The projection is learnt from the model's own VAE, once per VAE and only when a preview is first asked
for: a test card of flat colour patches is encoded, and a least-squares fit maps each latent pixel (plus
a constant) to the colour of the patch it came from. No extra weights; a preview then costs one
4×3 matrix product and a JPEG encode.
"""

from __future__ import annotations

import io
import weakref

import torch
import torch.nn.functional as F
from PIL import Image

from contract.task import PreviewSettings
from inference_worker.diffusers_kernel.loading.seamless import ZEROS, padding

PATCH = 32  # pixels per colour patch; only the middle latent pixels of each patch are used
# The cube's corners and mid-tones: 16 colours in [0, 1].
_LEVELS = (0.0, 1.0)
_PALETTE = [(r, g, b) for r in _LEVELS for g in _LEVELS for b in _LEVELS] + [
    (0.5, 0.5, 0.5), (0.75, 0.25, 0.25), (0.25, 0.75, 0.25), (0.25, 0.25, 0.75),
    (0.75, 0.75, 0.25), (0.25, 0.75, 0.75), (0.75, 0.25, 0.75), (0.25, 0.25, 0.25),
]  # fmt: skip


def _test_card() -> tuple[torch.Tensor, torch.Tensor]:
    """(image [1, 3, 128, 128] in [-1, 1], colours [16, 3] in [-1, 1]) — a 4×4 grid of patches."""
    colours = torch.tensor(_PALETTE, dtype=torch.float32) * 2 - 1
    grid = colours.reshape(4, 4, 3).permute(2, 0, 1)  # [3, 4, 4]
    image = grid.repeat_interleave(PATCH, dim=1).repeat_interleave(PATCH, dim=2)
    return image.unsqueeze(0), colours


def fit_projection(latents: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Least-squares [channels + 1, 3] matrix from latent pixels (+1) to colours, one patch per colour.

    `latents` is the encoded test card [1, C, 4·p, 4·p] (p latent pixels per patch side)."""
    c, side = latents.shape[1], latents.shape[2] // 4
    lo, hi = side // 4, side - side // 4  # the middle of each patch, away from its neighbours
    blocks = latents[0].float().reshape(c, 4, side, 4, side)[:, :, lo:hi, :, lo:hi]
    samples = blocks.permute(1, 3, 2, 4, 0).reshape(16, -1, c)  # [colour, pixels, C]
    inputs = torch.cat([samples, torch.ones_like(samples[..., :1])], dim=-1).reshape(-1, c + 1)
    targets = colours.unsqueeze(1).expand(16, samples.shape[1], 3).reshape(-1, 3)
    return torch.linalg.lstsq(inputs.double(), targets.double()).solution.float()


@torch.no_grad()
def _calibrate(vae) -> torch.Tensor:
    image, colours = _test_card()
    cfg = vae.config
    with padding([vae], ZEROS):  # fitted once per VAE: never to a seamless task's circular padding
        mean = vae.encode(image.to(vae.device, vae.dtype)).latent_dist.mean.float().cpu()
    scaled = (mean - (getattr(cfg, "shift_factor", None) or 0.0)) * cfg.scaling_factor
    return fit_projection(scaled, colours)


_PROJECTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def projection_for(vae) -> torch.Tensor:
    found = _PROJECTIONS.get(vae)
    if found is None:
        found = _PROJECTIONS[vae] = _calibrate(vae)
    return found


def project(x0: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """[1, C, h, w] latent → [h, w, 3] uint8."""
    lat = x0[0].detach().float().cpu()
    flat = torch.cat([lat, torch.ones_like(lat[:1])]).reshape(lat.shape[0] + 1, -1)
    rgb = (matrix.T @ flat).reshape(3, lat.shape[1], lat.shape[2])
    return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)


def latent_preview(x0: torch.Tensor, settings: PreviewSettings, vae) -> bytes:
    pixels = project(x0, projection_for(vae))
    h, w = pixels.shape[:2]
    scale = settings.max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    resized = F.interpolate(
        pixels.permute(2, 0, 1)[None].float(), size=size, mode="bilinear", align_corners=False
    )
    image = Image.fromarray(resized[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy(), "RGB")
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=settings.quality)
    return buf.getvalue()
