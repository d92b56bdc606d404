"""The CLIP-vision image encoder of the IP-Adapters, from one `.safetensors` file (Fooocus's
`clip_vision_vit_h.safetensors`, or the `image_encoder/model.safetensors` of the IP-Adapter release).

The file holds a transformers `CLIPVisionModelWithProjection` state dict (`vision_model.…`,
`visual_projection.weight`). Its configuration is read from the weights' shapes (width, depth, MLP
width, patch, positions, projection), plus the two facts shapes cannot tell, the head count and the
activation: from the known encoders below (OpenCLIP ViT-H/14 and ViT-bigG/14, OpenAI ViT-L/14), or from
a configuration a remgo-written file embeds in its metadata (the tests' tiny encoders). Other layouts
(OpenCLIP's `visual.transformer.…`) are refused by name.

The image is brought to 224 × 224 (stretched, Lanczos, as Fooocus does) and normalised with CLIP's mean
and standard deviation; a "plus" IP-Adapter reads the penultimate hidden states, a plain one the
projected image embedding.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from contract.events import FailureKind
from inference_worker.diffusers_kernel.loading.pipeline_cache import file_key
from inference_worker.kernel import KernelError

INPUT_SIDE = 224  # what the IP-Adapters were trained on (and Fooocus resizes to)
CONFIG_KEY = "remgo.clip_vision_config"  # metadata key of an embedded configuration
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)
_PREFIX = "vision_model."
# (width, layers) → (heads, activation) of the released encoders
_KNOWN = {
    (1280, 32): (16, "gelu"),  # OpenCLIP ViT-H/14 (LAION-2B): Fooocus's clip_vision_vit_h
    (1664, 48): (16, "gelu"),  # OpenCLIP ViT-bigG/14
    (1024, 24): (16, "quick_gelu"),  # OpenAI ViT-L/14
}


def _bad(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.bad_request, message, field)


def _read(path: str, field: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not os.path.isfile(path):
        raise KernelError(FailureKind.unknown_model, f"image encoder file not found: {path}", f"{field}.path")
    if not path.lower().endswith(".safetensors"):
        raise _bad(field, f"{os.path.basename(path)}: the image encoder is read from a .safetensors file")
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt", device="cpu") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - truncated or foreign: both name the file
        raise _bad(field, f"{os.path.basename(path)} is not a readable safetensors file: {exc}") from None


def _config(sd: dict[str, torch.Tensor], metadata: dict[str, str], name: str, field: str):
    from transformers import CLIPVisionConfig

    if CONFIG_KEY in metadata:
        return CLIPVisionConfig(**json.loads(metadata[CONFIG_KEY]))
    patch = sd[f"{_PREFIX}embeddings.patch_embedding.weight"]
    width, patch_size = int(patch.shape[0]), int(patch.shape[2])
    layers = len({k.split(".")[3] for k in sd if k.startswith(f"{_PREFIX}encoder.layers.")})
    if (width, layers) not in _KNOWN:
        raise _bad(field, f"{name}: a {width}-wide, {layers}-layer CLIP vision encoder is not one remgo knows "
                          "(ViT-H/14, ViT-bigG/14, ViT-L/14)")
    heads, act = _KNOWN[(width, layers)]
    positions = int(sd[f"{_PREFIX}embeddings.position_embedding.weight"].shape[0])
    return CLIPVisionConfig(
        hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads, hidden_act=act,
        intermediate_size=int(sd[f"{_PREFIX}encoder.layers.0.mlp.fc1.weight"].shape[0]),
        patch_size=patch_size, image_size=patch_size * math.isqrt(positions - 1),
        projection_dim=int(sd["visual_projection.weight"].shape[0]), layer_norm_eps=1e-5,
    )  # fmt: skip


def _no_init():
    try:  # random initialisation of a 600M-parameter model only to overwrite it costs seconds
        from transformers.initialization import no_init_weights
    except ImportError:  # pragma: no cover - older transformers
        return nullcontext()
    return no_init_weights()


def load_encoder(path: str, field: str, dtype: torch.dtype, device: torch.device):
    """The file → an eval-mode `CLIPVisionModelWithProjection` on `device`."""
    from transformers import CLIPVisionModelWithProjection

    name = os.path.basename(path)
    sd, metadata = _read(path, field)
    if any(k.startswith("visual.transformer.") for k in sd):
        raise _bad(field, f"{name} is in OpenCLIP's layout; remgo reads the transformers layout "
                          "(vision_model.…, visual_projection.weight) that Fooocus's clip_vision_vit_h has")
    sd.pop(f"{_PREFIX}embeddings.position_ids", None)  # a buffer older transformers saved
    if f"{_PREFIX}embeddings.patch_embedding.weight" not in sd or "visual_projection.weight" not in sd:
        raise _bad(field, f"{name} is not a CLIP vision model with projection (no vision_model.embeddings "
                          "or visual_projection weights)")
    config = _config(sd, metadata, name, field)
    if config.image_size != INPUT_SIDE:
        raise _bad(field, f"{name} takes {config.image_size}² images; the IP-Adapters use {INPUT_SIDE}² encoders")
    with _no_init():
        model = CLIPVisionModelWithProjection(config)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise _bad(field, f"{name} does not fit the encoder its shapes describe: {exc}") from None
    return model.to(device=device, dtype=dtype).eval()


def pixel_values(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×224×224, stretched to the square (Lanczos) and normalised as CLIP expects."""
    if rgb.shape[:2] != (INPUT_SIDE, INPUT_SIDE):
        rgb = np.asarray(Image.fromarray(rgb).resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.LANCZOS))
    x = torch.from_numpy(np.array(rgb)).float().div(255.0).permute(2, 0, 1)[None]
    mean, std = torch.tensor(_MEAN).view(1, 3, 1, 1), torch.tensor(_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def encode(model, pixels: torch.Tensor, penultimate: bool) -> torch.Tensor:
    """The features an IP-Adapter reads: penultimate hidden states ("plus"), else the image embedding."""
    pixels = pixels.to(model.device, model.dtype)
    out = model(pixel_values=pixels, output_hidden_states=penultimate)
    return out.hidden_states[-2] if penultimate else out.image_embeds


@dataclass
class EncoderCache:
    """The last encoder, read again only when its file changes."""

    key: tuple | None = None
    model: object | None = None

    def get(self, path: str, field: str, dtype: torch.dtype, device: torch.device):
        key = (file_key(path), str(dtype), str(device))
        if key != self.key or self.model is None:
            self.key, self.model = None, None
            self.model = load_encoder(path, field, dtype, device)
            self.key = key
        return self.model
