"""Refiner + switch: joint, separate and vae swaps, an SD 1.5 refiner, and the cases that drop it."""

from __future__ import annotations

import pytest
import torch

from contract.events import FailureKind, Stage
from contract.task import ModelRef
from inference_worker.diffusers_kernel.sampling.refiner import RENOISE, switch_step
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    new_kernel,
    pixels,
    run,
)


@pytest.fixture(scope="module")
def kernel():
    return new_kernel(cache=1)  # base and refiner must stay together even at capacity 1


@pytest.fixture(scope="module")
def refiner(tiny_models):
    return ModelRef(name="tiny-refiner", path=build_fidelity_files(tiny_models).refiner_file)


def test_switch_step_rounds_like_fooocus():
    assert [switch_step(30, f) for f in (0.5, 0.8, 0.1, 1.0)] == [15, 24, 3, 30]
    assert switch_step(5, 0.5) == 2  # round half to even, as Python (and Fooocus) round


def test_every_swap_method_hands_over_and_differs(kernel, make, refiner):
    # dpmpp_2m keeps a history of estimates: joint carries it over to the refiner, separate starts afresh.
    ref = pixels(kernel, make(sampler="dpmpp_2m"))
    out = {
        m: pixels(
            kernel, make(sampler="dpmpp_2m", refiner=refiner, refiner_swap_method=m, refiner_switch=0.5)
        )
        for m in ("joint", "separate", "vae")
    }
    assert len({ref[0], *(v[0] for v in out.values())}) == 4
    assert pixels(kernel, make(sampler="dpmpp_2m", refiner=refiner, refiner_switch=0.25)) != out["joint"]


def test_for_a_memoryless_sampler_joint_equals_separate_one_step_later(kernel, make, refiner):
    # Fooocus's joint base computes step `switch` too: with euler, joint at switch 1 of 4 = separate at 2.
    joint = pixels(kernel, make(refiner=refiner, refiner_swap_method="joint", refiner_switch=0.25))
    assert pixels(kernel, make(refiner=refiner, refiner_swap_method="separate", refiner_switch=0.5)) == joint


def test_refiner_steps_are_reported_as_refining(kernel, make, refiner):
    s, r = Stage.sampling, Stage.refining
    expected = {"joint": [s, s, s, r], "separate": [s, s, r, r], "vae": [s, s, r, r]}  # switch 2 of 4
    for method, stages in expected.items():
        notes: list = []
        run(kernel, make(refiner=refiner, refiner_swap_method=method, refiner_switch=0.5), notes)
        first: dict[int, Stage] = {}  # the step's own report comes first (a stage change may follow it)
        for n in notes:
            if n.step and n.stage in (Stage.sampling, Stage.refining):
                first.setdefault(n.step, n.stage)
        assert first == dict(enumerate(stages, 1)), method


def _unet_calls(kernel, task) -> tuple[int, int]:
    """(base, refiner) UNet calls of one image (cond and uncond go through one batched call)."""
    run(kernel, task)  # loads both models
    calls = dict.fromkeys(("base", "refiner"), 0)

    def counter(name: str):
        def hook(module, args):
            calls[name] += 1

        return hook

    hooks = [getattr(kernel._models, n).pipe.unet.register_forward_pre_hook(counter(n)) for n in calls]
    try:
        run(kernel, task)
    finally:
        for h in hooks:
            h.remove()
    return calls["base"], calls["refiner"]


# Worked by hand from Fooocus (modules/sample_hijack.py, default_pipeline.py): joint swaps models in the
# step callback, which k-diffusion calls right after a step's first evaluation, so the base evaluates
# steps 0 … switch and any later evaluation of step `switch` is the refiner's; separate runs the base
# over sigmas[:switch + 1] and the refiner over sigmas[switch:]. heun evaluates twice per step, once on
# the step that ends at zero.
@pytest.mark.parametrize(
    ("method", "sampler", "steps", "fraction", "calls"),
    [
        ("joint", "euler", 6, 0.5, (4, 2)),  # switch 3: base steps 0-3
        ("joint", "dpmpp_2m", 6, 0.3, (3, 3)),  # switch round(1.8) = 2
        ("joint", "heun", 6, 0.5, (3 * 2 + 1, 1 + 2 + 1)),  # step 3's second evaluation is the refiner's
        ("joint", "euler", 4, 0.1, (1, 3)),  # switch round(0.4) = 0: the base still computes step 0
        ("separate", "euler", 6, 0.5, (3, 3)),
        ("separate", "heun", 6, 0.5, (3 * 2, 2 + 2 + 1)),  # the base's run ends at sigma_3, not zero
    ],
)
def test_each_model_gets_fooocus_share_of_the_evaluations(
    kernel, make, refiner, method, sampler, steps, fraction, calls
):
    task = make(
        refiner=refiner, refiner_swap_method=method, refiner_switch=fraction, sampler=sampler, steps=steps
    )
    assert _unet_calls(kernel, task) == calls


