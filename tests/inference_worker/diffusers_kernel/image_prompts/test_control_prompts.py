"""Control-model image prompts (PyraCanny, CPDS) on the tiny SDXL: the model files a user has, and how
ldm_patched applies them — per UNet evaluation while sigma ≥ the model's sigma at timestep (1 − stop)·999,
residuals × weight × Fooocus's softness factor 1 − softness·(1 − i/9), several prompts summed."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from contract.events import FailureKind
from inference_worker.diffusers_kernel.image_prompts.control import open_control
from inference_worker.kernel import KernelError, check_image_method
from inference_worker.model_builders.control_models import control_lora, original_layout, random_controlnet
from inference_worker.model_builders.small_pipelines import SCHEDULER_CONFIG
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run
from tests.inference_worker.diffusers_kernel.image_input.image_files import image_file, output

STEPS = 6


def _picture() -> np.ndarray:
    img = np.full((64, 64, 3), 220, np.uint8)
    img[16:48, 10:30] = (20, 20, 20)
    img[20:40, 38:58] = (30, 60, 220)
    return img


@pytest.fixture(scope="module")
def files(kernel, make, tmp_path_factory):
    run(kernel, make())  # loads the tiny SDXL: its UNet is what the control models are built on
    unet = kernel._models.base.pipe.unet
    folder = tmp_path_factory.mktemp("controlnet")
    lora_tensors, lora_net = control_lora(unet, seed=1)
    other_tensors, _ = control_lora(unet, seed=2)
    whole = random_controlnet(unet, seed=3)
    paths = {name: str(folder / f"{name}.safetensors") for name in ("lora", "other", "original", "diffusers")}
    save_file(lora_tensors, paths["lora"])
    save_file(other_tensors, paths["other"])
    save_file(original_layout(whole, prefix="control_model."), paths["original"])
    save_file(whole.state_dict(), paths["diffusers"])
    paths["folder"] = str(folder / "folder")
    whole.save_pretrained(paths["folder"])
    return {"paths": paths, "lora_net": lora_net, "whole": whole}


def _prompt(path: str, kind: str = "PyraCanny", stop: float = 1.0, weight: float = 1.0, picture=None) -> dict:
    picture = _picture() if picture is None else picture
    return {"type": kind, "image": image_file(picture), "stop": stop, "weight": weight,
            "model": {"name": os.path.basename(path), "path": path}}  # fmt: skip


def _task(make, prompts, steps: int = STEPS, **fields):
    return make(image_prompts=prompts, steps=steps, **fields)


class Residuals:
    """Per base-UNet call: the down residuals it was handed (None when none)."""

    def __init__(self) -> None:
        self.calls: list[list[torch.Tensor] | None] = []

    def __call__(self, module, args, kwargs):
        down = kwargs.get("down_block_additional_residuals")
        mid = kwargs.get("mid_block_additional_residual")
        self.calls.append(None if down is None else [d.clone() for d in down] + [mid.clone()])


def _record(kernel, task) -> tuple[Residuals, bytes]:
    kernel.check(task)
    kernel.load(task, _Steps())
    rec = Residuals()
    handle = kernel._models.base.pipe.unet.register_forward_pre_hook(rec, with_kwargs=True)
    try:
        data = run(kernel, task).images[0].data
    finally:
        handle.remove()
    return rec, data


class _Steps:
    def stage(self, *_):
        pass

    def warn(self, _):
        pass


# ----- opening the files ---------------------------------------------------------------------------------


def test_control_lora_is_the_unet_plus_its_low_rank_deltas(kernel, files):
    """ldm_patched's ControlLora: the UNet's weights, full tensors by name, factored ones w + up·down; the
    names agree with diffusers' own converter of Stability's layout."""
    from diffusers.utils.state_dict_utils import convert_sai_sd_control_lora_state_dict_to_peft
    from safetensors.torch import load_file

    base = kernel._models.base
    net = open_control(files["paths"]["lora"], base, torch.float32, torch.device("cpu"), "f")
    expected = files["lora_net"].state_dict()
    got = net.state_dict()
    assert set(got) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6, msg=name)
    converted = convert_sai_sd_control_lora_state_dict_to_peft(load_file(files["paths"]["lora"]))
    stems = {k.split(".lora_")[0] + ".weight" if ".lora_" in k else k for k in converted if converted[k] is not None}
    assert stems <= set(expected)


@pytest.mark.parametrize("kind", ["original", "diffusers", "folder"])
def test_whole_controlnets_load_in_each_layout(kernel, files, kind):
    net = open_control(files["paths"][kind], kernel._models.base, torch.float32, torch.device("cpu"), "f")
    for name, value in files["whole"].state_dict().items():
        assert torch.equal(net.state_dict()[name], value), name


def test_missing_and_unfitting_files_are_refused_by_field(kernel, make, files, tiny_models, tmp_path):
    missing = _task(make, [_prompt(files["paths"]["lora"]), _prompt(str(tmp_path / "none.safetensors"))])
    with pytest.raises(KernelError) as err:
        kernel.load(missing, _Steps())
    assert (err.value.kind, err.value.field) == (FailureKind.unknown_model, "image_prompts[1].model.path")
    for bad, kind in ((tiny_models.lora_file, FailureKind.bad_request), (tiny_models.sdxl_file, FailureKind.bad_request)):
        with pytest.raises(KernelError) as err:
            kernel.load(_task(make, [_prompt(bad, "CPDS")]), _Steps())
        assert (err.value.kind, err.value.field) == (kind, "image_prompts[0].model")
    on_sd15 = _task(make, [_prompt(files["paths"]["lora"])], base_model={"name": "s", "path": tiny_models.sd15_file})
    with pytest.raises(KernelError) as err:
        kernel.load(on_sd15, _Steps())
    assert err.value.field == "image_prompts[0].model" and "does not fit" in err.value.message


# ----- acting on the steps --------------------------------------------------------------------------------


def _sigma_at(timestep: float) -> float:
    """SDXL's training sigma at a fractional timestep, log-linear between entries (ldm_patched's rule)."""
    c = SCHEDULER_CONFIG
    betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, c["num_train_timesteps"]) ** 2
    ac = np.cumprod(1 - betas)
    log_sigmas = np.log(((1 - ac) / ac) ** 0.5)
    lo, w = int(np.floor(timestep)), timestep - np.floor(timestep)
    return float(np.exp((1 - w) * log_sigmas[lo] + w * log_sigmas[min(lo + 1, len(log_sigmas) - 1)]))


def _karras(steps: int) -> list[float]:
    c = SCHEDULER_CONFIG
    betas = np.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, c["num_train_timesteps"]) ** 2
    ac = np.cumprod(1 - betas)
    smin, smax = ((1 - ac[0]) / ac[0]) ** 0.5, ((1 - ac[-1]) / ac[-1]) ** 0.5
    ramp = np.linspace(0, 1, steps)
    return list((smax ** (1 / 7) + ramp * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7)


@pytest.mark.parametrize("stop", [0.2, 0.5, 0.8, 1.0])
def test_control_acts_exactly_on_the_steps_before_stop(kernel, make, files, stop):
    rec, _ = _record(kernel, _task(make, [_prompt(files["paths"]["lora"], stop=stop)]))
    assert len(rec.calls) == STEPS  # euler, one batched (positive + negative) call per step
    limit = 0.0 if stop >= 1 else _sigma_at((1 - stop) * 999)
    expected = [s >= limit for s in _karras(STEPS)]
    assert [c is not None for c in rec.calls] == expected
    assert 0 < sum(expected) <= STEPS and (stop == 1.0) == all(expected)
    assert all(c[0].shape[0] == 2 for c in rec.calls if c is not None)  # the negative gets control too


def test_weight_scales_residuals_two_prompts_add_and_softness_tapers(kernel, make, files):
    lora, other = files["paths"]["lora"], files["paths"]["other"]
    def first(prompts, softness=0.0):
        rec, _ = _record(kernel, _task(make, prompts, control={"softness": softness}))
        return rec.calls[0]  # the first call sees the same latent whatever the control
    one = first([_prompt(lora)])
    half = first([_prompt(lora, weight=0.5)])
    for a, b in zip(one, half, strict=True):
        torch.testing.assert_close(b, a * 0.5)
    two = first([_prompt(lora), _prompt(other, "CPDS", weight=1.5)])
    alone = first([_prompt(other, "CPDS", weight=1.5)])
    for s, a, b in zip(two, one, alone, strict=True):
        torch.testing.assert_close(s, a + b, rtol=1e-5, atol=1e-6)
    soft = first([_prompt(lora)], softness=0.6)
    for i, (s, a) in enumerate(zip(soft, one, strict=True)):  # Fooocus: 1 − 0.6·(1 − i/9) on the first ten
        torch.testing.assert_close(s, a * (1 - 0.6 * (1 - i / 9)), rtol=1e-5, atol=1e-7)


def test_weight_zero_is_no_prompt_and_control_changes_the_image(kernel, make, files):
    plain = pixels(kernel, make(steps=STEPS))
    assert pixels(kernel, _task(make, [_prompt(files["paths"]["lora"], weight=0.0)])) == plain
    assert pixels(kernel, _task(make, [_prompt(files["paths"]["lora"])])) != plain


def test_the_refiner_samples_without_control(kernel, make, files, tiny_models):
    from tests.inference_worker.diffusers_kernel.fidelity_models import build_fidelity_files

    other = build_fidelity_files(tiny_models).refiner_file
    task = _task(make, [_prompt(files["paths"]["lora"])], refiner={"name": "r", "path": other},
                 refiner_switch=0.5, refiner_swap_method="separate")  # fmt: skip
    kernel.check(task)
    kernel.load(task, _Steps())
    seen = []
    hook = kernel._models.refiner.pipe.unet.register_forward_pre_hook(
        lambda m, a, kw: seen.append(kw.get("down_block_additional_residuals") is not None), with_kwargs=True)
    try:
        run(kernel, task)
    finally:
        hook.remove()
    assert seen and not any(seen)


# ----- debug, skip and the gate ---------------------------------------------------------------------------


def test_debug_returns_each_prompt_s_control_image_without_diffusion(kernel, make, files):
    picture = _picture()
    task = _task(make, [_prompt(files["paths"]["lora"], picture=picture), _prompt("/nowhere", "CPDS")],
                 seeds=[1, 2], control={"debug_preprocessor": True})  # fmt: skip
    result = run(kernel, task)  # the CPDS model file is never opened: no diffusion
    edges, structure = output(result, 0), output(result, 1)
    assert edges.shape == structure.shape == (64, 64, 3)
    flat = np.zeros((64, 64), bool)
    flat[:5, :] = True  # background over 10 px from both shapes
    assert edges[flat].max() == 0 and edges.max() == 255
    skipped = _task(make, [_prompt(files["paths"]["lora"], picture=picture)],
                    control={"debug_preprocessor": True, "skip_preprocessor": True})  # fmt: skip
    assert np.array_equal(output(run(kernel, skipped)), picture)
    with pytest.raises(KernelError) as err:
        kernel.check(_task(make, [_prompt(files["paths"]["lora"])], seeds=[1, 2], control={"debug_preprocessor": True}))
    assert err.value.field == "seeds"


def test_a_prompt_type_the_kernel_does_not_declare_is_refused_by_name(kernel, make, files):
    task = _task(make, [_prompt(files["paths"]["lora"]), _prompt(files["paths"]["lora"], "CPDS")])
    assert {"prompt.PyraCanny", "prompt.CPDS"} <= kernel.image_methods()
    check_image_method(kernel, task)

    class CannyOnly:
        name = "canny-only"

        def image_methods(self):
            return {"prompt.PyraCanny"}

    with pytest.raises(KernelError) as err:
        check_image_method(CannyOnly(), task)
    assert (err.value.kind, err.value.field) == (FailureKind.unsupported, "image_prompts[1].type")


def test_a_control_model_outside_the_model_roots_is_refused_by_field(make, files, tiny_models):
    from inference_worker.model_paths import check_model_paths

    task = _task(make, [_prompt(files["paths"]["lora"])])
    with pytest.raises(KernelError) as err:
        check_model_paths(task, (tiny_models.root,))  # the base is inside, the control file is not
    assert err.value.field == "image_prompts[0].model.path"
