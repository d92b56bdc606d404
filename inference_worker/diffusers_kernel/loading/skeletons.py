"""Pipeline skeletons: the weightless diffusers folders single-file checkpoints are loaded with.

Two sources:
- shipped: `catalog/model_configs/{sdxl,sd15,sdxl_refiner}` describe the real Stable Diffusion XL 1.0
  (base and refiner) and 1.5 architectures. They are written by
  `python -m inference_worker.model_builders.shipped_skeletons`.
- embedded: a checkpoint written by remgo (the demo model, the test models) carries its own small
  skeleton in its safetensors metadata under EMBED_KEY. Only config and tokenizer files are taken
  from it, and the pipeline index is always the project's own (`INDEXES` below).

An inpainting variant (a 9-channel UNet: SDXL inpainting 0.1, SD 1.5 inpainting) has no skeleton of its
own: `with_unet_inputs` gives its architecture's skeleton with the UNet's `in_channels` set to what the
file's first convolution reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading

EMBED_KEY = "remgo.pipeline_skeleton"
ARCH_KEY = "remgo.architecture"
ARCHITECTURES = ("sdxl", "sd15", "sdxl_refiner")
_EMBEDDABLE_FILES = {"config.json", "scheduler_config.json", "vocab.json", "merges.txt"} | {
    "tokenizer_config.json",
    "special_tokens_map.json",
}
_EMBEDDABLE_DIRS = {"unet", "vae", "text_encoder", "text_encoder_2", "scheduler", "tokenizer", "tokenizer_2"}

# The pipeline index of every skeleton (model_index.json), shipped or embedded.
SDXL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "force_zeros_for_empty_prompt": True,
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
}

SD15_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "requires_safety_checker": False,
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "safety_checker": [None, None],
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
}


# The SDXL refiner: one text encoder (OpenCLIP bigG, as `text_encoder_2`) and aesthetic-score conditioning.
SDXL_REFINER_INDEX = {
    "_class_name": "StableDiffusionXLImg2ImgPipeline",
    "force_zeros_for_empty_prompt": False,
    "requires_aesthetics_score": True,
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": [None, None],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": [None, None],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
}

INDEXES = {"sdxl": SDXL_INDEX, "sd15": SD15_INDEX, "sdxl_refiner": SDXL_REFINER_INDEX}


def configs_root() -> str:
    """`REMGO_MODEL_CONFIGS`, else the repository's `catalog/model_configs`."""
    env = os.environ.get("REMGO_MODEL_CONFIGS")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "catalog", "model_configs"))


def shipped_skeleton(arch: str) -> str:
    return os.path.join(configs_root(), arch)


# ----- skeletons embedded in a checkpoint -----------------------------------------------------------


def embed(files: dict[str, str], arch: str) -> dict[str, str]:
    """safetensors metadata carrying a skeleton (model_index.json is left out: it is always ours)."""
    kept = {k: v for k, v in files.items() if k != "model_index.json"}
    return {EMBED_KEY: json.dumps(kept, sort_keys=True), ARCH_KEY: arch}


def embedded(metadata: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    """(arch, files) of a checkpoint's own skeleton, or None; raises ValueError on a malformed one."""
    if EMBED_KEY not in metadata:
        return None
    arch = metadata.get(ARCH_KEY)
    if arch not in ARCHITECTURES:
        raise ValueError(f"embedded skeleton names architecture {arch!r}; expected one of {ARCHITECTURES}")
    files = json.loads(metadata[EMBED_KEY])
    if not isinstance(files, dict):
        raise ValueError("embedded skeleton is not a mapping of files")
    for rel, text in files.items():
        parts = rel.split("/")
        if len(parts) != 2 or parts[0] not in _EMBEDDABLE_DIRS or parts[1] not in _EMBEDDABLE_FILES:
            raise ValueError(f"embedded skeleton holds a file remgo does not take: {rel!r}")
        if not isinstance(text, str):
            raise ValueError(f"embedded skeleton file {rel!r} is not text")
    return arch, {**files, "model_index.json": json.dumps(INDEXES[arch])}


def unet_inputs(skeleton: str) -> int:
    with open(os.path.join(skeleton, "unet", "config.json"), encoding="utf-8") as fh:
        return int(json.load(fh).get("in_channels", 4))


def with_unet_inputs(skeleton: str, channels: int) -> str:
    """The skeleton folder as it is when its UNet reads `channels` input channels, else a private copy whose
    unet/config.json says `channels` (an inpainting variant of a shipped architecture: the same layers, only
    the first convolution reads the mask and the masked image's latent too)."""
    if unet_inputs(skeleton) == channels:
        return skeleton
    files: dict[str, str] = {}
    for folder, _dirs, names in os.walk(skeleton):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as fh:
                files[os.path.relpath(path, skeleton).replace(os.sep, "/")] = fh.read()
    unet = json.loads(files["unet/config.json"])
    unet["in_channels"] = channels
    files["unet/config.json"] = json.dumps(unet, indent=2)
    return materialize(files)


_materialized: dict[str, str] = {}
_lock = threading.Lock()


def materialize(files: dict[str, str]) -> str:
    """Write a skeleton to a private temporary folder once per content; returns the folder."""
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    with _lock:
        if digest not in _materialized:
            folder = tempfile.mkdtemp(prefix=f"remgo-skeleton-{digest}-")
            for rel, text in files.items():
                path = os.path.join(folder, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
            _materialized[digest] = folder
        return _materialized[digest]
