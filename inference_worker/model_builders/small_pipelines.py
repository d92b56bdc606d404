"""Small random-weight SDXL, SDXL-refiner and SD 1.5 pipelines (and the 9-channel inpainting variants of
SDXL and SD 1.5): the demo model and the test models.

They keep the real architectures' shape rules (two text encoders of different widths feeding a
`text_time` UNet for SDXL; for its refiner the second encoder alone and five added time ids, the last
the aesthetic score; a four-level VAE so latents are 1/8 of the image) at a tiny size, and use a
character-level CLIP tokenizer written here, so nothing is downloaded. `write_files` writes the
diffusers folder without weights that single-file loading takes as `config=`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from inference_worker.diffusers_kernel.loading.skeletons import INDEXES

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes, in CLIP's vocabulary order:
    the bytes that print as themselves first, then the others mapped past U+0100."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    kept = set(keep)
    rest = [b for b in range(256) if b not in kept]
    return [chr(b) for b in keep] + [chr(256 + n) for n in range(len(rest))]


def char_vocab() -> dict[str, int]:
    """Every byte alone and as a word end, plus the two specials: 514 tokens, no merges."""
    chars = byte_alphabet()
    tokens = chars + [c + "</w>" for c in chars] + list(SPECIAL_TOKENS)
    return {tok: i for i, tok in enumerate(tokens)}


def tokenizer_files(pad_token: str = "<|endoftext|>") -> dict[str, str]:
    """File name → text of a CLIPTokenizer folder (CLIPTokenizer.from_pretrained reads it offline)."""
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": SPECIAL_TOKENS[0],
        "eos_token": SPECIAL_TOKENS[1],
        "unk_token": SPECIAL_TOKENS[1],
        "pad_token": pad_token,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": True,
    }
    specials = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    return {
        "vocab.json": json.dumps(char_vocab(), ensure_ascii=False),
        "merges.txt": "#version: 0.2\n",
        "tokenizer_config.json": json.dumps(config, indent=2),
        "special_tokens_map.json": json.dumps(specials, indent=2),
    }


# ----- component configs ---------------------------------------------------------------------------

VOCAB_SIZE = len(SPECIAL_TOKENS) + 512


def _clip_config(
    hidden: int, layers: int, heads: int, projection: int, act: str, with_projection: bool
) -> dict:
    return {
        "architectures": ["CLIPTextModelWithProjection" if with_projection else "CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_size": hidden,
        "intermediate_size": hidden * 4,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "max_position_embeddings": 77,
        "vocab_size": VOCAB_SIZE,
        "projection_dim": projection,
        "hidden_act": act,
        "layer_norm_eps": 1e-5,
        # eos_token_id 2 keeps CLIP's "pool at the highest token id" rule: the end token is the last id.
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
    }


def _vae_config(scaling_factor: float, width: int = 32) -> dict:
    return {
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": [width // 2, width // 2, width, width],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "act_fn": "silu",
        "sample_size": 64,
        "scaling_factor": scaling_factor,
    }


SCHEDULER_CONFIG = {
    "_class_name": "EulerDiscreteScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}

ADD_TIME_DIM = 8


def small_sdxl_configs(width: int = 32, *, light: bool = False) -> dict[str, dict]:
    """`width` (a multiple of 32) scales every part; the text encoders get different widths on purpose:
    single-file loading tells them apart by their position-embedding width.

    `light` adds a third UNet level and keeps attention at 1/4 of the latent size only: at Fooocus's
    default 1152×896 the two-level model spends most of a CPU step on 4,032-token self-attention, the
    light one about 16× less (the demo model uses it so `make run` answers in reasonable time on a CPU).
    """
    te1, te2 = width, width * 3 // 2
    unet = {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [width, width * 2],
        "layers_per_block": 2,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "attention_head_dim": [2, 4],
        "transformer_layers_per_block": [1, 2],
        "use_linear_projection": True,
        "cross_attention_dim": te1 + te2,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": ADD_TIME_DIM,
        "projection_class_embeddings_input_dim": 6 * ADD_TIME_DIM + te1,
        "norm_num_groups": 32,
    }
    if light:
        unet.update(
            block_out_channels=[width, width, width * 2],
            down_block_types=["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
            attention_head_dim=[2, 2, 4],
            transformer_layers_per_block=[1, 1, 1],
        )
    return {
        "unet": unet,
        "vae": _vae_config(0.13025, width),
        "text_encoder": _clip_config(te1, 2, 4, te1, "quick_gelu", with_projection=False),
        "text_encoder_2": _clip_config(te2, 2, 4, te1, "gelu", with_projection=True),
        "scheduler": SCHEDULER_CONFIG,
    }


def small_sdxl_refiner_configs(width: int = 32) -> dict[str, dict]:
    """A refiner for `small_sdxl_configs(width)`: its UNet takes that base's second-encoder features
    (cross-attention width) and pooled vector, plus five time ids (size, crop, aesthetic score)."""
    base = small_sdxl_configs(width)
    te2 = base["text_encoder_2"]
    unet = {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [width, width * 2, width * 2],
        "layers_per_block": 2,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "attention_head_dim": [2, 4, 4],
        "transformer_layers_per_block": 2,
        "use_linear_projection": True,
        "cross_attention_dim": te2["hidden_size"],
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": ADD_TIME_DIM,
        "projection_class_embeddings_input_dim": 5 * ADD_TIME_DIM + te2["projection_dim"],
        "norm_num_groups": 32,
    }
    return {"unet": unet, "vae": base["vae"], "text_encoder_2": te2, "scheduler": SCHEDULER_CONFIG}


def small_sd15_configs() -> dict[str, dict]:
    unet = {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [32, 64],
        "layers_per_block": 2,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "attention_head_dim": 8,
        "use_linear_projection": False,
        "cross_attention_dim": 32,
        "norm_num_groups": 32,
    }
    return {
        "unet": unet,
        "vae": _vae_config(0.18215),
        "text_encoder": _clip_config(32, 2, 4, 32, "quick_gelu", with_projection=False),
        "scheduler": SCHEDULER_CONFIG,
    }


# ----- folders and pipelines -----------------------------------------------------------------------


def configs_arch(configs: dict[str, dict]) -> str:
    """Which pipeline a set of component configs makes, by its text encoders."""
    if "text_encoder" not in configs:
        return "sdxl_refiner"
    return "sdxl" if "text_encoder_2" in configs else "sd15"


def skeleton_files(configs: dict[str, dict], tokenizers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Relative path → text of a weightless diffusers pipeline folder."""
    files = {"model_index.json": json.dumps(INDEXES[configs_arch(configs)], indent=2)}
    for name, config in configs.items():
        file = "scheduler_config.json" if name == "scheduler" else "config.json"
        files[f"{name}/{file}"] = json.dumps(config, indent=2)
    for name, tok_files in tokenizers.items():
        for file, text in tok_files.items():
            files[f"{name}/{file}"] = text
    return files


