"""Seamless tiling as AUTOMATIC1111 does it: every 2-D convolution of the models a task runs pads circularly.

A convolution padded with zeros sees a dark frame around the image; padded circularly it sees the opposite
edge instead, so the picture continues across its borders and tiles without a seam. The rest of an SD model
already treats every position alike (normalisation and attention are global, nothing encodes position), so
with circular padding the UNet and the VAE commute with a circular shift (the UNet by multiples of its total
downsampling, the VAE decoder from latent to pixels ×8).

What A1111 leaves alone is left alone here too: diffusers' VAE encoder halves its size with an unpadded
convolution after an explicit one-pixel zero pad at the bottom and right (`Downsample2D`), which is a
`torch.nn.functional.pad`, not a convolution's padding.

The models are cached and shared by later tasks, so the padding is switched for the task's run only and
put back as it was, whatever ends the run (an error, a stop or a skip).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from torch import nn

CIRCULAR = "circular"
ZEROS = "zeros"


def convolutions(models: Iterable[nn.Module | None]) -> list[nn.Conv2d]:
    """Every `nn.Conv2d` (subclasses included: diffusers' and peft's LoRA layers) of the models, each once."""
    seen: dict[int, nn.Conv2d] = {}
    for model in models:
        if model is None:
            continue
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                seen.setdefault(id(module), module)
    return list(seen.values())


@contextmanager
def padding(models: Iterable[nn.Module | None], mode: str) -> Iterator[None]:
    """Every convolution of `models` pads with `mode` inside the block, and as before it afterwards."""
    convs = convolutions(models)
    before = [conv.padding_mode for conv in convs]
    try:
        for conv in convs:
            conv.padding_mode = mode  # nn.Conv2d pads by this mode at every call (its padding stays the same)
        yield
    finally:
        for conv, mode_before in zip(convs, before, strict=True):
            conv.padding_mode = mode_before


@contextmanager
def seamless(models: Iterable[nn.Module | None], on: bool) -> Iterator[None]:
    """Circular padding for the block when `on`; nothing at all otherwise."""
    if not on:
        yield
        return
    with padding(models, CIRCULAR):
        yield
