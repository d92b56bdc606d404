"""Fooocus inpaint engine files for the tiny SDXL, written at test time in Fooocus's formats.

The head is `{"head": C×5×3×3}` (C: the UNet's first convolution's output channels; 320 in SDXL, fewer in
the tiny model), saved with torch.save as Fooocus's `fooocus_inpaint_head.pth` is. The patch is a dict from
every UNet weight name of the checkpoint in the original layout, `model.` dropped
(`diffusion_model.input_blocks.0.0.weight`), to `(q uint8, min, max)`, as Fooocus's `.fooocus.patch` files;
the names are read from the tiny checkpoint file itself.
"""

from __future__ import annotations

import os

import torch
from safetensors import safe_open

CHECKPOINT_UNET = "model.diffusion_model."
HEAD_FILE, PATCH_FILE = "fooocus_inpaint_head.pth", "inpaint_v26.fooocus.patch"


def unet_shapes(checkpoint: str) -> dict[str, tuple[int, ...]]:
    """Original-layout UNet names (`diffusion_model.…`) → shape, read from a single-file checkpoint."""
    with safe_open(checkpoint, "pt") as f:
        return {k[len("model."):]: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith(CHECKPOINT_UNET)}


def write_patch(path: str, checkpoint: str, low: float, high: float, seed: int = 0) -> dict:
    """Random uint8 deltas over [low, high] on every UNet weight; returns what was saved."""
    gen = torch.Generator().manual_seed(seed)
    patch = {
        name: (torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8), torch.tensor(low), torch.tensor(high))
        for name, shape in unet_shapes(checkpoint).items()
    }
    torch.save(patch, path)
    return patch


def write_head(path: str, weight: torch.Tensor) -> None:
    torch.save({"head": weight}, path)


def head_channels(checkpoint: str) -> int:
    return unet_shapes(checkpoint)["diffusion_model.input_blocks.0.0.weight"][0]


def engine_folder(folder: str, checkpoint: str, head: torch.Tensor | None = None, low: float = 0.0,
                  high: float = 0.0) -> tuple[str, str]:
    """An `inpaint` folder holding a head (zero unless given) and a v2.6 patch over [low, high]."""
    os.makedirs(folder, exist_ok=True)
    head_path, patch_path = os.path.join(folder, HEAD_FILE), os.path.join(folder, PATCH_FILE)
    write_head(head_path, head if head is not None else torch.zeros(head_channels(checkpoint), 5, 3, 3))
    write_patch(patch_path, checkpoint, low, high)
    return head_path, patch_path
