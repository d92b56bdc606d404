"""Image prompts together with Vary and with Inpaint on the tiny SDXL (Fooocus's
`mixing_image_prompt_and_vary_upscale` and `mixing_image_prompt_and_inpaint`): one control type
(PyraCanny) and one IP-Adapter type (ImagePrompt).

What is checked comes from Fooocus 2.5 (modules/async_worker.py, ldm_patched's ControlNet, extras/ip_adapter.py,
modules/patch.py) and is computed here from the model's training schedule, not read from the kernel:
- a Subtle Vary (denoise 0.5) runs the last `steps` levels of a Karras schedule of int(steps / 0.5) steps:
  exactly `steps` UNet calls, at those levels' timesteps;
- a control prompt acts on a call while sigma ≥ the training sigma at timestep (1 − stop)·999; an IP-Adapter
  prompt while 1 − t/999 < stop. Both judge the call's own noise level, so a Vary's tail, which starts well
  below the top of the schedule, is reached only by high stops: at Fooocus's default stop 0.5 a Subtle Vary
  of 6 steps is not touched by either prompt at all;
- an Inpaint keeps every pixel farther than the feather (32 pixels, chessboard) from the mask, prompt or not.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from inference_worker.diffusers_kernel.image_input import inpaint
from inference_worker.model_builders.control_models import control_lora
from inference_worker.model_builders.small_pipelines import SCHEDULER_CONFIG
from tests.inference_worker.diffusers_kernel.fidelity_models import run
from tests.inference_worker.diffusers_kernel.image_input.image_files import (
    image_file,
    noise_image,
    output,
    recording,
    square_mask,
)
from tests.inference_worker.diffusers_kernel.image_input.test_inpaint import FEATHER, _chessboard_distance
from tests.inference_worker.diffusers_kernel.image_prompts.ip_files import ip_files
from tests.inference_worker.diffusers_kernel.image_prompts.test_control_prompts import (
    _karras,
    _picture,
    _record,
    _sigma_at,
    _Steps,
)
from tests.inference_worker.diffusers_kernel.image_prompts.test_control_prompts import (
    _prompt as control_prompt,
)
from tests.inference_worker.diffusers_kernel.image_prompts.test_ip_adapter import _prompt as ip_prompt
from tests.inference_worker.diffusers_kernel.image_prompts.test_ip_adapter import _watch

STEPS = 6
SUBTLE = 0.5  # Fooocus's Vary (Subtle) denoise
ADAPTER = "tiny-ip-adapter-plus.bin"
# The inpaint source (its centre 64² is the varied picture) and its mask, a 20-pixel square in the middle.
SOURCE = noise_image(160, 160, seed=21)
MASK = square_mask(160, 160, top=70, left=70, side=20)
FAR = _chessboard_distance(MASK) >= FEATHER
INSIDE = MASK > 0


@pytest.fixture(scope="module")
def lora_file(kernel, make, tmp_path_factory):
    run(kernel, make())  # loads the tiny SDXL: the Control-LoRA is built on its UNet
    tensors, _ = control_lora(kernel._models.base.pipe.unet, seed=1)
    path = str(tmp_path_factory.mktemp("controlnet") / "tiny-control-lora.safetensors")
    save_file(tensors, path)
    return path


@pytest.fixture(scope="module")
def ip(tiny_models):
    return ip_files(tiny_models)


@pytest.fixture(autouse=True)
def small_working_size(monkeypatch):
    monkeypatch.setattr(inpaint, "WORKING_SHAPE_CEIL", 128)  # 160² → a 128² crop: a fast inpaint


def _with(prompts: tuple[dict, ...]) -> dict:
    return {"image_prompts": prompts} if prompts else {}  # the same job without any image prompt


def _vary(make, *prompts):
    varied = {"method": "vary", "image": image_file(SOURCE[48:112, 48:112]), "denoise": SUBTLE}
    return make(width=64, height=64, steps=STEPS, image_input=varied, **_with(prompts))


def _inpaint(make, *prompts):
    painted = {"method": "inpaint", "image": image_file(SOURCE), "mask": image_file(MASK), "respective_field": 1.0}
    return make(width=160, height=160, steps=STEPS, image_input=painted, **_with(prompts))


def _log_sigmas() -> np.ndarray:
    c = SCHEDULER_CONFIG
    betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, c["num_train_timesteps"]) ** 2
    ac = np.cumprod(1 - betas)
    return np.log(((1 - ac) / ac) ** 0.5)


def _levels(method: str) -> list[float]:
    """The noise levels the UNet is called at: a Subtle Vary's tail of the longer schedule, an Inpaint's
    (denoise 1) whole schedule."""
    return _karras(int(STEPS / SUBTLE))[-STEPS:] if method == "vary" else _karras(STEPS)


def _timesteps(levels: list[float]) -> list[float]:
    """Each level's training timestep, the one nearest in log sigma (what Fooocus conditions the UNet on)."""
    table = _log_sigmas()
    return [float(np.abs(np.log(s) - table).argmin()) for s in levels]


