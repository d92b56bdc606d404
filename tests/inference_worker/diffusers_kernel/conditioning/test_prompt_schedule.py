"""A per-step conditioning schedule on the tiny SDXL: at every UNet call the text it reads (hidden states and
pooled vector, positive and negative rows) is that of the prompt AUTOMATIC1111's rule names for that call,
each prompt encoded alone here for the comparison; the prompts by call are worked out by hand below. A
sampler that calls the model twice a step counts both calls, as A1111's denoiser does. A one-entry schedule
makes the plain task's bytes; each distinct prompt is encoded once; a kernel without schedules refuses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.events import FailureKind
from inference_worker.diffusers_kernel.conditioning import prompts, schedule
from inference_worker.kernel import KernelError, check_image_method
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run
from tests.inference_worker.diffusers_kernel.image_input.image_files import image_file
from tests.tiny_models import tiny_refiner


class TextCalls:
    """The text each UNet call reads: (hidden states, pooled vectors), one row per batch entry."""

    def __init__(self) -> None:
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, module, args, kwargs):
        self.seen.append((kwargs["encoder_hidden_states"].clone(), kwargs["added_cond_kwargs"]["text_embeds"].clone()))


def _entry(until: int, positive: str, negative: str) -> dict:
    return {"until_step": until, "positive": [positive], "negative": [negative]}


def _schedule_task(make, entries: list[dict], **fields):
    return make(positive=entries[0]["positive"], negative=entries[0]["negative"], prompt_schedule=entries, **fields)


def _reads(kernel, task) -> list[tuple[torch.Tensor, torch.Tensor]]:
    calls = TextCalls()
    kernel.check(task)
    kernel.load(task, _NoSink())
    handle = kernel._require_models().base.pipe.unet.register_forward_pre_hook(calls, with_kwargs=True)
    try:
        run(kernel, task)
    finally:
        handle.remove()
    return calls.seen


class _NoSink:
    def stage(self, stage) -> None: ...
    def step(self, step, total, preview=None) -> None: ...
    def wants_preview(self, step) -> bool: return False
    def warn(self, message) -> None: ...


def _alone(kernel, text: str) -> prompts.Conditioning:
    base = kernel._require_models().base
    return prompts.encode(base.pipe, base.arch, [text], 2)


def _assert_reads(kernel, seen, expected: list[tuple[str, str]]) -> None:
    assert len(seen) == len(expected)
    for call, ((hidden, pooled), (pos, neg)) in enumerate(zip(seen, expected, strict=True)):
        want_pos, want_neg = _alone(kernel, pos), _alone(kernel, neg)
        assert torch.equal(hidden[0], want_pos.embeds[0]), f"call {call}: not {pos!r}"
        assert torch.equal(hidden[1], want_neg.embeds[0]), f"call {call}: not {neg!r}"
        assert torch.equal(pooled[0], want_pos.pooled[0]) and torch.equal(pooled[1], want_neg.pooled[0]), call


def test_each_call_reads_the_prompt_the_schedule_names(kernel, make) -> None:
    # A1111's schedule of "a [cat:dog:2] [ugly:blurry:3]" at 4 steps: (2, cat/ugly) (3, dog/ugly) (4, dog/blurry).
    # Its denoiser counts calls from 0 and reads the first entry whose step is ≥ the count: calls 0, 1, 2 read
    # the first entry, call 3 the second (Euler: one call a step, 4 calls).
    entries = [_entry(2, "a cat", "ugly"), _entry(3, "a dog", "ugly"), _entry(4, "a dog", "blurry")]
    seen = _reads(kernel, _schedule_task(make, entries, steps=4, sampler="euler"))
    _assert_reads(kernel, seen, [("a cat", "ugly")] * 3 + [("a dog", "ugly")])


def test_a_sampler_with_two_calls_a_step_counts_both(kernel, make) -> None:
    # Heun, 3 steps: 2 + 2 + 1 calls (the last step to zero is Euler's). A1111 builds the schedule over twice
    # the steps; "[cat:dog:0.5]" over 6 is (3, cat) (6, dog): calls 0 … 3 read cat, call 4 reads dog.
    entries = [_entry(3, "a cat", "blurry"), _entry(6, "a dog", "blurry")]
    seen = _reads(kernel, _schedule_task(make, entries, steps=3, sampler="heun"))
    _assert_reads(kernel, seen, [("a cat", "blurry")] * 4 + [("a dog", "blurry")])


def test_alternation_reads_every_other_prompt(kernel, make) -> None:
    # "[cat|dog]" at 4 steps: (1, cat) (2, dog) (3, cat) (4, dog); calls 0, 1 → cat, 2 → dog, 3 → cat.
    entries = [_entry(1, "a cat", "x"), _entry(2, "a dog", "x"), _entry(3, "a cat", "x"), _entry(4, "a dog", "x")]
    seen = _reads(kernel, _schedule_task(make, entries, steps=4, sampler="euler_ancestral"))
    _assert_reads(kernel, seen, [("a cat", "x"), ("a cat", "x"), ("a dog", "x"), ("a cat", "x")])


def test_each_distinct_prompt_is_encoded_once(kernel, make, monkeypatch) -> None:
    encoded: list[tuple[str, ...]] = []
    real = schedule.encode

    def counting(pipe, arch, chunks, *args):
        encoded.append(tuple(chunks))
        return real(pipe, arch, chunks, *args)

    monkeypatch.setattr(schedule, "encode", counting)
    entries = [_entry(1, "a cat", "x"), _entry(2, "a dog", "x"), _entry(3, "a cat", "x"), _entry(4, "a dog", "x")]
    run(kernel, _schedule_task(make, entries, task_id="once", steps=4))
    assert sorted(encoded) == [("a cat",), ("a dog",), ("x",)]


def test_a_one_entry_schedule_makes_the_plain_tasks_bytes(kernel, make) -> None:
    plain = make(task_id="plain", sampler="dpmpp_2m", steps=3)
    scheduled = make(task_id="one", sampler="dpmpp_2m", steps=3,
                     prompt_schedule=[{"until_step": 3, "positive": plain.positive, "negative": plain.negative}])
    assert pixels(kernel, scheduled) == pixels(kernel, plain)


def test_a_kernel_without_schedules_refuses_by_name(make) -> None:
    class Plain:
        name = "plain"

        def image_methods(self):
            return {"tiling"}

    task = _schedule_task(make, [_entry(4, "a cat", "x")])
    with pytest.raises(KernelError) as refused:
        check_image_method(Plain(), task)
    assert refused.value.kind == FailureKind.unsupported and refused.value.field == "prompt_schedule"


def test_vary_counts_the_schedule_from_its_first_step(kernel, make) -> None:
    # AUTOMATIC1111's img2img (its steps fixed, as remgo's Vary runs them: `steps` steps on the tail of a longer
    # schedule) counts the denoiser's calls from the first step it runs: "[cat:dog:0.5]" over 4 steps is
    # (2, cat) (4, dog), so calls 0, 1, 2 read cat and call 3 dog, whatever the denoise.
    picture = np.full((64, 64, 3), 90, np.uint8)
    picture[16:48, 16:48] = (200, 40, 40)
    entries = [_entry(2, "a cat", "x"), _entry(4, "a dog", "x")]
    task = _schedule_task(make, entries, steps=4, sampler="euler",
                          image_input={"method": "vary", "image": image_file(picture), "denoise": 0.5})
    seen = _reads(kernel, task)
    _assert_reads(kernel, seen, [("a cat", "x")] * 3 + [("a dog", "x")])


def test_the_hires_pass_reads_its_own_schedule_from_its_first_call(kernel, make) -> None:
    # AUTOMATIC1111 schedules the hires pass anew over its steps and restarts its denoiser's count: the first pass
    # (Euler, 2 steps) reads "a cat" twice; the second (3 steps) reads its entries (1, red) (3, blue) from call 0:
    # calls 0 and 1 red, call 2 blue.
    hires = {"width": 128, "height": 128, "upscaled_width": 128, "upscaled_height": 128,
             "upscaler": "Latent (nearest)", "steps": 3, "denoise": 0.5,
             "prompt_schedule": [_entry(1, "a red cat", "x"), _entry(3, "a blue cat", "x")]}
    task = _schedule_task(make, [_entry(2, "a cat", "x")], steps=2, sampler="euler", hires=hires)
    seen = _reads(kernel, task)
    _assert_reads(kernel, seen, [("a cat", "x")] * 2 + [("a red cat", "x")] * 2 + [("a blue cat", "x")])


def test_a_joint_refiner_continues_the_count_in_its_own_form(kernel, make, tiny_models) -> None:
    # Euler, 4 steps, switch 0.5: the base makes evaluations 0, 1, 2 (the first of step 2 included) and the
    # refiner evaluation 3, as A1111's refiner takes over in the same run, its denoiser's count going on. The
    # schedule (2, cat) (4, dog): the base reads cat three times, the refiner reads dog, in the refiner's form
    # (the SDXL refiner architecture takes the second text encoder's part of the base's encoding).
    task = _schedule_task(make, [_entry(2, "a cat", "x"), _entry(4, "a dog", "x")], steps=4, sampler="euler",
                          refiner={"name": "r", "path": tiny_refiner(tiny_models)}, refiner_switch=0.5)
    kernel.check(task)
    kernel.load(task, _NoSink())
    base_calls, refiner_calls = TextCalls(), TextCalls()
    models = kernel._require_models()
    handles = [models.base.pipe.unet.register_forward_pre_hook(base_calls, with_kwargs=True),
               models.refiner.pipe.unet.register_forward_pre_hook(refiner_calls, with_kwargs=True)]
    try:
        run(kernel, task)
    finally:
        for handle in handles:
            handle.remove()
    _assert_reads(kernel, base_calls.seen, [("a cat", "x")] * 3)
    width = int(models.base.pipe.text_encoder_2.config.hidden_size)
    (hidden, _pooled), = refiner_calls.seen
    dog, cat = _alone(kernel, "a dog").embeds[0, :, -width:], _alone(kernel, "a cat").embeds[0, :, -width:]
    assert torch.equal(hidden[0], dog) and not torch.equal(hidden[0], cat)
