"""The request's AUTOMATIC1111-style inpainting knobs (`GenerateRequest.inpaint_a1111`), in A1111's names.

Given, an Inpaint runs A1111's steps (contract.image_input.A1111Inpaint) instead of Fooocus's crop, fill
and feathered blend. Defaults are A1111's API defaults, except `inpainting_fill` (A1111: 0, fill).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from contract.image_input import MAX_INPUT_SIDE, MAX_MASK_BLUR

Blur = Annotated[int, msgspec.Meta(ge=0, le=MAX_MASK_BLUR)]


class A1111InpaintRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mask_blur_x: Blur = 4  # Gaussian sigma across (0: none)
    mask_blur_y: Blur = 4  # … and down
    inpainting_fill: Annotated[int, msgspec.Meta(ge=0, le=3)] = 0  # 0 fill, 1 original, 2 latent noise, 3 nothing
    inpaint_full_res: bool = True  # "only masked": the box around the mask is sampled at width × height
    inpaint_full_res_padding: Annotated[int, msgspec.Meta(ge=0, le=MAX_INPUT_SIDE)] = 0
    mask_round: bool = True  # the latent mask rounded to 0 / 1
    # The size the box is sampled at (only masked; multiples of 8); None: the input image's own size.
    width: Annotated[int, msgspec.Meta(ge=64, le=MAX_INPUT_SIDE)] | None = None
    height: Annotated[int, msgspec.Meta(ge=64, le=MAX_INPUT_SIDE)] | None = None
