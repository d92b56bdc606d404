"""Model kinds beyond plain epsilon SDXL: v-prediction (folder config or single-file marker), refusals."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from contract.events import FailureKind
from contract.task import ModelRef
from inference_worker.diffusers_kernel.conditioning.prompts import Conditioning
from inference_worker.diffusers_kernel.sampling.denoiser import ModelPass
from inference_worker.diffusers_kernel.sampling.sigmas import ModelSigmas
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import new_kernel, pixels, run, task_builder


class _VelocityUnet:
    """Returns the exact v for a known clean latent and noise, the way a perfect v-model would."""

    dtype, device = torch.float32, torch.device("cpu")

    def __init__(self, x0, noise, sigma):
        alpha, s = 1 / (1 + sigma**2) ** 0.5, sigma / (1 + sigma**2) ** 0.5
        self.v = alpha * noise - s * x0

    def __call__(self, x_in, t, **kwargs):
        return (self.v,)


def test_v_prediction_recovers_the_clean_latent():
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 8, 8, generator=gen), torch.randn(1, 4, 8, 8, generator=gen)
    sigma = 3.0
    cond = Conditioning(embeds=torch.zeros(1, 77, 8))
    table = ModelSigmas({})
    model = ModelPass(_VelocityUnet(x0, noise, sigma), table, cond, None, prediction="v_prediction")
    estimate, _, _ = model.predict(x0 + sigma * noise, sigma)
    assert torch.allclose(estimate, x0, atol=1e-5)


@pytest.fixture(scope="module")
def variants(tiny_models, tmp_path_factory):
    """A v-prediction copy of the tiny SDXL as a folder and as a single file with the `v_pred` marker."""
    root = tmp_path_factory.mktemp("vpred")
    folder = str(root / "tiny-vpred-diffusers")
    shutil.copytree(tiny_models.sdxl_dir, folder)
    config_path = os.path.join(folder, "scheduler", "scheduler_config.json")
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    config["prediction_type"] = "v_prediction"
    with open(config_path, "w", encoding="utf-8") as fh:
        json.dump(config, fh)

    def marked(marker: str) -> str:
        with safe_open(tiny_models.sdxl_file, "pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no iteration
            metadata = fh.metadata()
        tensors[marker] = torch.tensor([])
        path = str(root / f"tiny-{marker}.safetensors")
        save_file(tensors, path, metadata=metadata)
        return path

    return {"folder": folder, "file": marked("v_pred"), "ztsnr": marked("ztsnr")}


@pytest.fixture(scope="module")
def kernel():
    return new_kernel()


def test_v_prediction_models_run_from_folder_or_marked_file(kernel, tiny_models, variants):
    make = task_builder(tiny_models)
    eps = pixels(kernel, make())
    folder = pixels(kernel, make(base_model=ModelRef(name="vf", path=variants["folder"])))
    marked = pixels(kernel, make(base_model=ModelRef(name="vs", path=variants["file"])))
    assert folder != eps and marked == folder
    assert kernel._models.base.prediction == "v_prediction"


def test_zero_terminal_snr_is_refused_by_name(kernel, tiny_models, variants):
    make = task_builder(tiny_models)
    with pytest.raises(KernelError) as exc:
        run(kernel, make(base_model=ModelRef(name="z", path=variants["ztsnr"])))
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == "base_model.path"
    assert "zero-terminal-SNR" in exc.value.message
