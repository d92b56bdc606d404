"""The SDXL refiner architecture as the refiner of an SDXL base, checked against references we did not write.

What its UNet receives is compared with diffusers' own refiner pipeline (StableDiffusionXLImg2ImgPipeline
with `requires_aesthetics_score`: its default aesthetic scores and its time-id layout) and with Fooocus's
documented conditioning (ComfyUI's SDXLRefiner.encode_adm: [height, width, crop top, crop left, score],
6 for the positive prompt, 2.5 for the negative), and its prompt features with the base's OpenCLIP-G
encoder run directly through transformers.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from contract.events import FailureKind
from contract.task import ModelRef
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import new_kernel, pixels, run
from tests.tiny_models import tiny_refiner

PROMPT, NEGATIVE = "a lighthouse at dusk", "blurry"


@pytest.fixture(scope="module")
def kernel():
    return new_kernel(cache=2)


@pytest.fixture(scope="module")
def refiner(tiny_models):
    return ModelRef(name="tiny-sdxl-refiner", path=tiny_refiner(tiny_models))


def _record(unet) -> tuple[list[dict], object]:
    calls: list[dict] = []

    def hook(_module, _args, kwargs):
        added = kwargs["added_cond_kwargs"]
        calls.append({"embeds": kwargs["encoder_hidden_states"].detach().clone(),
                      "time_ids": added["time_ids"].detach().clone(),
                      "text_embeds": added["text_embeds"].detach().clone()})

    return calls, unet.register_forward_pre_hook(hook, with_kwargs=True)


def _openclip_g(base_pipe, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate hidden states, projected pooled vector) of the base's second encoder, via transformers."""
    tok, enc = base_pipe.tokenizer_2, base_pipe.text_encoder_2
    ids = tok(text, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        out = enc(ids, output_hidden_states=True)
    return out.hidden_states[-2].float(), out.text_embeds.float()


def test_the_refiner_unet_gets_the_aesthetic_score_and_the_bases_openclip_g_features(kernel, make, refiner):
    task = make(refiner=refiner, refiner_switch=0.5, positive=[PROMPT], negative=[NEGATIVE])
    run(kernel, task)  # loads both models
    models = kernel._models
    assert models.refiner.arch == "sdxl_refiner" and models.plan.method == "joint" and models.plan.same_latents
    assert models.refiner.pipe.text_encoder_2 is None  # never used: Fooocus conditions it on the base's encoding
    calls, handle = _record(models.refiner.pipe.unet)
    base_calls, base_handle = _record(models.base.pipe.unet)
    try:
        run(kernel, make(task_id="again", refiner=refiner, refiner_switch=0.5, positive=[PROMPT], negative=[NEGATIVE]))
    finally:
        handle.remove()
        base_handle.remove()
    assert calls and base_calls

    # diffusers' refiner pipeline: its default scores and its own add_time_ids for a 64×64 image, no crop.
    reference_pipe = _diffusers_refiner(models.refiner.pipe.unet)
    defaults = inspect.signature(type(reference_pipe).__call__).parameters
    score, negative_score = defaults["aesthetic_score"].default, defaults["negative_aesthetic_score"].default
    pos_ids, neg_ids = reference_pipe._get_add_time_ids(
        (64, 64), (0, 0), (64, 64), score, negative_score, (64, 64), (0, 0), (64, 64), torch.float32,
        text_encoder_projection_dim=models.base.pipe.text_encoder_2.config.projection_dim,
    )
    fooocus = torch.tensor([[64.0, 64.0, 0.0, 0.0, 6.0], [64.0, 64.0, 0.0, 0.0, 2.5]])
    assert torch.equal(torch.cat([pos_ids, neg_ids]), fooocus)
    feats, pooled = _openclip_g(models.base.pipe, PROMPT)
    neg_feats, neg_pooled = _openclip_g(models.base.pipe, NEGATIVE)
    for call in calls:  # one batched call per evaluation: positive, then negative
        assert torch.equal(call["time_ids"], fooocus)
        assert torch.allclose(call["embeds"], torch.cat([feats, neg_feats]), atol=1e-5)
        assert torch.allclose(call["text_embeds"], torch.cat([pooled, neg_pooled]), atol=1e-5)
    # The base keeps SDXL's six time ids (no aesthetic score) and both encoders' features.
    assert all(c["time_ids"].shape == (2, 6) and c["embeds"].shape[-1] == 32 + 48 for c in base_calls)


def _diffusers_refiner(unet):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    return StableDiffusionXLImg2ImgPipeline(
        vae=None, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None, unet=unet,
        scheduler=EulerDiscreteScheduler(), requires_aesthetics_score=True,
    )


def test_every_swap_method_runs_in_the_shared_latent_space(kernel, make, refiner):
    base_only = pixels(kernel, make())
    out = {}
    for method in ("joint", "separate", "vae"):
        result = run(kernel, make(refiner=refiner, refiner_swap_method=method, refiner_switch=0.5))
        assert not any("became vae" in w for w in result.warnings), method  # same latent space: kept
        assert kernel._prepared.refiner.evaluations > 0, method
        out[method] = [i.data for i in result.images]
    assert all(images != base_only for images in out.values())
    assert out["vae"] != out["joint"]


def test_a_refiner_architecture_file_is_no_base_and_needs_an_sdxl_base(kernel, make, tiny_models, refiner):
    with pytest.raises(KernelError) as exc:
        run(kernel, make(base_model=refiner))
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == "base_model.path"
    assert "refiner-architecture" in exc.value.message
    sd15 = ModelRef(name="tiny-sd15", path=tiny_models.sd15_file)
    neutral = {"positive": 1.0, "negative": 1.0, "end": 0.0}
    with pytest.raises(KernelError) as exc:
        run(kernel, make(base_model=sd15, refiner=refiner, adm=neutral))
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == "refiner"


def test_a_refiner_file_without_its_own_configuration_is_recognised_from_its_tensor_names(
    kernel, make, refiner, tmp_path, monkeypatch
):
    """A user's refiner carries weights only: the worker tells the architecture from the tensor names and
    takes the shipped `sdxl_refiner` skeleton (here a folder of the tiny one, through REMGO_MODEL_CONFIGS)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from inference_worker.model_builders.small_pipelines import small_skeleton_files, write_files

    write_files(str(tmp_path / "configs" / "sdxl_refiner"), small_skeleton_files("sdxl_refiner"))
    monkeypatch.setenv("REMGO_MODEL_CONFIGS", str(tmp_path / "configs"))
    with safe_open(refiner.path, "pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no iteration
    bare = str(tmp_path / "sd_xl_refiner_bare.safetensors")
    save_file(tensors, bare)  # no metadata
    embedded = pixels(kernel, make(refiner=refiner, refiner_switch=0.5))
    assert pixels(kernel, make(refiner=ModelRef(name="bare", path=bare), refiner_switch=0.5)) == embedded
    assert kernel._models.refiner.arch == "sdxl_refiner"


def test_a_diffusers_refiner_folder_runs_like_the_single_file(kernel, make, refiner, tmp_path):
    """stabilityai/stable-diffusion-xl-refiner-1.0's layout: an img2img pipeline without a first encoder."""
    from inference_worker.diffusers_kernel.loading.models import load_model

    opened = load_model(refiner.path, "r", dtype=torch.float32, device="cpu", allow_pickle=False)
    folder = str(tmp_path / "refiner-diffusers")
    opened.pipe.save_pretrained(folder)
    single = pixels(kernel, make(refiner=refiner, refiner_switch=0.5))
    assert pixels(kernel, make(refiner=ModelRef(name="folder", path=folder), refiner_switch=0.5)) == single
    assert kernel._models.refiner.arch == "sdxl_refiner"
