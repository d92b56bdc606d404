"""FreeU v2 on a diffusers UNet: the variant Fooocus applies to its base model.

FreeU (Si et al., 2023) reweights what each decoder layer concatenates: the backbone features `h` coming
up the decoder and the skip features from the encoder. At a layer whose `h` has 4× the UNet's base width
(SDXL: 1280 channels) it uses (b1, s1), at 2× (640) (b2, s2), elsewhere nothing:

- backbone: the first half of `h`'s channels is multiplied by `1 + (b − 1)·m`, where `m` is `h`'s mean over
  channels, min-max normalised over each sample's positions (v2; v1 multiplies by `b` everywhere);
- skip: in the skip features' 2-D spectrum, centred, the 2×2 block at the centre (frequencies 0 and −1 on
  each axis) is multiplied by `s`, and the real part of the inverse transform is kept.

diffusers' own `enable_freeu` is v1 and picks the stages by up-block index, which differs from the channel
rule at the first layer of SDXL's second and third up blocks, so it is not used. The patch is a forward
pre-hook on each decoder resnet, whose input is exactly `cat([h, skip])`; removing the hooks restores the
UNet exactly. The skip filter is computed from the four kept coefficients alone, with no FFT: about five
times cheaper at SDXL's full size on a CPU.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn

from contract.task import FreeU

_HOOKS: weakref.WeakKeyDictionary[nn.Module, list] = weakref.WeakKeyDictionary()


def backbone_factor(h: torch.Tensor, b: float) -> torch.Tensor:
    """(N, 1, H, W): what the first half of `h`'s channels is multiplied by."""
    mean = h.mean(dim=1, keepdim=True)
    flat = mean.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = flat.max(dim=1).values.view(-1, 1, 1, 1) - low
    # A flat mean (a 1×1 map) has no range to normalise: those samples stay unscaled, where the
    # published formula would divide 0 by 0.
    m = torch.where(span > 0, (mean - low) / torch.where(span > 0, span, 1), 0)
    return 1 + (b - 1) * m


def _low_band_basis(rows: int, cols: int, device) -> torch.Tensor:
    """(rows·cols, 2J): cos and sin of the phase of each of the J kept frequencies at every position."""
    fy = [0, -1] if rows > 1 else [0]  # a 1-pixel axis has only frequency 0
    fx = [0, -1] if cols > 1 else [0]
    y = torch.arange(rows, device=device, dtype=torch.float32)[:, None] / rows
    x = torch.arange(cols, device=device, dtype=torch.float32)[None, :] / cols
    phase = torch.stack([2 * math.pi * (ky * y + kx * x) for ky in fy for kx in fx]).flatten(1).T
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)


def skip_low_band(skip: torch.Tensor) -> torch.Tensor:
    """In float32, the real part of the inverse DFT of only the centred 2×2 block of `skip`'s spectrum.

    With X = Σ x·e^(−iφ) = a − ib per kept frequency, Re(X·e^(iφ)) = a·cos φ + b·sin φ: two small
    matrix products instead of a full FFT and its inverse."""
    n, c, rows, cols = skip.shape
    basis = _low_band_basis(rows, cols, skip.device)
    x = skip.float().reshape(n, c, rows * cols)
    return (x @ basis @ basis.T / (rows * cols)).view(n, c, rows, cols)


def apply_to_layer_input(x: torch.Tensor, backbone_channels: int, b: float, s: float) -> None:
    """FreeU on one decoder layer's input `cat([h, skip])`, in place."""
    h, skip = x[:, :backbone_channels], x[:, backbone_channels:]
    factor, low = backbone_factor(h, b), skip_low_band(skip)
    h[:, : backbone_channels // 2] *= factor
    skip += ((s - 1) * low).to(skip.dtype)


def _layer_hook(backbone_channels: int, b: float, s: float):
    def hook(_module, args):
        # The input is the decoder's fresh concatenation, used by this resnet only: edited in place.
        apply_to_layer_input(args[0], backbone_channels, b, s)

    return hook


def set_freeu(unet: nn.Module, freeu: FreeU | None) -> None:
    """Leave `unet` with exactly this FreeU (None or disabled: none). Cached UNets serve many tasks."""
    for handle in _HOOKS.pop(unet, []):
        handle.remove()
    if freeu is None or not freeu.enabled:
        return
    base = int(unet.config.block_out_channels[0])
    stages = {4 * base: (freeu.b1, freeu.s1), 2 * base: (freeu.b2, freeu.s2)}
    handles = []
    # The decoder's first `h` is the deepest level's output; each resnet's output is the next one's `h`
    # (attention and upsampling keep the channel count).
    channels = int(unet.config.block_out_channels[-1])
    for block in unet.up_blocks:
        for resnet in block.resnets:
            if channels in stages:
                handles.append(resnet.register_forward_pre_hook(_layer_hook(channels, *stages[channels])))
            channels = int(resnet.out_channels)
    _HOOKS[unet] = handles