def test_a_joint_switch_on_the_last_step_leaves_the_refiner_nothing(kernel, make, refiner):
    # switch 3 of 4: Fooocus's base computes all four steps and swaps after the last one.
    res = run(kernel, make(refiner=refiner, refiner_switch=0.75))
    assert any("not used" in w for w in res.warnings)
    assert [i.data for i in res.images] == pixels(kernel, make())
    assert _unet_calls(
        kernel, make(refiner=refiner, refiner_switch=0.75, refiner_swap_method="separate")
    ) == (3, 1)


def test_a_refiner_that_is_the_base_or_gets_no_step_is_dropped_with_a_warning(
    kernel, make, tiny_models, refiner
):
    ref = pixels(kernel, make())
    same = run(kernel, make(refiner=ModelRef(name="again", path=tiny_models.sdxl_file)))
    assert [i.data for i in same.images] == ref and any("is the base model" in w for w in same.warnings)
    late = run(kernel, make(refiner=refiner, refiner_switch=1.0))
    assert [i.data for i in late.images] == ref and any("not used" in w for w in late.warnings)


def test_base_and_refiner_stay_loaded_together(kernel, make, refiner):
    run(kernel, make(refiner=refiner))
    loads = kernel.cache.loads
    run(kernel, make(refiner=refiner, task_id="again", seeds=[5]))
    assert kernel.cache.loads == loads and len(kernel.loaded_models()) == 2
    run(kernel, make(task_id="plain"))
    assert len(kernel.loaded_models()) == 1 and kernel.cache.loads == loads


def test_an_sd15_refiner_always_swaps_through_the_vae(kernel, make, tiny_models):
    sd15 = ModelRef(name="tiny-sd15", path=tiny_models.sd15_file)
    res = run(kernel, make(refiner=sd15, refiner_swap_method="joint", refiner_switch=0.5))
    assert any("became vae" in w for w in res.warnings)
    again = run(kernel, make(refiner=sd15, refiner_swap_method="vae", refiner_switch=0.5))
    assert [i.data for i in again.images] == [i.data for i in res.images]
    # Its prompts: the base's first-encoder features through that encoder's final layer norm.
    cond = kernel._prepared.refiner.cond.embeds
    base = kernel._prepared.base.cond.embeds
    norm = kernel._models.base.pipe.text_encoder.final_layer_norm
    assert torch.allclose(cond, norm(base[..., : cond.shape[-1]]), atol=1e-6)
    assert [i.data for i in res.images] != pixels(kernel, make())


def test_an_sdxl_refiner_for_an_sd15_base_is_refused(kernel, make, tiny_models, refiner):
    sd15 = ModelRef(name="tiny-sd15", path=tiny_models.sd15_file)
    with pytest.raises(KernelError) as exc:
        run(
            kernel, make(base_model=sd15, refiner=refiner, adm={"positive": 1.0, "negative": 1.0, "end": 0.0})
        )
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == "refiner"


def test_vae_swap_renoises_above_the_switch_level(kernel, make, refiner):
    task = make(refiner=refiner, refiner_swap_method="vae", refiner_switch=0.5)
    run(kernel, task)
    timesteps: list[float] = []
    hook = kernel._models.refiner.pipe.unet.register_forward_pre_hook(
        lambda m, args: timesteps.append(float(args[1]))
    )
    try:
        run(kernel, task)
    finally:
        hook.remove()
    table = kernel._prepared.refiner.sigmas
    sig = kernel._schedule(task, table, "sdxl")
    assert timesteps[0] == round(float(table.timestep(RENOISE * float(sig[2]))))  # nearest whole timestep
    assert len(timesteps) == 2
