"""Which architecture a single-file checkpoint holds, and whether a skeleton fits it.

`detect` (the contract's, shared with the catalog) tells SDXL, the SDXL refiner and SD 1.5 apart by
tensor names and refuses everything else by name. `mismatch` then checks that a skeleton's configs
describe the same widths as the checkpoint's tensors, so a wrong skeleton is a clear error instead of a
failed weight copy deep inside diffusers.
"""

from __future__ import annotations

import json
import os

from contract.checkpoint import (  # noqa: F401  (detect and ArchitectureError are used through here)
    ADM,
    REFINER_TE_POS,
    SD15_TE_POS,
    SDXL_TE1_POS,
    SDXL_TE2_POS,
    UNET,
    ArchitectureError,
    detect,
)


def _config(skeleton: str, sub: str) -> dict:
    with open(os.path.join(skeleton, sub, "config.json"), encoding="utf-8") as fh:
        return json.load(fh)


def mismatch(shapes: dict[str, tuple[int, ...]], arch: str, skeleton: str) -> str | None:
    """None when the skeleton fits the checkpoint's tensor shapes, else what differs."""
    unet = _config(skeleton, "unet")
    probes: list[tuple[str, int, int, str]] = [
        (UNET + "input_blocks.0.0.weight", 0, unet["block_out_channels"][0], "unet.block_out_channels[0]"),
        (UNET + "input_blocks.0.0.weight", 1, unet.get("in_channels", 4), "unet.in_channels"),
        (UNET + "out.2.weight", 0, unet.get("out_channels", 4), "unet.out_channels"),
        (
            "first_stage_model.encoder.conv_in.weight",
            0,
            _config(skeleton, "vae")["block_out_channels"][0],
            "vae",
        ),
    ]
    adm = (ADM, 1, unet.get("projection_class_embeddings_input_dim"), "unet.addition")
    if arch == "sdxl_refiner":
        te2 = _config(skeleton, "text_encoder_2")
        probes += [(REFINER_TE_POS, 1, te2["hidden_size"], "text_encoder_2.hidden_size"), adm]
    elif arch == "sdxl":
        te1, te2 = _config(skeleton, "text_encoder"), _config(skeleton, "text_encoder_2")
        probes += [
            (SDXL_TE1_POS, 1, te1["hidden_size"], "text_encoder.hidden_size"),
            (SDXL_TE2_POS, 1, te2["hidden_size"], "text_encoder_2.hidden_size"),
            adm,
        ]
    else:
        te1 = _config(skeleton, "text_encoder")
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
