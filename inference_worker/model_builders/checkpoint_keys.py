"""diffusers/transformers parameter names → the original (LDM / SGM) single-file checkpoint names.

Single-file checkpoints (what Fooocus, ComfyUI and A1111 users have) keep the names of the original
Stable Diffusion code. This module writes such files from diffusers pipelines: the demo model and the
test models go through it, so loading them exercises the same path as a user's checkpoint.

UNet: the down/up blocks of diffusers are flattened into numbered `input_blocks` / `output_blocks`
(each holds a resnet at `.0`, then an attention at `.1` or a resampler); the VAE's decoder blocks are
numbered in reverse; the OpenCLIP text encoder fuses q/k/v into one `in_proj` matrix and stores its
projection transposed.
"""

from __future__ import annotations

import re
from typing import Any

from inference_worker.diffusers_kernel.loading.unet_keys import attention_up_blocks, unet_key

# Prefixes of each component inside a single-file checkpoint.
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."
REFINER_CLIP_G_PREFIX = "conditioner.embedders.0.model."  # the SDXL refiner's only encoder
SD15_CLIP_PREFIX = "cond_stage_model.transformer."


def unet_state_dict(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    with_attention = attention_up_blocks(config)
    lpb = config["layers_per_block"]
    return {UNET_PREFIX + unet_key(k, lpb, with_attention): v for k, v in state.items()}


_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_key(key: str, num_up_blocks: int) -> str:
    key = key.replace("conv_norm_out", "norm_out")
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTN[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        block = num_up_blocks - 1 - int(m[1])
        return f"decoder.up.{block}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{num_up_blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
    return key  # conv_in, conv_out, norm_out, quant_conv, post_quant_conv keep their names


def vae_state_dict(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    n = len(config["up_block_types"])
    out = {}
    for k, v in state.items():
        name = vae_key(k, n)
        # The original mid-block attention uses 1×1 convolutions where diffusers uses linear layers.
        if ".mid.attn_1." in name and name.endswith(".weight") and v.ndim == 2:
            v = v[:, :, None, None]
        out[VAE_PREFIX + name] = v
    return out


def clip_state_dict(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """CLIPTextModel: original files keep the `text_model.` level that transformers 5 flattens away."""
    out = {}
    for k, v in state.items():
        if not k.startswith("text_model.") and not k.startswith("text_projection"):
            k = "text_model." + k
        out[prefix + k] = v
    return out


_OPEN_CLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def open_clip_state_dict(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """CLIPTextModelWithProjection → OpenCLIP's text tower (SDXL's second encoder)."""
    import torch

    state = {
        k if k.startswith(("text_model.", "text_projection")) else "text_model." + k: v
        for k, v in state.items()
    }
    out: dict[str, Any] = {}
    qkv: dict[tuple[int, str], dict[str, Any]] = {}
    for k, v in state.items():
        if k == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = v
        elif k == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = v
        elif k.startswith("text_model.final_layer_norm."):
            out["ln_final." + k.rsplit(".", 1)[1]] = v
        elif k == "text_projection.weight":
            out["text_projection"] = v.T.contiguous()  # OpenCLIP multiplies x @ P
        elif m := re.fullmatch(
            r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", k
        ):
            qkv.setdefault((int(m[1]), m[3]), {})[m[2]] = v
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", k):
            out[f"transformer.resblocks.{m[1]}.{_OPEN_CLIP_LAYER[m[2]]}.{m[3]}"] = v
        elif k.endswith("position_ids"):
            continue
        else:
            raise KeyError(f"no OpenCLIP name known for {k!r}")
    for (layer, kind), parts in qkv.items():
        out[f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    return {prefix + k: v for k, v in out.items()}


def pipeline_state_dict(pipe: Any) -> dict[str, Any]:
    """A whole SDXL, SDXL-refiner or SD 1.5 pipeline as one original-layout state dict."""
    out = unet_state_dict(pipe.unet.state_dict(), dict(pipe.unet.config))
    out.update(vae_state_dict(pipe.vae.state_dict(), dict(pipe.vae.config)))
    if getattr(pipe, "text_encoder", None) is None:
        out.update(open_clip_state_dict(pipe.text_encoder_2.state_dict(), REFINER_CLIP_G_PREFIX))
    elif getattr(pipe, "text_encoder_2", None) is not None:
        out.update(clip_state_dict(pipe.text_encoder.state_dict(), SDXL_CLIP_L_PREFIX))
        out.update(open_clip_state_dict(pipe.text_encoder_2.state_dict(), SDXL_CLIP_G_PREFIX))
    else:
        out.update(clip_state_dict(pipe.text_encoder.state_dict(), SD15_CLIP_PREFIX))
    return {k: v.contiguous() for k, v in out.items() if not k.endswith("position_ids")}
