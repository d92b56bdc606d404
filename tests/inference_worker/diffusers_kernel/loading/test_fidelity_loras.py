"""LoRAs: kohya and diffusers/peft files, on the UNet and both text encoders, weights, no leaks, no reloads."""

from __future__ import annotations

import pytest
import torch

from contract.task import LoraSpec
from inference_worker.diffusers_kernel.conditioning import prompts
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    pixels,
    run,
)


@pytest.fixture(scope="module")
def files(tiny_models):
    return build_fidelity_files(tiny_models)


def lora(path: str, weight: float = 1.0) -> LoraSpec:
    return LoraSpec(name=path.rsplit("/", 1)[-1], path=path, weight=weight)


def _encoder_outputs(kernel) -> tuple[torch.Tensor, torch.Tensor]:
    pipe = kernel._models.base.pipe
    ids = torch.tensor([prompts._empty_row(pipe.tokenizer)])
    with torch.no_grad():
        return pipe.text_encoder(ids).last_hidden_state, pipe.text_encoder_2(ids).last_hidden_state


def test_each_format_reaches_the_modules_it_names(kernel, make, tiny_models, files):
    run(kernel, make())
    te1, te2 = _encoder_outputs(kernel)
    run(kernel, make(loras=[lora(tiny_models.lora_file)]))  # kohya: UNet + first encoder
    k1, k2 = _encoder_outputs(kernel)
    assert not torch.equal(k1, te1) and torch.equal(k2, te2)
    run(kernel, make(loras=[lora(files.lora_te2)]))  # kohya: second encoder only
    k1, k2 = _encoder_outputs(kernel)
    assert torch.equal(k1, te1) and not torch.equal(k2, te2)
    run(kernel, make(loras=[lora(files.lora_peft)]))  # peft: UNet + both encoders
    p1, p2 = _encoder_outputs(kernel)
    assert not torch.equal(p1, te1) and not torch.equal(p2, te2)
    run(kernel, make())
    assert all(torch.equal(a, b) for a, b in zip(_encoder_outputs(kernel), (te1, te2), strict=True))


def test_weights_scale_and_zero_is_neutral(kernel, make, files):
    ref = pixels(kernel, make())
    out = {w: pixels(kernel, make(loras=[lora(files.lora_peft, w)])) for w in (-2.0, -0.5, 0.5, 2.0)}
    assert len({ref[0], *(v[0] for v in out.values())}) == 5
    assert pixels(kernel, make(loras=[lora(files.lora_peft, 0.0)])) == ref


def test_switching_loras_never_reloads_the_base_and_never_leaks(kernel, make, tiny_models, files):
    ref = pixels(kernel, make())
    loads = kernel.cache.loads
    both = pixels(kernel, make(loras=[lora(tiny_models.lora_file, 0.7), lora(files.lora_te2, -1.0)]))
    only_te2 = pixels(kernel, make(loras=[lora(files.lora_te2, -1.0)]))
    assert len({ref[0], both[0], only_te2[0]}) == 3
    assert pixels(kernel, make(loras=[lora(tiny_models.lora_file, 0.7), lora(files.lora_te2, -1.0)])) == both
    assert pixels(kernel, make()) == ref
    assert kernel.cache.loads == loads
