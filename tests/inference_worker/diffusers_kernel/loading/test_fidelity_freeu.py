"""FreeU v2 against a reference written from the published method, and its removal.

The reference is numpy (float64): the backbone factor by explicit per-sample loops, the skip filter with
the spectrum centred by fftshift and a centred 2×2 mask, the way the FreeU paper's code describes it.
The kernel side is captured where each decoder resnet first uses its input (its `norm1`), so the check
holds whatever mechanism puts FreeU there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from contract.task import FreeU, ModelRef
from inference_worker.diffusers_kernel.loading.freeu import set_freeu
from inference_worker.diffusers_kernel.loading.models import load_model
from inference_worker.diffusers_kernel.loading.pipeline_cache import file_key
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    new_kernel,
    pixels,
    task_builder,
)

ON = FreeU(enabled=True, b1=1.3, b2=1.4, s1=0.9, s2=0.2)  # FreeU_V2's published SDXL values: large effects


def reference_backbone(h: np.ndarray, b: float) -> np.ndarray:
    out = h.astype(np.float64).copy()
    n, c = h.shape[:2]
    for i in range(n):
        m = h[i].astype(np.float64).mean(axis=0)
        lo, hi = m.min(), m.max()
        for ch in range(c // 2):
            out[i, ch] = h[i, ch] * (1 + (b - 1) * (m - lo) / (hi - lo))
    return out


def reference_skip(skip: np.ndarray, s: float) -> np.ndarray:
    spectrum = np.fft.fftshift(np.fft.fft2(skip.astype(np.float64)), axes=(-2, -1))
    rows, cols = spectrum.shape[-2:]
    mask = np.ones((rows, cols))
    mask[max(rows // 2 - 1, 0) : rows // 2 + 1, max(cols // 2 - 1, 0) : cols // 2 + 1] = s
    return np.fft.ifft2(np.fft.ifftshift(spectrum * mask, axes=(-2, -1))).real


def tiny_unet() -> UNet2DConditionModel:
    """SDXL's decoder layout (widths 1:2:4, attention on the two deep levels) at base width 8."""
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16, 32),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 8),
        cross_attention_dim=16,
        norm_num_groups=4,
    ).eval()


def probe(seed: int = 1, batch: int = 2):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, 4, 16, 16, generator=gen),
        torch.tensor(500.0),
        torch.randn(batch, 3, 16, generator=gen),
    )


def received(resnet) -> list:
    """Registers a capture of what `resnet` really computes with; returns the list it fills."""
    seen: list = []
    resnet.norm1.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    return seen


