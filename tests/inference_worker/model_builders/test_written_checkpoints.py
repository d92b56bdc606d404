"""Checkpoints the model builders write: original key names, their own skeleton, the demo model loads as SDXL."""

from __future__ import annotations

import os

import torch

from inference_worker.diffusers_kernel.loading.checkpoint_header import read_header
from inference_worker.diffusers_kernel.loading.models import load_model
from inference_worker.diffusers_kernel.loading.skeletons import ARCH_KEY, EMBED_KEY
from inference_worker.model_builders.demo_model import make_demo_model


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


def test_demo_model_is_a_loadable_sdxl_checkpoint(tmp_path):
    path = make_demo_model(str(tmp_path / "checkpoints" / "remgo-demo-sdxl.safetensors"))
    assert os.path.getsize(path) < 20 * 1024 * 1024
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["remgo-demo-sdxl.safetensors"]
    model = load_model(path, os.path.basename(path), dtype=torch.float32, device="cpu", allow_pickle=False)
    assert model.arch == "sdxl"
    image = model.pipe("noise", num_inference_steps=1, width=64, height=64, output_type="pil").images[0]
    assert image.size == (64, 64)
