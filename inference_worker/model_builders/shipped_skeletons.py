"""Write the shipped pipeline skeletons, `catalog/model_configs/{sdxl,sd15,sdxl_refiner}`:

    python -m inference_worker.model_builders.shipped_skeletons [--bpe PATH] [--dest FOLDER]

They describe the real Stable Diffusion XL 1.0 (base and refiner) and 1.5 architectures: the configs
below (the refiner's from Stability's `sd_xl_refiner.yaml`: model channels 384, channel multipliers
1, 2, 4, 4 with attention at the middle two levels, transformer depth 4, heads of 64 channels, context
1280, ADM input 2560), and tokenizer
files from CLIP's byte-pair vocabulary, which the `clip-anytorch` package ships
(`bpe_simple_vocab_16e6.txt.gz`, MIT licence). The kernel reads them through
`inference_worker.diffusers_kernel.loading.skeletons`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os

from inference_worker.diffusers_kernel.loading.skeletons import configs_root
from inference_worker.model_builders.small_pipelines import SCHEDULER_CONFIG, byte_alphabet, skeleton_files

# ----- the real architectures ------------------------------------------------------------------------


def _clip(hidden: int, layers: int, heads: int, inter: int, act: str, projection: bool) -> dict:
    return {
        "architectures": ["CLIPTextModelWithProjection" if projection else "CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
        "projection_dim": hidden if projection else 768,
        "hidden_act": act,
        "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
    }


def _vae(scaling_factor: float, sample_size: int) -> dict:
    return {
        "_class_name": "AutoencoderKL",
        "act_fn": "silu",
        "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "sample_size": sample_size,
        "scaling_factor": scaling_factor,
        "force_upcast": True,
    }


# SDXL's base UNet; the refiner's has the same keys with other values.
_SDXL_UNET = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-5,
    "norm_num_groups": 32,
    "projection_class_embeddings_input_dim": 2816,
    "sample_size": 128,
    "transformer_layers_per_block": [1, 2, 10],
    "use_linear_projection": True,
}


def sdxl_configs() -> dict[str, dict]:
    unet = dict(_SDXL_UNET)
    return {
        "unet": unet,
        "vae": _vae(0.13025, 1024),
        "text_encoder": _clip(768, 12, 12, 3072, "quick_gelu", projection=False),
        "text_encoder_2": _clip(1280, 32, 20, 5120, "gelu", projection=True),
        "scheduler": SCHEDULER_CONFIG,
    }


def sdxl_refiner_configs() -> dict[str, dict]:
    unet = {
        **_SDXL_UNET,
        "attention_head_dim": [6, 12, 24, 24],
        "block_out_channels": [384, 768, 1536, 1536],
        "cross_attention_dim": 1280,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "projection_class_embeddings_input_dim": 2560,
        "transformer_layers_per_block": 4,
    }
    return {
        "unet": unet,
        "vae": _vae(0.13025, 1024),
        "text_encoder_2": _clip(1280, 32, 20, 5120, "gelu", projection=True),
        "scheduler": SCHEDULER_CONFIG,
    }


def sd15_configs() -> dict[str, dict]:
    unet = {
        "_class_name": "UNet2DConditionModel",
        "act_fn": "silu",
        "attention_head_dim": 8,
        "block_out_channels": [320, 640, 1280, 1280],
        "cross_attention_dim": 768,
        "down_block_types": [
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-5,
        "norm_num_groups": 32,
        "sample_size": 64,
        "use_linear_projection": False,
    }
    return {
        "unet": unet,
        "vae": _vae(0.18215, 512),
        "text_encoder": _clip(768, 12, 12, 3072, "quick_gelu", projection=False),
        "scheduler": SCHEDULER_CONFIG,
    }


# ----- CLIP's tokenizer files -----------------------------------------------------------------------

CLIP_MERGES = 49152 - 256 - 2


def clip_tokenizer_files(bpe_gz_path: str, pad_token: str) -> dict[str, str]:
    """vocab.json / merges.txt for CLIPTokenizer from CLIP's original merge list."""
    with gzip.open(bpe_gz_path, "rt", encoding="utf-8") as fh:
        merges = fh.read().split("\n")[1 : CLIP_MERGES + 1]
    chars = byte_alphabet()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split(" ")) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        "errors": "replace",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
        "clean_up_tokenization_spaces": True,
    }
    specials = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    return {
        "vocab.json": json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n",
        "tokenizer_config.json": json.dumps(config, indent=2),
        "special_tokens_map.json": json.dumps(specials, indent=2),
    }


def write_shipped(dest: str, bpe_gz_path: str) -> None:
    """Write catalog/model_configs/{sdxl,sd15,sdxl_refiner}; the big vocabulary files are stored once and
    linked."""
    tok = clip_tokenizer_files(bpe_gz_path, pad_token="<|endoftext|>")
    tok_2 = clip_tokenizer_files(bpe_gz_path, pad_token="!")
    shared = os.path.join(dest, "clip-bpe")
    os.makedirs(shared, exist_ok=True)
    for big in ("vocab.json", "merges.txt"):
        with open(os.path.join(shared, big), "w", encoding="utf-8") as fh:
            fh.write(tok[big])
    layouts = {
        "sdxl": skeleton_files(sdxl_configs(), {"tokenizer": tok, "tokenizer_2": tok_2}),
        "sd15": skeleton_files(sd15_configs(), {"tokenizer": tok}),
        "sdxl_refiner": skeleton_files(sdxl_refiner_configs(), {"tokenizer_2": tok_2}),
    }
    for arch, files in layouts.items():
        for rel, text in files.items():
            path = os.path.join(dest, arch, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.remove(path)
            if os.path.basename(rel) in ("vocab.json", "merges.txt"):
                os.symlink(
                    os.path.relpath(os.path.join(shared, os.path.basename(rel)), os.path.dirname(path)), path
                )
            else:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text + ("" if text.endswith("\n") else "\n"))


def _find_bpe() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("clip")
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "bpe_simple_vocab_16e6.txt.gz")
        if os.path.isfile(path):
            return path
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="write the shipped SDXL, SDXL refiner and SD 1.5 skeletons")
    p.add_argument(
        "--bpe", default=None, help="CLIP's bpe_simple_vocab_16e6.txt.gz (default: from clip-anytorch)"
    )
    p.add_argument("--dest", default=configs_root())
    args = p.parse_args(argv)
    bpe = args.bpe or _find_bpe()
    if not bpe:
        raise SystemExit("no CLIP vocabulary: pass --bpe or install clip-anytorch")
    write_shipped(args.dest, bpe)
    print(f"wrote {args.dest}/sdxl, {args.dest}/sd15 and {args.dest}/sdxl_refiner")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