def first_layer_input(unet, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """What the first layer of the deepest up block works on, fed `h` and `skip` (its other two layers get
    random skips). That layer's backbone has 32 = 4 × 8 channels: FreeU's stage 1 (b1, s1)."""
    block = unet.up_blocks[0]
    seen = received(block.resnets[0])
    gen = torch.Generator().manual_seed(8)
    size = h.shape[-2:]
    others = (torch.randn(2, 16, *size, generator=gen), torch.randn(2, 32, *size, generator=gen))
    text = torch.zeros(2, 3, 16)
    with torch.no_grad():
        block(h.clone(), (*others, skip), temb=torch.zeros(2, 32), encoder_hidden_states=text)
    return seen[0]


def test_up_block_receives_freeu_v2_of_hand_made_features():
    unet = tiny_unet()
    set_freeu(unet, ON)
    y, x = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    # Channel mean = 0.5 + a ramp; sample 0 ramps along x, sample 1 along y ten times as steeply: after the
    # per-sample min-max normalisation both factors run 1 … b1 across the map.
    h = torch.zeros(2, 32, 4, 4)
    h[0] = (torch.arange(32.0) / 31).view(32, 1, 1) + x
    h[1] = (torch.arange(32.0) / 31).view(32, 1, 1) + 10 * y
    skip = torch.zeros(2, 32, 4, 4)
    a, c = 2 * math.pi * x / 4, 2 * math.pi * y / 4
    skip[:, 0] = 2.0  # only the zero frequency: all of it scaled by s1
    skip[:, 1] = (-1.0) ** (x + y)  # the highest frequency on both axes: untouched
    skip[:, 2] = torch.cos(a)  # frequencies ±1: only −1 is in the centred 2×2 block → (1 + s1)/2
    skip[:, 3] = torch.sin(c)
    skip[:, 4] = torch.cos(a) * torch.cos(c)  # four (±1, ±1) terms, only (−1, −1) scaled
    got = first_layer_input(unet, h, skip)
    b1, s1 = ON.b1, ON.s1
    factor = torch.stack([1 + (b1 - 1) * x / 3, 1 + (b1 - 1) * y / 3])[:, None]
    torch.testing.assert_close(got[:, :16], h[:, :16] * factor)
    torch.testing.assert_close(got[:, 16:32], h[:, 16:])
    expected = torch.zeros_like(skip)
    expected[:, 0] = 2.0 * s1
    expected[:, 1] = skip[:, 1]
    expected[:, 2] = (1 + s1) / 2 * skip[:, 2]
    expected[:, 3] = (1 + s1) / 2 * skip[:, 3]
    expected[:, 4] = ((1 + s1) * torch.cos(a + c) + 2 * torch.cos(a - c)) / 4
    torch.testing.assert_close(got[:, 32:], expected, atol=1e-5, rtol=1e-5)


def test_every_decoder_layer_matches_the_reference_in_a_whole_unet():
    unet = tiny_unet()
    base = unet.config.block_out_channels[0]
    skips: list = []
    unet.conv_in.register_forward_hook(lambda _m, _a, out: skips.append(out))
    for block in unet.down_blocks:
        block.register_forward_hook(lambda _m, _a, out: skips.extend(out[1]))
    # What flows into each decoder layer as its backbone: the deepest level's output, then each layer's.
    backbone: list = []
    unet.mid_block.register_forward_hook(lambda _m, _a, out: backbone.append(out))
    layers = []
    for block in unet.up_blocks:
        for j, resnet in enumerate(block.resnets):
            layers.append(received(resnet))
            last = j == len(block.resnets) - 1
            if last:
                block.register_forward_hook(lambda _m, _a, out: backbone.append(out))
            elif hasattr(block, "attentions"):
                block.attentions[j].register_forward_hook(lambda _m, _a, out: backbone.append(out[0]))
            else:
                resnet.register_forward_hook(lambda _m, _a, out: backbone.append(out))
    set_freeu(unet, ON)
    with torch.no_grad():
        unet(*probe())
    stages = {4 * base: (ON.b1, ON.s1), 2 * base: (ON.b2, ON.s2)}
    used = []
    for i, seen in enumerate(layers):
        h, skip = backbone[i].numpy(), skips[-1 - i].numpy()
        got = seen[0].numpy()
        assert got.shape[1] == h.shape[1] + skip.shape[1]
        stage = stages.get(h.shape[1])
        used.append(h.shape[1] // base if stage else 0)
        want_h = reference_backbone(h, stage[0]) if stage else h
        want_skip = reference_skip(skip, stage[1]) if stage else skip
        np.testing.assert_allclose(got[:, : h.shape[1]], want_h, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[:, h.shape[1] :], want_skip, rtol=1e-5, atol=1e-5)
    # SDXL's pattern: the four layers fed by the deepest level, the next three, the last two untouched.
    assert used == [4, 4, 4, 4, 2, 2, 2, 0, 0]


def test_switching_off_restores_the_unet_exactly():
    unet = tiny_unet()
    args = probe()
    with torch.no_grad():
        never = unet(*args).sample
        set_freeu(unet, FreeU(enabled=True, b1=1.2, b2=1.3, s1=0.5, s2=0.6))
        set_freeu(unet, ON)  # replaces, does not stack
        on = unet(*args).sample
        fresh = tiny_unet()
        set_freeu(fresh, ON)
        assert torch.equal(on, fresh(*args).sample)
        assert not torch.allclose(on, never, atol=1e-3)
        set_freeu(unet, FreeU(enabled=False, b1=2.0))
        assert torch.equal(unet(*args).sample, never)
        set_freeu(unet, ON)
        set_freeu(unet, None)
        assert torch.equal(unet(*args).sample, never)


def test_a_generation_after_freeu_is_bit_identical_to_one_that_never_had_it(tiny_models):
    make = task_builder(tiny_models)
    kernel = new_kernel()
    never = pixels(kernel, make())
    assert pixels(kernel, make(freeu=ON)) != never
    assert pixels(kernel, make(freeu=FreeU(enabled=False, b1=2.0))) == never


def _sdxl_unet_output(unet) -> torch.Tensor:
    config = unet.config
    gen = torch.Generator().manual_seed(4)
    pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
    cond = {
        "text_embeds": torch.randn(1, pooled, generator=gen),
        "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]),
    }
    x = torch.randn(1, 4, 8, 8, generator=gen)
    text = torch.randn(1, 5, config.cross_attention_dim, generator=gen)
    with torch.no_grad():
        return unet(x, torch.tensor(700.0), text, added_cond_kwargs=cond).sample


def test_freeu_stays_on_the_base_not_the_refiner(tiny_models):
    """As in Fooocus, FreeU patches the base UNet only, also when the refiner's file was a FreeU base."""
    make = task_builder(tiny_models)
    kernel = new_kernel()
    path = build_fidelity_files(tiny_models).refiner_file
    refiner = ModelRef(name="tiny-refiner", path=path)
    pixels(kernel, make(base_model=refiner, freeu=ON))  # this file's cached UNet now carries FreeU
    pixels(kernel, make(freeu=ON, refiner=refiner, refiner_switch=0.5))

    def cached(file: str):
        def not_cached():
            raise AssertionError(f"{file} is not in the pipeline cache")

        return kernel.cache.get((file_key(file), (None,), str(kernel.dtype)), not_cached)[0].pipe.unet

    def plain(file: str) -> torch.Tensor:
        fresh = load_model(file, "fresh", dtype=torch.float32, device="cpu", allow_pickle=False)
        return _sdxl_unet_output(fresh.pipe.unet)

    assert torch.equal(_sdxl_unet_output(cached(path)), plain(path))
    assert not torch.equal(_sdxl_unet_output(cached(tiny_models.sdxl_file)), plain(tiny_models.sdxl_file))


@pytest.mark.parametrize("size", [1, 2, 5])
def test_odd_and_one_pixel_maps_follow_the_centred_mask(size):
    unet = tiny_unet()
    set_freeu(unet, ON)
    gen = torch.Generator().manual_seed(size)
    h, skip = torch.randn(2, 32, size, size, generator=gen), torch.randn(2, 32, size, size, generator=gen)
    got = first_layer_input(unet, h, skip).numpy()
    np.testing.assert_allclose(got[:, 32:], reference_skip(skip.numpy(), ON.s1), rtol=1e-5, atol=1e-5)
    if size > 1:
        np.testing.assert_allclose(got[:, :32], reference_backbone(h.numpy(), ON.b1), rtol=1e-5, atol=1e-5)
    else:  # a 1×1 map's channel mean has no range: left unscaled instead of 0/0
        np.testing.assert_allclose(got[:, :32], h.numpy())
