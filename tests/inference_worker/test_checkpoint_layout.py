"""Single-file checkpoints in the original layout: written by the project's key mapping, loaded offline."""

from __future__ import annotations

import os

import pytest
import torch

from contract.events import FailureKind
from inference_worker.diffusers_kernel import loader
from inference_worker.diffusers_kernel.checkpoint_header import read_header
from inference_worker.diffusers_kernel.demo_model import make_demo_model
from inference_worker.diffusers_kernel.skeletons import ARCH_KEY, EMBED_KEY
from inference_worker.kernel import KernelError


def _load(path: str, **kw):
    return loader.load_model(
        path, os.path.basename(path), dtype=torch.float32, device="cpu", allow_pickle=False, **kw
    )


def test_single_file_uses_the_original_key_names(tiny_models):
    header = read_header(tiny_models.sdxl_file)
    shapes = header.shapes
    assert shapes["model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight"] == (64, 64)
    assert "model.diffusion_model.output_blocks.2.2.conv.weight" in shapes  # upsampler after an attention
    assert "model.diffusion_model.output_blocks.5.0.skip_connection.weight" in shapes
    assert shapes["first_stage_model.decoder.mid.attn_1.q.weight"] == (32, 32, 1, 1)
    assert "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" in shapes
    assert shapes["conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"] == (144, 48)
    assert shapes["conditioner.embedders.1.model.text_projection"] == (48, 32)
    assert header.metadata[ARCH_KEY] == "sdxl" and EMBED_KEY in header.metadata
    assert (
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
        in read_header(tiny_models.sd15_file).shapes
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
        loader.load_model(str(ckpt), "m", dtype=torch.float32, device="cpu", allow_pickle=True)
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


def test_demo_model_is_a_loadable_sdxl_checkpoint(tmp_path):
    path = make_demo_model(str(tmp_path / "checkpoints" / "remgo-demo-sdxl.safetensors"))
    assert os.path.getsize(path) < 20 * 1024 * 1024
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["remgo-demo-sdxl.safetensors"]
    model = _load(path)
    assert model.arch == "sdxl"
    image = model.pipe("noise", num_inference_steps=1, width=64, height=64, output_type="pil").images[0]
    assert image.size == (64, 64)
