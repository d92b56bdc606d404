"""What a .safetensors header says: tensor names and shapes, and from them the model's architecture.

Both sides need the same answer: the catalog lists each checkpoint's architecture so normalization can
expand the right defaults, and the worker picks the pipeline to build. So the rules live here, as pure
functions of bytes and shapes; each side reads the file itself (this module does no I/O).

The format: an 8-byte little-endian header length, then that many bytes of JSON mapping each tensor
name to {dtype, shape, data_offsets} plus an optional "__metadata__" of string → string.
"""

from __future__ import annotations

import enum
import struct

import msgspec

# A real header is a few hundred KB; anything past this is not a safetensors file.
MAX_HEADER_BYTES = 100 * 1024 * 1024
LENGTH_BYTES = 8

UNET = "model.diffusion_model."
SDXL_TE1_POS = "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight"
SDXL_TE2_POS = "conditioner.embedders.1.model.positional_embedding"
SD15_TE_POS = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"


class Architecture(enum.StrEnum):
    sdxl = "sdxl"
    sd15 = "sd15"


class CheckpointHeader(msgspec.Struct, frozen=True):
    shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]
    file_size: int = 0  # what the whole file must measure: 8 + header + every tensor's bytes

    def truncation(self, actual_size: int) -> str | None:
        """Why a file of `actual_size` bytes cannot hold what its header lists (an interrupted download)."""
        if actual_size < self.file_size:
            return f"the file is truncated: {actual_size} of {self.file_size} bytes (an interrupted download?)"
        return None


class HeaderError(ValueError):
    pass


class ArchitectureError(ValueError):
    pass


def header_length(prefix: bytes) -> int:
    """The JSON header's length from a file's first 8 bytes."""
    if len(prefix) != LENGTH_BYTES:
        raise HeaderError("too short to be a safetensors file")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES:
        raise HeaderError(f"not a safetensors file (header length {length})")
    return length


def parse_header(raw: bytes, length: int) -> CheckpointHeader:
    if len(raw) != length:
        raise HeaderError(f"truncated safetensors header ({len(raw)} of {length} bytes)")
    try:
        header = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise HeaderError(f"unreadable safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("unreadable safetensors header")
    metadata = header.pop("__metadata__", None) or {}
    shapes = {k: tuple(v.get("shape", ())) for k, v in header.items() if isinstance(v, dict)}
    ends = [v["data_offsets"][1] for v in header.values() if isinstance(v, dict)
            and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2
            and isinstance(v["data_offsets"][1], int)]
    return CheckpointHeader(shapes=shapes, metadata={str(k): str(v) for k, v in metadata.items()},
                            file_size=LENGTH_BYTES + length + max(ends, default=0))


def detect(shapes: dict[str, tuple[int, ...]]) -> Architecture:
    """SDXL or SD 1.5; ArchitectureError naming what the file is otherwise.

    SDXL base: two text encoders (`conditioner.embedders.0` CLIP-L, `.1` OpenCLIP bigG) and a UNet with
    size conditioning (`label_emb`). SD 1.5: one CLIP-L at `cond_stage_model.transformer`. Everything
    else (SD 2.x, the SDXL refiner, inpainting UNets, a VAE or a LoRA in the wrong folder) is named.
    """
    conv_in = shapes.get(UNET + "input_blocks.0.0.weight")
    if conv_in is None:
        if any(k.startswith(("encoder.", "decoder.", "first_stage_model.")) for k in shapes):
            raise ArchitectureError("this is a VAE, not a checkpoint (put it in the vae folder)")
        if any(".lora_" in k or "lora_A" in k or ".alpha" in k for k in shapes):
            raise ArchitectureError("this is a LoRA, not a checkpoint (put it in the loras folder)")
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
        return Architecture.sdxl
    if SD15_TE_POS in shapes:
        return Architecture.sd15
    if "cond_stage_model.model.token_embedding.weight" in shapes:
        raise ArchitectureError("this is a Stable Diffusion 2.x checkpoint; remgo runs SDXL and SD 1.5")
    raise ArchitectureError("unrecognised checkpoint layout: neither SDXL nor SD 1.5 text encoders found")


def context_width(shapes: dict[str, tuple[int, ...]]) -> int | None:
    """Width of the prompt features the UNet's cross-attention takes (SDXL 2048, SD 1.5 768), read from
    a checkpoint's `attn2.to_k` weight or a LoRA's down/A matrix on it (kohya, diffusers and peft names).
    A LoRA fits a checkpoint only when both widths agree. None when the file has no such tensor."""
    for key, shape in shapes.items():
        if len(shape) < 2 or "attn2" not in key or "to_k" not in key:
            continue
        if key.startswith(UNET) and key.endswith("attn2.to_k.weight"):
            return int(shape[1])
        if key.endswith(("lora_down.weight", "lora_A.weight", "lora.down.weight", "lora_A.default.weight")):
            return int(shape[1])
    return None
