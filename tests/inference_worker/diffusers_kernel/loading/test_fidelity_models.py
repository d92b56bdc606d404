"""Model kinds beyond plain epsilon SDXL: v-prediction (folder config, single-file marker or model-spec
metadata), and the files refused by name (zero-terminal SNR, Playground v2.5)."""

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
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run, task_builder


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

    def marked(*markers: str, name: str = "", **declared: str) -> str:
        with safe_open(tiny_models.sdxl_file, "pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no iteration
            metadata = fh.metadata()
        for marker in markers:
            tensors[marker] = torch.tensor([])
        path = str(root / f"tiny-{name or markers[0]}.safetensors")
        save_file(tensors, path, metadata={**metadata, **declared})
        return path

    return {
        "folder": folder,
        "file": marked("v_pred"),
        "ztsnr": marked("ztsnr"),
        "playground": marked("edm_mean", "edm_std", name="playground"),
        # Stability's model spec, as kohya's trainers write it for a v-parameterised model
        "declared": marked(name="declared-v", **{"modelspec.prediction_type": "v"}),
    }


def test_v_prediction_models_run_from_folder_or_marked_file(kernel, tiny_models, variants):
    make = task_builder(tiny_models)
    eps = pixels(kernel, make())
    folder = pixels(kernel, make(base_model=ModelRef(name="vf", path=variants["folder"])))
    marked = pixels(kernel, make(base_model=ModelRef(name="vs", path=variants["file"])))
    assert folder != eps and marked == folder
    assert kernel._models.base.prediction == "v_prediction"


def test_a_v_prediction_declared_only_in_the_metadata_runs_as_v_prediction(kernel, tiny_models, variants):
    make = task_builder(tiny_models)
    marked = pixels(kernel, make(base_model=ModelRef(name="vs", path=variants["file"])))
    assert pixels(kernel, make(base_model=ModelRef(name="vd", path=variants["declared"]))) == marked
    assert kernel._models.base.prediction == "v_prediction"


@pytest.mark.parametrize(
    ("variant", "words"), [("ztsnr", "zero-terminal-SNR"), ("playground", "Playground v2.5")]
)
def test_files_whose_sampling_remgo_does_not_run_are_refused_by_name(
    kernel, tiny_models, variants, variant, words
):
    make = task_builder(tiny_models)
    with pytest.raises(KernelError) as exc:
        run(kernel, make(base_model=ModelRef(name="z", path=variants[variant])))
    assert exc.value.kind is FailureKind.unsupported and exc.value.field == "base_model.path"
    assert words in exc.value.message and f"tiny-{variant}.safetensors" in exc.value.message
