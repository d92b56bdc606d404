"""Refusals name the field as a Fooocus-API client sent it (its names, its nesting under advanced_params)."""

import msgspec
import pytest

from orchestrator.compat.fooocus_api.errors import Refused, fooocus_path
from orchestrator.compat.fooocus_api.mapping import to_request
from orchestrator.compat.fooocus_api.shapes import CommonRequest, InpaintOutpaint, UpscaleVary


@pytest.mark.parametrize(("remgo", "fooocus"), [
    ("$.image_sharpness", "$.sharpness"), ("$.sampler_name", "$.advanced_params.sampler_name"),
    ("$.loras[1].name", "$.loras[1].model_name"), ("$.loras[0].weight", "$.loras[0].weight"),
    ("$.inpaint_mask_image", "$.input_mask"), ("$.uov_input_image", "$.input_image"),
    ("$.output_format", "$.save_extension"), ("$.prompt", "$.prompt"), ("$", "$"),
])
def test_remgo_paths_become_fooocus_api_paths(remgo: str, fooocus: str) -> None:
    assert fooocus_path(remgo) == fooocus


def _mapped(shape, **body):
    return to_request(msgspec.convert(body, shape))


def test_fooocus_api_conventions() -> None:
    """Fooocus-API's documented defaults and conventions: one image, "None" LoRA slots, -1 = not forced,
    upscale_value only for Upscale (Custom), an empty mask string as no mask."""
    req = _mapped(CommonRequest, prompt="x").request
    assert req.image_number == 1 and req.loras is None
    mapped = _mapped(CommonRequest, prompt="x", loras=[{"model_name": "None", "enabled": True}],
                     advanced_params={"overwrite_step": -1, "overwrite_width": -1, "controlnet_softness": 0.5})
    assert mapped.request.overwrite_step == -1 and mapped.request.loras[0].name == "None"
    assert mapped.request.controlnet_softness == 0.5  # an image prompts' knob: normalization says if it is idle
    vary = _mapped(UpscaleVary, input_image="aGk=", uov_method="Vary (Subtle)", upscale_value=2.0)
    assert vary.request.upscale_value is None and any("upscale_value had no effect" in n for n in vary.notes)
    custom = _mapped(UpscaleVary, input_image="aGk=", uov_method="Upscale (Custom)", upscale_value=2.0)
    assert custom.request.upscale_value == 2.0
    outpaint = _mapped(InpaintOutpaint, input_image="aGk=", input_mask="", outpaint_selections=["Left"],
                       outpaint_distance_left=-1).request
    assert outpaint.inpaint_mask_image is None and outpaint.inpaint_input_image == "aGk="
    with pytest.raises(Refused) as refused:
        _mapped(InpaintOutpaint, input_image="aGk=", outpaint_selections=["Left"], outpaint_distance_left=64)
    assert refused.value.field == "$.outpaint_distance_left"
