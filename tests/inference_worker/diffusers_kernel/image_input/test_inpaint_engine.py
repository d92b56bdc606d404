"""Fooocus's inpaint engine (head + patch) on the tiny SDXL, with engine files written at test time in
Fooocus's formats (engine_files.py). What is checked comes from Fooocus 2.5 (modules/inpaint_worker.py,
modules/core.py encode_vae_inpaint, modules/patch.py's "fooocus" weights, modules/async_worker.py and
default_pipeline.py's synthetic refiner), worked by hand:

- a patch entry (q, min, max) adds q / 255 · (max − min) + min to its weight, at strength 1;
- the head is a bias-free 3×3 convolution over [latent mask, latent of the image with the masked area
  grey], edge-padded, added to the first convolution's output;
- with no refiner, the base without the patch finishes the image from 0.8 of the steps.
The working size is lowered to shape ceil 128: a 128×128 image is then its own crop (latent 16×16).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.events import FailureKind
from inference_worker.diffusers_kernel.image_input import inpaint
from inference_worker.kernel import KernelError, SkipRequested
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.engine_files import (
    HEAD_FILE,
    PATCH_FILE,
    engine_folder,
    head_channels,
    write_head,
)
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    output,
    square_mask,
)

SIDE, MASK_SIDE = 128, 32
SRC, MASK = noise_image(SIDE, SIDE, seed=5), square_mask(SIDE, SIDE, top=0, left=0, side=MASK_SIDE)
# the UNet weights the patch is checked on: diffusers name ↔ SDXL's original name (same in the tiny model)
CHOSEN = {
    "conv_in.weight": "input_blocks.0.0.weight",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight":
        "input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight",
    "down_blocks.1.attentions.0.transformer_blocks.0.norm1.bias":
        "input_blocks.4.1.transformer_blocks.0.norm1.bias",
    "up_blocks.0.resnets.0.conv1.weight": "output_blocks.0.0.in_layers.2.weight",
}


@pytest.fixture(autouse=True)
def small_working_size(monkeypatch):
    monkeypatch.setattr(inpaint, "WORKING_SHAPE_CEIL", SIDE)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_models):
    """Engine folders: (head, patch) paths by what they hold."""
    ckpt, root = tiny_models.sdxl_file, tmp_path_factory.mktemp("engines")
    c = head_channels(ckpt)
    head = torch.zeros(c, 5, 3, 3)
    head[:, 0, 0, 0] = torch.linspace(0.5, 1.5, c)  # the mask, read one latent pixel up-left
    head[:, 1, 1, 1] = -0.25  # the inpaint latent's first channel, in place
    return {
        "zero": engine_folder(str(root / "zero"), ckpt),
        "patch": engine_folder(str(root / "patch"), ckpt, low=-0.04, high=0.06),
        "head": engine_folder(str(root / "head"), ckpt, head=head),
    }


def _task(make, engine=None, steps=2, **fields):
    image_input = {"method": "inpaint", "image": image_file(SRC), "mask": image_file(MASK), "respective_field": 1.0}
    if engine is not None:
        head, patch = engine
        image_input["engine"] = {"version": "v2.6", "head": {"name": HEAD_FILE, "path": head},
                                 "patch": {"name": PATCH_FILE, "path": patch}}
    return make(width=SIDE, height=SIDE, steps=steps, image_input=image_input, **fields)


class Weights:
    """The chosen UNet weights as each UNet call saw them."""

    def __init__(self, unet) -> None:
        self.params = dict(unet.named_parameters())
        self.seen: list[dict[str, torch.Tensor]] = []

    def __call__(self, _module, _args, _kwargs):
        self.seen.append({n: self.params[n].detach().clone() for n in CHOSEN})


def _unet(kernel):
    return kernel._models.base.pipe.unet


def test_a_zero_engine_changes_nothing_and_a_patch_or_head_does(kernel, make, files):
    for steps in (2, 10):  # 10: the synthetic refiner runs the last step too
        plain = output(run(kernel, _task(make, steps=steps)))
        assert np.array_equal(output(run(kernel, _task(make, files["zero"], steps=steps))), plain)
        for changed in ("patch", "head"):
            assert not np.array_equal(output(run(kernel, _task(make, files[changed], steps=steps))), plain)


# euler, 10 steps: one UNet call per step; the switch is round(10 × 0.8) = 8. `joint`: Fooocus swaps models in
# its step callback, so the base computes steps 0…8 and the refiner the last one; `separate` and `vae`: the
# base samples the first 8 steps, the refiner the other 2 (as with any refiner, sampling/refiner.py).
@pytest.mark.parametrize(("method", "by_base"), [("joint", 9), ("separate", 8), ("vae", 8)])
def test_the_patch_adds_its_dequantized_deltas_and_the_synthetic_refiner_runs_without_them(
        kernel, make, files, method, by_base):
    run(kernel, _task(make))  # load the model
    unet = _unet(kernel)
    original = {n: p.detach().clone() for n, p in unet.named_parameters() if n in CHOSEN}
    head, patch_path = files["patch"]
    saved = torch.load(patch_path, weights_only=True)
    weights = Weights(unet)
    handle = unet.register_forward_pre_hook(weights, with_kwargs=True)
    try:
        result = run(kernel, _task(make, files["patch"], steps=10, refiner_swap_method=method))
    finally:
        handle.remove()
    assert len(weights.seen) == 10
    for name, ldm in CHOSEN.items():
        q, low, high = saved["diffusion_model." + ldm]
        delta = q.to(torch.float64) / 255.0 * (float(high) - float(low)) + float(low)
        expected = (original[name].to(torch.float64) + delta).to(torch.float32)
        for seen in weights.seen[:by_base]:
            torch.testing.assert_close(seen[name], expected, rtol=0, atol=1e-6)
        for seen in weights.seen[by_base:]:
            assert torch.equal(seen[name], original[name])  # the refiner: the base as loaded
    assert any(f"synthetic refiner (the base without the patch) made the last {10 - by_base} of 10" in w
               for w in result.warnings)


def test_a_task_after_an_engine_task_gets_the_original_unet_back(kernel, make, files):
    plain_task = _task(make, steps=3, freeu={"enabled": True, "b1": 1.01, "b2": 1.02, "s1": 0.99, "s2": 0.95})
    before = output(run(kernel, plain_task))
    state = {k: v.clone() for k, v in _unet(kernel).state_dict().items()}
    run(kernel, _task(make, files["patch"], steps=10, task_id="engine"))
    after_state = _unet(kernel).state_dict()
    assert state.keys() == after_state.keys() and all(torch.equal(state[k], after_state[k]) for k in state)
    assert np.array_equal(output(run(kernel, plain_task)), before)


def test_the_head_adds_its_convolution_of_mask_and_grey_latent_after_conv_in(kernel, make, files):
    run(kernel, _task(make))
    unet = _unet(kernel)
    seen: list[torch.Tensor] = []

    def record(_module, _args, kwargs):
        seen.append(kwargs["hidden_states"].detach().clone())  # what conv_in (+ the head) handed on

    for engine in (None, files["head"]):
        handle = unet.down_blocks[0].register_forward_pre_hook(record, with_kwargs=True)
        try:
            run(kernel, _task(make, engine, steps=1))
        finally:
            handle.remove()
    added = seen[1] - seen[0]  # the same first call (zero patch, same noise) but for the head
    c = added.shape[1]
    # the mask tap reads the latent pixel up-left, the border repeated: the 4×4 masked block covers 0…4
    shifted = torch.zeros(16, 16)
    shifted[:5, :5] = 1.0
    # the latent tap: the first channel of the VAE latent of the image with its masked area mid-grey
    vae = kernel._models.base.pipe.vae
    grey = SRC.astype(np.float32)
    grey[MASK > 127] = 127.5
    x = torch.from_numpy(grey / 127.5 - 1.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        latent = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
    expected = torch.linspace(0.5, 1.5, c)[:, None, None] * shifted - 0.25 * latent[0, 0]
    torch.testing.assert_close(added[0], expected, rtol=0, atol=2e-5)
    torch.testing.assert_close(added[1], expected, rtol=0, atol=2e-5)  # the unconditional half too


def test_files_that_do_not_fit_are_refused_naming_the_field(kernel, make, files, tmp_path, tiny_models):
    head, patch = files["zero"]
    odd_head = str(tmp_path / "odd_head.pth")
    write_head(odd_head, torch.zeros(7, 5, 3, 3))
    foreign = str(tmp_path / "foreign.fooocus.patch")
    torch.save({"diffusion_model.input_blocks.99.0.weight": (torch.zeros(3, dtype=torch.uint8),
                                                             torch.tensor(0.0), torch.tensor(1.0))}, foreign)
    not_weights = str(tmp_path / "code.patch")
    torch.save({"diffusion_model.x": (np.zeros(3), 0, 1)}, not_weights)  # a numpy array needs code to load
    for engine, kind, field in (
        ((odd_head, patch), FailureKind.unsupported, "image_input.engine.head"),
        ((head, foreign), FailureKind.unsupported, "image_input.engine.patch"),
        ((head, not_weights), FailureKind.bad_request, "image_input.engine.patch"),
        ((str(tmp_path / "missing.pth"), patch), FailureKind.unknown_model, "image_input.engine.head.path"),
    ):
        with pytest.raises(KernelError) as exc:
            run(kernel, _task(make, engine))
        assert (exc.value.kind, exc.value.field) == (kind, field), exc.value.message
    sd15 = _task(make, files["zero"], base_model={"name": "tiny-sd15", "path": tiny_models.sd15_file})
    with pytest.raises(KernelError) as exc:
        run(kernel, sd15)
    assert (exc.value.kind, exc.value.field) == (FailureKind.unsupported, "image_input.engine")
    assert "SDXL" in exc.value.message


class _SkipAtStep3:
    def stage(self, stage) -> None:
        pass

    def step(self, step, steps_total, preview=None) -> None:
        if step == 3:
            raise SkipRequested()

    def wants_preview(self, step) -> bool:
        return False

    def warn(self, message) -> None:
        pass


def test_an_image_stopped_while_patched_leaves_the_unet_as_loaded(kernel, make, files):
    task = _task(make, files["patch"], steps=10, task_id="skipped")
    kernel.check(task)
    kernel.load(task, _SkipAtStep3())
    state = {k: v.clone() for k, v in _unet(kernel).state_dict().items()}
    with pytest.raises(SkipRequested):
        kernel.generate_image(task, 0, 3, _SkipAtStep3())
    after = _unet(kernel).state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
