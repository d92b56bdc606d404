"""Inpainting checkpoints (a UNet whose first convolution reads 9 channels: SDXL inpainting 0.1, SD 1.5
inpainting) open as users have them: a single original-layout file with no skeleton of its own takes its
family's shipped skeleton (here the tiny ones, through REMGO_MODEL_CONFIGS) with a 9-channel UNet, and its
first convolution holds the file's own weights."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors import safe_open

from contract.events import FailureKind
from inference_worker.diffusers_kernel.loading import skeletons
from inference_worker.diffusers_kernel.loading.models import load_model
from inference_worker.kernel import KernelError
from inference_worker.model_builders.demo_model import make_inpainting_model, save_single_file
from inference_worker.model_builders.small_pipelines import build_pipeline, small_skeleton_files, write_files

CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(int(os.environ.get("REMGO_TEST_THREADS", "1")))


@pytest.mark.parametrize("arch", ["sdxl", "sd15"])
def test_a_bare_inpainting_file_gets_its_familys_shipped_skeleton_with_a_9_channel_unet(tmp_path, monkeypatch,
                                                                                         arch) -> None:
    configs = tmp_path / "configs"
    write_files(str(configs / arch), small_skeleton_files(arch))  # the shipped skeleton: a 4-channel UNet
    monkeypatch.setenv("REMGO_MODEL_CONFIGS", str(configs))
    path = make_inpainting_model(str(tmp_path / f"{arch}-inpainting.safetensors"), arch, embed_skeleton=False)
    with safe_open(path, "pt") as fh:
        assert skeletons.embedded(fh.metadata() or {}) is None  # nothing but tensors, as users' files are
        written = fh.get_tensor(CONV_IN)
    assert tuple(written.shape)[1] == 9
    model = load_model(path, "inpainting", dtype=torch.float32, device="cpu", allow_pickle=False)
    assert model.arch == arch and model.pipe.unet.config.in_channels == 9
    assert torch.equal(model.pipe.unet.conv_in.weight, written)  # the file's weights, not a fresh layer
    assert skeletons.unet_inputs(str(configs / arch)) == 4  # the shipped folder itself is left as it is


def test_a_skeleton_whose_unet_reads_4_channels_does_not_fit_a_9_channel_file(tmp_path) -> None:
    # the UNet of the tiny SDXL inpainting model, saved with the plain model's (4-channel) embedded skeleton
    pipe = build_pipeline(write_files(str(tmp_path / "sk"), small_skeleton_files("sdxl", inpaint=True)))
    path = save_single_file(pipe, str(tmp_path / "wrong.safetensors"), "sdxl", small_skeleton_files("sdxl"))
    with pytest.raises(KernelError) as err:
        load_model(path, "wrong", dtype=torch.float32, device="cpu", allow_pickle=False)
    assert err.value.kind is FailureKind.unsupported
    assert "unet.in_channels: checkpoint has 9, configuration 4" in str(err.value)


def test_refiner_architecture_has_no_inpainting_variant() -> None:
    with pytest.raises(ValueError, match="no inpainting variant"):
        small_skeleton_files("sdxl_refiner", inpaint=True)
