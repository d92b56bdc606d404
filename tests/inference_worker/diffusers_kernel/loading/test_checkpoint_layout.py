"""Single-file checkpoints in the original layout load offline, as the folder does; unusable files are named."""

from __future__ import annotations

import os

import pytest
import torch

from contract.events import FailureKind
from inference_worker.diffusers_kernel.loading.models import load_model
from inference_worker.kernel import KernelError


def _load(path: str, **kw):
    return load_model(
        path, os.path.basename(path), dtype=torch.float32, device="cpu", allow_pickle=False, **kw
    )


def test_single_file_loads_the_same_weights_as_the_folder(tiny_models):
    from diffusers import StableDiffusionXLPipeline

    single = _load(tiny_models.sdxl_file).pipe
    folder = StableDiffusionXLPipeline.from_pretrained(tiny_models.sdxl_dir, local_files_only=True)
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        a, b = getattr(single, part).state_dict(), getattr(folder, part).state_dict()
        assert a.keys() == b.keys(), part
        assert all(torch.equal(a[k], b[k]) for k in a), part


def test_pickle_checkpoints_are_refused_unless_enabled(tiny_models, tmp_path):
    from safetensors.torch import load_file

    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(tiny_models.sdxl_file)}, ckpt)
    with pytest.raises(KernelError) as exc:
        _load(str(ckpt))
    assert exc.value.kind is FailureKind.unsupported and "--allow-pickle" in exc.value.message
    # Enabled, it is opened and read: this one has no embedded skeleton and is not full-size SDXL.
    with pytest.raises(KernelError) as exc:
        load_model(str(ckpt), "m", dtype=torch.float32, device="cpu", allow_pickle=True)
    assert "looks like sdxl but does not fit" in exc.value.message


def test_unusable_paths_are_clear_errors(tmp_path):
    with pytest.raises(KernelError) as exc:
        _load(str(tmp_path / "missing.safetensors"))
    assert exc.value.kind is FailureKind.unknown_model and exc.value.field == "base_model.path"
    (tmp_path / "folder").mkdir()
    with pytest.raises(KernelError, match="model_index.json"):
        _load(str(tmp_path / "folder"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(KernelError, match="not a .safetensors"):
        _load(str(tmp_path / "notes.txt"))
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(KernelError) as exc:
        _load(str(tmp_path / "broken.safetensors"))
    assert exc.value.kind is FailureKind.bad_request