def _check_inpaint_kept_the_outside(out: np.ndarray, plain: np.ndarray) -> None:
    assert np.array_equal(out[FAR], SOURCE[FAR])  # bit-identical beyond the feather, prompt or not
    assert np.array_equal(plain[FAR], SOURCE[FAR])
    assert (out[INSIDE] != plain[INSIDE]).any(axis=-1).mean() > 0.5  # the prompt repainted the mask otherwise


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _control(kernel, task):
    """(UNet timesteps, per call: handed control residuals or not, output image)."""
    kernel.check(task)
    kernel.load(task, _Steps())
    with recording(kernel) as calls:
        rec, data = _record(kernel, task)
    return calls.timesteps, [c is not None for c in rec.calls], data


# ----- PyraCanny -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stop", "acting"), [(0.5, 0), (0.9, 2), (1.0, STEPS)])
def test_control_with_vary_acts_on_the_tail_levels_above_its_stop(kernel, make, lora_file, stop, acting):
    prompt = control_prompt(lora_file, stop=stop)
    timesteps, handed, data = _control(kernel, _vary(make, prompt))
    levels = _levels("vary")
    assert timesteps == _timesteps(levels)  # the performance's steps, on a 12-step schedule's tail
    limit = 0.0 if stop >= 1 else _sigma_at((1 - stop) * 999)
    assert handed == [s >= limit for s in levels]
    assert sum(handed) == acting  # the stop cuts where the levels say: none, some, all
    plain = run(kernel, _vary(make)).images[0].data
    if acting:
        assert data != plain
    else:  # control that never acts leaves the Vary exactly as without it
        assert data == plain


def test_control_with_inpaint_acts_before_its_stop_and_keeps_the_outside(kernel, make, lora_file):
    timesteps, handed, data = _control(kernel, _inpaint(make, control_prompt(lora_file, stop=0.5)))
    levels = _levels("inpaint")
    assert timesteps == _timesteps(levels)
    assert handed == [s >= _sigma_at(0.5 * 999) for s in levels]
    assert 0 < sum(handed) < STEPS
    _check_inpaint_kept_the_outside(_decoded(data), output(run(kernel, _inpaint(make))))


def test_the_control_map_is_made_at_the_inpaint_crop_size(kernel, make, lora_file, monkeypatch):
    """Fooocus brings the prompt's picture to the size the diffusion runs at: the crop's, not the output's."""
    from inference_worker.diffusers_kernel.image_prompts import control_prompts

    sizes = []
    original = control_prompts.prompt_map

    def seen(task, index, size):
        sizes.append(size)
        return original(task, index, size)

    monkeypatch.setattr(control_prompts, "prompt_map", seen)
    with recording(kernel) as calls:
        run(kernel, _inpaint(make, control_prompt(lora_file, picture=_picture())))
    assert sizes == [(128, 128)] and set(calls.shapes) == {(2, 4, 16, 16)}


# ----- ImagePrompt (IP-Adapter) ----------------------------------------------------------------------------


def _ip_run(kernel, task):
    """(UNet timesteps, per call: did the adapter read image tokens, output image)."""
    results = []
    timesteps, read = _watch(kernel, task, lambda: results.append(run(kernel, task)))
    return timesteps, [ADAPTER in seen for seen in read], results[0]


@pytest.mark.parametrize(("stop", "acting"), [(0.5, 0), (0.85, 2)])
def test_ip_adapter_with_vary_reads_tokens_while_progress_is_below_its_stop(kernel, make, ip, stop, acting):
    timesteps, read, result = _ip_run(kernel, _vary(make, ip_prompt(ip, stop=stop, weight=0.6)))
    assert timesteps == _timesteps(_levels("vary"))
    assert read == [1 - t / 999 < stop for t in timesteps]
    assert sum(read) == acting
    plain = run(kernel, _vary(make)).images[0].data
    if acting:
        assert result.images[0].data != plain
    else:  # the adapter's attention, installed but never acting, computes what the UNet computes alone
        assert result.images[0].data == plain


def test_ip_adapter_with_inpaint_reads_tokens_before_its_stop_and_keeps_the_outside(kernel, make, ip):
    timesteps, read, result = _ip_run(kernel, _inpaint(make, ip_prompt(ip, stop=0.5, weight=0.6)))
    assert timesteps == _timesteps(_levels("inpaint"))
    assert read == [1 - t / 999 < 0.5 for t in timesteps]
    assert 0 < sum(read) < STEPS
    _check_inpaint_kept_the_outside(output(result), output(run(kernel, _inpaint(make))))
