"""Tiny random-weight models built at test time, laid out like `catalog/models`.

`tiny_models` (session fixture) → TinyModels with:
  root         models root: checkpoints/, loras/, vae/, embeddings/
  sdxl_file    checkpoints/tiny-sdxl.safetensors  (single file, original key layout)
  sd15_file    checkpoints/tiny-sd15.safetensors
  sdxl_dir     checkpoints/tiny-sdxl-diffusers/    (a diffusers folder)
  lora_file    loras/tiny-lora.safetensors         (kohya format: UNet + first text encoder)
  vae_file     vae/tiny-vae.safetensors            (a standalone SDXL VAE, different weights)
  embedding_file  embeddings/tiny-embedding.safetensors  (SDXL textual inversion: clip_l + clip_g, 2 vectors)
`tiny_refiner(tiny_models)` adds, on first use, a tiny SDXL refiner-architecture checkpoint for the tiny SDXL
(outside checkpoints/, so only the tests that place it see it in a catalog); `tiny_inpainting(tiny_models,
arch)` a tiny 9-channel inpainting checkpoint (SDXL or SD 1.5) under a models root of its own.
Single files carry their pipeline skeleton in the safetensors header, the way the demo model does, so
they load offline without a shipped full-size configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class TinyModels:
    root: str
    sdxl_file: str
    sd15_file: str
    sdxl_dir: str
    lora_file: str
    vae_file: str
    embedding_file: str


def _threads() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("REMGO_TEST_THREADS", "1")))


def kohya_lora(pipe, rank: int = 4, seed: int = 7) -> dict:
    """A LoRA on every attention projection of the UNet and the first text encoder, kohya names."""
    import torch

    from inference_worker.model_builders.checkpoint_keys import unet_key

    gen = torch.Generator().manual_seed(seed)
    config = pipe.unet.config
    with_attention = {i for i, t in enumerate(config.up_block_types) if "CrossAttn" in t}
    out: dict[str, torch.Tensor] = {}

    def add(name: str, weight: torch.Tensor) -> None:
        out_f, in_f = weight.shape[:2]
        out[f"{name}.lora_down.weight"] = torch.randn(rank, in_f, generator=gen) * 0.3
        out[f"{name}.lora_up.weight"] = torch.randn(out_f, rank, generator=gen) * 0.3
        out[f"{name}.alpha"] = torch.tensor(float(rank))

    for key, weight in pipe.unet.state_dict().items():
        if ".attn" in key and key.endswith(
            (".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight")
        ):
            original = unet_key(key[: -len(".weight")] + ".weight", config.layers_per_block, with_attention)
            add("lora_unet_" + original[: -len(".weight")].replace(".", "_"), weight)
    for key, weight in pipe.text_encoder.state_dict().items():
        if ".self_attn." in key and key.endswith("_proj.weight"):
            name = ("text_model." + key if not key.startswith("text_model.") else key)[: -len(".weight")]
            add("lora_te1_" + name.replace(".", "_"), weight)
    return out


def build_tiny_models(root: str) -> TinyModels:
    import torch
    from safetensors.torch import save_file

    from inference_worker.model_builders.checkpoint_keys import VAE_PREFIX, pipeline_state_dict
    from inference_worker.model_builders.demo_model import save_single_file
    from inference_worker.model_builders.small_pipelines import (
        build_pipeline,
        small_skeleton_files,
        write_files,
    )

    _threads()
    for sub in ("checkpoints", "loras", "vae", "embeddings"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    skeletons = os.path.join(root, ".skeletons")
    paths = {}
    for arch, seed in (("sdxl", 0), ("sd15", 1)):
        skeleton = write_files(os.path.join(skeletons, arch), small_skeleton_files(arch))
        pipe = build_pipeline(skeleton, seed=seed)
        paths[arch] = os.path.join(root, "checkpoints", f"tiny-{arch}.safetensors")
        save_single_file(pipe, paths[arch], arch)
        if arch == "sdxl":
            sdxl_dir = os.path.join(root, "checkpoints", "tiny-sdxl-diffusers")
            pipe.save_pretrained(sdxl_dir)
            lora_file = os.path.join(root, "loras", "tiny-lora.safetensors")
            save_file(kohya_lora(pipe), lora_file)
            torch.manual_seed(5)
            other = build_pipeline(skeleton, seed=5)
            vae = {
                k[len(VAE_PREFIX) :]: v
                for k, v in pipeline_state_dict(other).items()
                if k.startswith(VAE_PREFIX)
            }
            vae_file = os.path.join(root, "vae", "tiny-vae.safetensors")
            save_file(vae, vae_file)
            gen = torch.Generator().manual_seed(9)
            embedding_file = os.path.join(root, "embeddings", "tiny-embedding.safetensors")
            save_file({"clip_l": torch.randn(2, pipe.text_encoder.config.hidden_size, generator=gen),
                       "clip_g": torch.randn(2, pipe.text_encoder_2.config.hidden_size, generator=gen)},
                      embedding_file)
    return TinyModels(
        root=root,
        sdxl_file=paths["sdxl"],
        sd15_file=paths["sd15"],
        sdxl_dir=sdxl_dir,
        lora_file=lora_file,
        vae_file=vae_file,
        embedding_file=embedding_file,
    )


_REFINERS: dict[str, str] = {}


def tiny_refiner(tiny: TinyModels) -> str:
    """refiner-arch/tiny-sdxl-refiner.safetensors: the SDXL refiner architecture (OpenCLIP-G alone, five
    added time ids) at tiny size, fitting the tiny SDXL's second encoder. Built once per test run."""
    if tiny.root not in _REFINERS:
        from inference_worker.model_builders.demo_model import save_single_file
        from inference_worker.model_builders.small_pipelines import (
            build_pipeline,
            small_skeleton_files,
            write_files,
        )

        _threads()
        files = small_skeleton_files("sdxl_refiner")
        skeleton = write_files(os.path.join(tiny.root, ".skeletons", "sdxl_refiner"), files)
        path = os.path.join(tiny.root, "refiner-arch", "tiny-sdxl-refiner.safetensors")
        _REFINERS[tiny.root] = save_single_file(build_pipeline(skeleton, seed=13), path, "sdxl_refiner", files)
    return _REFINERS[tiny.root]


_INPAINTING: dict[tuple[str, str], str] = {}


def tiny_inpainting(tiny: TinyModels, arch: str = "sdxl") -> str:
    """inpainting/checkpoints/tiny-<arch>-inpainting.safetensors: the tiny <arch> with a 9-channel UNet
    (latent, mask, masked-image latent), original single-file layout. Built once per test run."""
    key = (tiny.root, arch)
    if key not in _INPAINTING:
        from inference_worker.model_builders.demo_model import make_inpainting_model

        _threads()
        path = os.path.join(tiny.root, "inpainting", "checkpoints", f"tiny-{arch}-inpainting.safetensors")
        _INPAINTING[key] = make_inpainting_model(path, arch, seed=17)
    return _INPAINTING[key]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return build_tiny_models(str(tmp_path_factory.mktemp("models")))
