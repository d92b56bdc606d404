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
# The SDXL refiner's only text encoder, OpenCLIP bigG, sits where the base keeps CLIP-L.
REFINER_TE_POS = "conditioner.embedders.0.model.positional_embedding"
ADM = UNET + "label_emb.0.0.weight"
CONV_IN = UNET + "input_blocks.0.0.weight"
LATENT_CHANNELS = 4
# An inpainting UNet (sd-xl-1.0-inpainting-0.1, SD 1.5 inpainting) also reads the mask and the masked
# image's latent: 4 + 1 + 4 input channels, in diffusers' order [latent, mask, masked-image latent].
INPAINT_CHANNELS = 9

# Markers other tools write into SDXL-shaped files whose sampling differs (as ComfyUI reads them).
PLAYGROUND_KEYS = ("edm_mean", "edm_std")  # Playground v2.5: EDM sampling, per-channel latent mean/std
EDM_VPRED_KEY = "edm_vpred.sigma_max"  # v-prediction on a continuous EDM schedule (e.g. CosXL)
V_PRED_KEY, ZTSNR_KEY = "v_pred", "ztsnr"  # a v-prediction UNet; zero-terminal-SNR training
PREDICTION_METADATA = "modelspec.prediction_type"  # Stability's model spec: "epsilon" or "v"
_DECLARED = {"epsilon": "epsilon", "eps": "epsilon", "v": "v_prediction", "v_prediction": "v_prediction",
             "v-prediction": "v_prediction"}


class Architecture(enum.StrEnum):
    sdxl = "sdxl"
    sd15 = "sd15"
    sdxl_refiner = "sdxl_refiner"  # runs only as a refiner, after an SDXL base


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


def detect(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None) -> Architecture:
    """SDXL, SD 1.5 or the SDXL refiner; ArchitectureError naming what the file is otherwise.

    SDXL base: two text encoders (`conditioner.embedders.0` CLIP-L, `.1` OpenCLIP bigG) and a UNet with
    size conditioning (`label_emb`). SDXL refiner: OpenCLIP bigG alone at `conditioner.embedders.0.model`
    and a `label_emb` UNet (as Fooocus, through ComfyUI, tells it from the base). SD 1.5: one CLIP-L at
    `cond_stage_model.transformer`. An SDXL or SD 1.5 inpainting variant (a 9-channel UNet,
    `unet_input_channels`) is its family's architecture. Everything else (SD 2.x, other input-channel counts
    such as instruct-pix2pix's 8, a VAE or a LoRA in the wrong folder) is named, and so are SDXL-shaped files
    whose sampling remgo does not run (`sampling_refusal`).
    """
    conv_in = shapes.get(CONV_IN)
    if conv_in is None:
        if any(k.startswith(("encoder.", "decoder.", "first_stage_model.")) for k in shapes):
            raise ArchitectureError("this is a VAE, not a checkpoint (put it in the vae folder)")
        if any(".lora_" in k or "lora_A" in k or ".alpha" in k for k in shapes):
            raise ArchitectureError("this is a LoRA, not a checkpoint (put it in the loras folder)")
        raise ArchitectureError("no Stable Diffusion UNet in this file (model.diffusion_model.* missing)")
    channels = unet_input_channels(shapes)
    if channels not in (LATENT_CHANNELS, INPAINT_CHANNELS):
        raise ArchitectureError(
            f"UNet takes {channels} input channels; remgo runs 4 (a plain UNet) and 9 (an inpainting UNet)"
        )
    if why := sampling_refusal(shapes, metadata or {}):
        raise ArchitectureError(why)
    if SDXL_TE1_POS in shapes and SDXL_TE2_POS in shapes and ADM in shapes:
        return Architecture.sdxl
    if REFINER_TE_POS in shapes and SDXL_TE2_POS not in shapes and ADM in shapes:
        if channels != LATENT_CHANNELS:
            raise ArchitectureError(f"an SDXL refiner whose UNet takes {channels} input channels; remgo runs 4")
        return Architecture.sdxl_refiner
    if SD15_TE_POS in shapes:
        return Architecture.sd15
    if "cond_stage_model.model.token_embedding.weight" in shapes:
        raise ArchitectureError("this is a Stable Diffusion 2.x checkpoint; remgo runs SDXL and SD 1.5")
    raise ArchitectureError("unrecognised checkpoint layout: neither SDXL nor SD 1.5 text encoders found")


def unet_input_channels(shapes: dict[str, tuple[int, ...]]) -> int:
    """How many channels the UNet's first convolution reads: 4, or 9 for an inpainting variant (whose
    input_blocks.0.0 weight is [C, 9, 3, 3]). 4 when the file has no such 4-d tensor."""
    conv_in = shapes.get(CONV_IN)
    return int(conv_in[1]) if conv_in is not None and len(conv_in) == 4 else LATENT_CHANNELS


def is_inpainting(shapes: dict[str, tuple[int, ...]]) -> bool:
    return unet_input_channels(shapes) == INPAINT_CHANNELS


def sampling_refusal(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str]) -> str | None:
    """Why remgo would make wrong images with this file's sampling, or None.

    Playground v2.5 and EDM v-prediction files have SDXL's layout but another noise parameterisation (and
    Playground its own latent mean/std), which remgo's sampler does not implement; zero-terminal-SNR
    training has no finite starting noise level on the 1000-step table. A prediction type declared in
    the metadata that is neither epsilon nor v is named too.
    """
    if all(k in shapes for k in PLAYGROUND_KEYS):
        return ("this is a Playground v2.5 checkpoint (edm_mean/edm_std keys): it needs EDM sampling and "
                "its own latent mean and scale, which remgo does not run")
    if EDM_VPRED_KEY in shapes:
        return ("this is an EDM v-prediction checkpoint (edm_vpred keys, e.g. CosXL): it needs a continuous "
                "EDM noise schedule, which remgo does not run")
    if ZTSNR_KEY in shapes:
        return ("this is a zero-terminal-SNR checkpoint (ztsnr key): its noise schedule has no finite "
                "start, which remgo does not run")
    declared = metadata.get(PREDICTION_METADATA)
    if declared is not None and declared.strip().lower() not in _DECLARED:
        return f"its metadata declares prediction type {declared!r}; remgo runs epsilon and v prediction"
    return None


def prediction_type(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str]) -> str:
    """What the UNet predicts, "epsilon" or "v_prediction": the `v_pred` marker tensor says v, else
    `modelspec.prediction_type` (kohya's trainers write "v" or "epsilon"), else epsilon."""
    if V_PRED_KEY in shapes:
        return "v_prediction"
    return _DECLARED.get(metadata.get(PREDICTION_METADATA, "").strip().lower(), "epsilon")


def folder_architecture(index: dict) -> str | None:
    """The architecture of a diffusers pipeline folder from its model_index.json, or None.

    The SDXL refiner is saved as an img2img pipeline that wants an aesthetic score and has no first text
    encoder; an SDXL base may be saved as an img2img pipeline too."""
    name = index.get("_class_name")
    if name == "StableDiffusionPipeline":
        return Architecture.sd15.value
    if name == "StableDiffusionXLPipeline":
        return Architecture.sdxl.value
    if name == "StableDiffusionXLImg2ImgPipeline":
        first = index.get("text_encoder") or [None]
        refiner = index.get("requires_aesthetics_score") is True or first[0] is None
        return (Architecture.sdxl_refiner if refiner else Architecture.sdxl).value
    return None


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