INPAINT_UNET_INPUTS = 9  # latent 4 + mask 1 + masked-image latent 4, as SDXL / SD 1.5 inpainting models


def inpainting(configs: dict[str, dict]) -> dict[str, dict]:
    """The inpainting variant of a base's configs: the same model, its UNet's first convolution reading 9
    channels (the layout of sd-xl-1.0-inpainting-0.1 and SD 1.5 inpainting)."""
    return {**configs, "unet": {**configs["unet"], "in_channels": INPAINT_UNET_INPUTS}}


def small_skeleton_files(arch: str, width: int = 32, *, light: bool = False,
                         inpaint: bool = False) -> dict[str, str]:
    """`inpaint`: the 9-channel inpainting variant (SDXL and SD 1.5)."""
    if inpaint and arch not in ("sdxl", "sd15"):
        raise ValueError(f"no inpainting variant of {arch!r}; SDXL and SD 1.5 have one")
    variant = inpainting if inpaint else (lambda configs: configs)
    if arch == "sdxl":
        tokenizers = {"tokenizer": tokenizer_files(), "tokenizer_2": tokenizer_files(pad_token="!")}
        return skeleton_files(variant(small_sdxl_configs(width, light=light)), tokenizers)
    if arch == "sd15":
        return skeleton_files(variant(small_sd15_configs()), {"tokenizer": tokenizer_files()})
    if arch == "sdxl_refiner":
        tokenizers = {"tokenizer_2": tokenizer_files(pad_token="!")}
        return skeleton_files(small_sdxl_refiner_configs(width), tokenizers)
    raise ValueError(f"unknown architecture {arch!r}; expected sdxl, sd15 or sdxl_refiner")


def write_files(folder: str, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return folder


def build_pipeline(skeleton_dir: str, seed: int = 0) -> Any:
    """A random-weight pipeline from a skeleton folder (weights drawn from `seed`, float32)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    def sub(name: str) -> str:
        return os.path.join(skeleton_dir, name)

    torch.manual_seed(seed)
    parts: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(sub("unet"))),
        "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(sub("vae"))),
        "scheduler": EulerDiscreteScheduler.from_pretrained(sub("scheduler")),
    }
    if not os.path.isdir(sub("text_encoder")):  # the SDXL refiner
        pipe = StableDiffusionXLImg2ImgPipeline(
            **parts, text_encoder=None, tokenizer=None,
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(sub("text_encoder_2"))),
            tokenizer_2=CLIPTokenizer.from_pretrained(sub("tokenizer_2")),
            requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
        )  # fmt: skip
        for module in (pipe.unet, pipe.vae, pipe.text_encoder_2):
            module.eval()
        return pipe
    parts["text_encoder"] = CLIPTextModel(CLIPTextConfig.from_pretrained(sub("text_encoder")))
    parts["tokenizer"] = CLIPTokenizer.from_pretrained(sub("tokenizer"))
    if os.path.isdir(sub("text_encoder_2")):
        parts["text_encoder_2"] = CLIPTextModelWithProjection(
            CLIPTextConfig.from_pretrained(sub("text_encoder_2"))
        )
        parts["tokenizer_2"] = CLIPTokenizer.from_pretrained(sub("tokenizer_2"))
        pipe = StableDiffusionXLPipeline(**parts)
    else:
        pipe = StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
        if module is not None:
            module.eval()
    return pipe
