"""UNet parameter names: diffusers' `UNet2DConditionModel` ⇄ the original (LDM / SGM) layout.

Single-file checkpoints, and the weight deltas Fooocus ships for them (its inpaint patch), name UNet
weights the way the original Stable Diffusion code does: the down/up blocks of diffusers are flattened
into numbered `input_blocks` / `output_blocks`, each holding a resnet at `.0` then an attention at `.1`
or a resampler. The same names inside a block (attention internals) are shared by both layouts.
`model_builders` writes checkpoints through `unet_key`; the kernel reads patches through `ldm_names`.
"""

from __future__ import annotations

import re
from typing import Any

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{_UNET_RESNET.get(head, head)}.{tail}"


def unet_key(key: str, layers_per_block: int, up_blocks_with_attention: set[int]) -> str:
    """One UNet2DConditionModel parameter name → its original name (without a `diffusion_model.` prefix)."""
    per_down, per_up = layers_per_block + 1, layers_per_block + 1
    for new, old in _UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        i, j, rest = int(m[1]), int(m[2]), m[3]
        return f"input_blocks.{1 + i * per_down + j}.0.{_resnet(rest)}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        i, j, rest = int(m[1]), int(m[2]), m[3]
        return f"input_blocks.{1 + i * per_down + j}.1.{rest}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per_down}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        i, j, rest = int(m[1]), int(m[2]), m[3]
        return f"output_blocks.{i * per_up + j}.0.{_resnet(rest)}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        i, j, rest = int(m[1]), int(m[2]), m[3]
        return f"output_blocks.{i * per_up + j}.1.{rest}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        i = int(m[1])
        slot = 2 if i in up_blocks_with_attention else 1
        return f"output_blocks.{i * per_up + layers_per_block}.{slot}.conv.{m[2]}"
    raise KeyError(f"no original name known for UNet parameter {key!r}")


def attention_up_blocks(config: Any) -> set[int]:
    return {i for i, t in enumerate(config["up_block_types"]) if "CrossAttn" in t}


def ldm_names(names: list[str], config: Any) -> dict[str, str]:
    """Original name → diffusers name, for these diffusers parameter names of a UNet with this config."""
    with_attention = attention_up_blocks(config)
    lpb = int(config["layers_per_block"])
    return {unet_key(name, lpb, with_attention): name for name in names}
