"""Image prompts of a task: Fooocus's ImagePrompt and FaceSwap (IP-Adapter) and PyraCanny and CPDS
(control models), up to four, each acting on the first `stop` fraction of the steps at `weight`.

The orchestrator names every model file a prompt needs (it knows the catalog); the worker preprocesses the
image (Canny pyramid, CPDS map, face crop, CLIP-vision embedding) and applies the models.
"""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from contract.image_input import InputImage
from contract.model_ref import ModelRef

MAX_IMAGE_PROMPTS = 4


class ImagePromptType(str, enum.Enum):
    image_prompt = "ImagePrompt"  # IP-Adapter (SDXL "plus", ViT-H) on the whole image
    face_swap = "FaceSwap"  # the face IP-Adapter on a crop of the image's face
    pyra_canny = "PyraCanny"  # a control model on Fooocus's multi-scale Canny edges
    cpds = "CPDS"  # a control model on a contrast-preserving decolorization structure map


IP_ADAPTER_TYPES = frozenset({ImagePromptType.image_prompt, ImagePromptType.face_swap})


class ImagePrompt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One image prompt. `model` is the control model (PyraCanny, CPDS) or the IP-Adapter (ImagePrompt,
    FaceSwap); the IP-Adapter types also need `image_encoder` (CLIP vision) and take Fooocus's
    `ip_negative` embedding when it is installed."""

    type: ImagePromptType
    image: InputImage
    stop: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
    weight: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)]
    model: ModelRef
    image_encoder: ModelRef | None = None
    ip_negative: ModelRef | None = None

    def __post_init__(self) -> None:
        if self.type in IP_ADAPTER_TYPES and self.image_encoder is None:
            raise ValueError(f"{self.type.value} needs image_encoder (a CLIP-vision model)")
        if self.type not in IP_ADAPTER_TYPES and (self.image_encoder is not None or self.ip_negative is not None):
            raise ValueError(f"{self.type.value} is a control model: it takes no image_encoder or ip_negative")


class ControlSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fooocus's advanced image-prompt knobs, for all of a task's image prompts."""

    softness: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.25  # controlnet_softness
    canny_low: Annotated[int, msgspec.Meta(ge=1, le=255)] = 64
    canny_high: Annotated[int, msgspec.Meta(ge=1, le=255)] = 128
    skip_preprocessor: bool = False  # the images are control maps (or face crops) already
    # The result images are the preprocessed control images (maps, face crops), no diffusion, as Fooocus's
    # debugging_cn_preprocessor shows them.
    debug_preprocessor: bool = False
