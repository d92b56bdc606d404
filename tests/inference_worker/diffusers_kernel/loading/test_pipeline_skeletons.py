"""The shipped SDXL / SD 1.5 / SDXL-refiner skeletons describe the real architectures and load offline."""

from __future__ import annotations

import json

import pytest
import torch

from inference_worker.diffusers_kernel.loading import architecture, skeletons
from inference_worker.model_builders.checkpoint_keys import UNET_PREFIX, pipeline_state_dict

# Published parameter counts of the real models.
REAL_PARAMS = {
    "sdxl": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    # The refiner's VAE and OpenCLIP bigG encoder are SDXL's (its UNet is checked by structure below).
    "sdxl_refiner": {"vae": 83_653_863, "text_encoder_2": 694_659_840},
}


class _MetaPipe:
    """The real-size components on the meta device: shapes without memory."""

    def __init__(self, arch: str) -> None:
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        folder = skeletons.shipped_skeleton(arch)
        with torch.device("meta"):
            self.unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(f"{folder}/unet"))
            self.vae = AutoencoderKL.from_config(AutoencoderKL.load_config(f"{folder}/vae"))
            self.text_encoder = (
                None if arch == "sdxl_refiner"
                else CLIPTextModel(CLIPTextConfig.from_pretrained(f"{folder}/text_encoder"))
            )  # fmt: skip
            self.text_encoder_2 = (
                CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(f"{folder}/text_encoder_2"))
                if arch != "sd15"
                else None
            )


@pytest.mark.parametrize("arch", ["sdxl", "sd15", "sdxl_refiner"])
def test_shipped_skeleton_has_the_real_architecture(arch):
    pipe = _MetaPipe(arch)
    for part, count in REAL_PARAMS[arch].items():
        assert sum(p.numel() for p in getattr(pipe, part).parameters()) == count, part
    # Through the project's key mapping, the real shapes are recognised and fit the skeleton.
    shapes = {k: tuple(v.shape) for k, v in pipeline_state_dict(pipe).items()}
    assert architecture.detect(shapes) == arch
    assert architecture.mismatch(shapes, arch, skeletons.shipped_skeleton(arch)) is None
    for other in {"sdxl", "sd15", "sdxl_refiner"} - {arch}:
        assert architecture.mismatch(shapes, other, skeletons.shipped_skeleton(other)) is not None, other


def test_shipped_refiner_unet_is_stabilitys_sd_xl_refiner():
    """Against Stability's sd_xl_refiner.yaml (generative-models), read in the original key layout as
    ComfyUI (and so Fooocus) reads it: model channels 384, channel multipliers 1, 2, 4, 4, transformer
    depth 4 at the middle two levels and in the middle block ([0, 0, 4, 4, 4, 4, 0, 0] over the input
    resnet blocks, the downsamplers between levels left out), context 1280, ADM input 2560, heads of 64
    channels."""
    pipe = _MetaPipe("sdxl_refiner")
    shapes = {k[len(UNET_PREFIX):]: tuple(v.shape) for k, v in pipeline_state_dict(pipe).items()
              if k.startswith(UNET_PREFIX)}

    def depth(block: str) -> int:
        prefix = f"{block}.1.transformer_blocks."
        return len({k[len(prefix):].split(".")[0] for k in shapes if k.startswith(prefix)})

    resnet_blocks = (1, 2, 4, 5, 7, 8, 10, 11)  # 0 is conv_in, 3, 6 and 9 downsample
    assert [depth(f"input_blocks.{i}") for i in resnet_blocks] == [0, 0, 4, 4, 4, 4, 0, 0]
    assert depth("middle_block") == 4
    assert [depth(f"output_blocks.{i}") for i in range(12)] == [0, 0, 0, 4, 4, 4, 4, 4, 4, 0, 0, 0]
    assert shapes["input_blocks.0.0.weight"] == (384, 4, 3, 3)
    assert [shapes[f"input_blocks.{i}.0.in_layers.2.weight"][0] for i in (1, 4, 7, 10)] == [384, 768, 1536, 1536]
    assert shapes["label_emb.0.0.weight"] == (1536, 2560)
    assert shapes["input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight"] == (768, 1280)
    assert {a.inner_dim // a.heads for a in _attentions(pipe.unet)} == {64}


def _attentions(unet):
    from diffusers.models.attention_processor import Attention

    return [m for m in unet.modules() if isinstance(m, Attention)]


def test_shipped_tokenizers_are_clips():
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(skeletons.shipped_skeleton("sdxl") + "/tokenizer")
    tok_2 = CLIPTokenizer.from_pretrained(skeletons.shipped_skeleton("sdxl") + "/tokenizer_2")
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == 49408
    padded = tok_2("a cat", padding="max_length", max_length=6).input_ids
    assert padded == [49406, 320, 2368, 49407, 0, 0]
    refiner = CLIPTokenizer.from_pretrained(skeletons.shipped_skeleton("sdxl_refiner") + "/tokenizer_2")
    assert refiner("a cat", padding="max_length", max_length=6).input_ids == padded


def test_detection_refuses_other_architectures():
    unet = {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}
    cases = {
        "2.x": {**unet, "cond_stage_model.model.token_embedding.weight": (49408, 1024)},
        "8 input channels": {"model.diffusion_model.input_blocks.0.0.weight": (320, 8, 3, 3)},
        "VAE, not a checkpoint": {"encoder.conv_in.weight": (128, 3, 3, 3)},
        "LoRA, not a checkpoint": {"lora_unet_mid_block_attn2_to_k.lora_down.weight": (4, 2048)},
        "no Stable Diffusion UNet": {"something.else": (3,)},
    }
    for words, shapes in cases.items():
        with pytest.raises(architecture.ArchitectureError, match=words):
            architecture.detect(shapes)


def test_embedded_skeletons_are_validated():
    files = {"unet/config.json": "{}", "tokenizer/vocab.json": "{}"}
    arch, got = skeletons.embedded(skeletons.embed(files, "sdxl"))
    assert (
        arch == "sdxl" and json.loads(got["model_index.json"])["_class_name"] == "StableDiffusionXLPipeline"
    )
    bad = [
        {skeletons.EMBED_KEY: json.dumps({"../evil.py": "x"}), skeletons.ARCH_KEY: "sdxl"},
        {skeletons.EMBED_KEY: json.dumps({"unet/model.py": "x"}), skeletons.ARCH_KEY: "sdxl"},
        {skeletons.EMBED_KEY: json.dumps(files), skeletons.ARCH_KEY: "flux"},
    ]
    for metadata in bad:
        with pytest.raises(ValueError):
            skeletons.embedded(metadata)
    assert skeletons.embedded({}) is None
