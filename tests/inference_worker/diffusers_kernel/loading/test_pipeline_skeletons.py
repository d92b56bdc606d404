"""The shipped SDXL / SD 1.5 skeletons describe the real architectures and load offline."""

from __future__ import annotations

import json

import pytest
import torch

from inference_worker.diffusers_kernel.loading import architecture, skeletons
from inference_worker.model_builders.checkpoint_keys import pipeline_state_dict

# Published parameter counts of the real models.
REAL_PARAMS = {
    "sdxl": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
    "sd15": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
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
            self.text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(f"{folder}/text_encoder"))
            self.text_encoder_2 = (
                CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(f"{folder}/text_encoder_2"))
                if arch == "sdxl"
                else None
            )


@pytest.mark.parametrize("arch", ["sdxl", "sd15"])
def test_shipped_skeleton_has_the_real_architecture(arch):
    pipe = _MetaPipe(arch)
    for part, count in REAL_PARAMS[arch].items():
        assert sum(p.numel() for p in getattr(pipe, part).parameters()) == count, part
    # Through the project's key mapping, the real shapes are recognised and fit the skeleton.
    shapes = {k: tuple(v.shape) for k, v in pipeline_state_dict(pipe).items()}
    assert architecture.detect(shapes) == arch
    assert architecture.mismatch(shapes, arch, skeletons.shipped_skeleton(arch)) is None
    other = "sd15" if arch == "sdxl" else "sdxl"
    assert architecture.mismatch(shapes, other, skeletons.shipped_skeleton(other)) is not None


def test_shipped_tokenizers_are_clips():
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(skeletons.shipped_skeleton("sdxl") + "/tokenizer")
    tok_2 = CLIPTokenizer.from_pretrained(skeletons.shipped_skeleton("sdxl") + "/tokenizer_2")
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == 49408
    padded = tok_2("a cat", padding="max_length", max_length=6).input_ids
    assert padded == [49406, 320, 2368, 49407, 0, 0]


def test_detection_refuses_other_architectures():
    unet = {"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}
    cases = {
        "2.x": {**unet, "cond_stage_model.model.token_embedding.weight": (49408, 1024)},
        "refiner": {**unet, "conditioner.embedders.0.model.text_projection": (1280, 1280)},
        "inpainting": {"model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)},
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
