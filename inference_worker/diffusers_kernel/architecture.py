"""Which architecture a single-file checkpoint holds, read from tensor names and shapes alone.

SDXL base: two text encoders (`conditioner.embedders.0` CLIP-L, `.1` OpenCLIP bigG) and a UNet with
size conditioning (`label_emb`). SD 1.5: one CLIP-L at `cond_stage_model.transformer`. Everything else
(SD 2.x, the SDXL refiner, inpainting UNets …) is refused by name. `mismatch` then checks that a
skeleton's configs describe the same widths as the checkpoint's tensors, so a wrong skeleton is a clear
error instead of a failed weight copy deep inside diffusers.
"""

from __future__ import annotations

import json
import os

UNET = "model.diffusion_model."
SDXL_TE1_POS = "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight"
SDXL_TE2_POS = "conditioner.embedders.1.model.positional_embedding"
SD15_TE_POS = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"


class ArchitectureError(ValueError):
    pass


def detect(shapes: dict[str, tuple[int, ...]]) -> str:
    """'sdxl' or 'sd15'; ArchitectureError naming what it is otherwise."""
    conv_in = shapes.get(UNET + "input_blocks.0.0.weight")
    if conv_in is None:
        raise ArchitectureError("no Stable Diffusion UNet in this file (model.diffusion_model.* missing)")
    if len(conv_in) == 4 and conv_in[1] != 4:
        raise ArchitectureError(
            f"UNet takes {conv_in[1]} input channels (an inpainting model?); only 4 is supported"
        )
    if "conditioner.embedders.0.model.text_projection" in shapes and SDXL_TE2_POS not in shapes:
        raise ArchitectureError(
            "this is an SDXL refiner-architecture checkpoint, which remgo does not run "
            "(as a refiner, use an SDXL or SD 1.5 checkpoint)"
        )
    if SDXL_TE1_POS in shapes and SDXL_TE2_POS in shapes and UNET + "label_emb.0.0.weight" in shapes:
        return "sdxl"
    if SD15_TE_POS in shapes:
        return "sd15"
    if "cond_stage_model.model.token_embedding.weight" in shapes:
        raise ArchitectureError("this is a Stable Diffusion 2.x checkpoint; remgo runs SDXL and SD 1.5")
    raise ArchitectureError("unrecognised checkpoint layout: neither SDXL nor SD 1.5 text encoders found")


def _config(skeleton: str, sub: str) -> dict:
    with open(os.path.join(skeleton, sub, "config.json"), encoding="utf-8") as fh:
        return json.load(fh)


def mismatch(shapes: dict[str, tuple[int, ...]], arch: str, skeleton: str) -> str | None:
    """None when the skeleton fits the checkpoint's tensor shapes, else what differs."""
    unet = _config(skeleton, "unet")
    probes: list[tuple[str, int, int, str]] = [
        (UNET + "input_blocks.0.0.weight", 0, unet["block_out_channels"][0], "unet.block_out_channels[0]"),
        (UNET + "out.2.weight", 0, unet.get("out_channels", 4), "unet.out_channels"),
        (
            "first_stage_model.encoder.conv_in.weight",
            0,
            _config(skeleton, "vae")["block_out_channels"][0],
            "vae",
        ),
    ]
    te1 = _config(skeleton, "text_encoder")
    if arch == "sdxl":
        te2 = _config(skeleton, "text_encoder_2")
        probes += [
            (SDXL_TE1_POS, 1, te1["hidden_size"], "text_encoder.hidden_size"),
            (SDXL_TE2_POS, 1, te2["hidden_size"], "text_encoder_2.hidden_size"),
            (
                UNET + "label_emb.0.0.weight",
                1,
                unet["projection_class_embeddings_input_dim"],
                "unet.addition",
            ),
        ]
    else:
        probes.append((SD15_TE_POS, 1, te1["hidden_size"], "text_encoder.hidden_size"))
    context = [s for k, s in shapes.items() if k.startswith(UNET) and k.endswith("attn2.to_k.weight")]
    diffs = []
    for key, dim, expected, what in probes:
        shape = shapes.get(key)
        if shape is None or len(shape) <= dim:
            diffs.append(f"{what}: tensor {key} missing")
        elif shape[dim] != expected:
            diffs.append(f"{what}: checkpoint has {shape[dim]}, configuration {expected}")
    if context and context[0][1] != unet["cross_attention_dim"]:
        diffs.append(
            f"unet.cross_attention_dim: checkpoint has {context[0][1]}, configuration {unet['cross_attention_dim']}"
        )
    return "; ".join(diffs) or None
