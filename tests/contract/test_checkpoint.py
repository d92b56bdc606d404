"""contract.checkpoint: safetensors headers, architectures and prompt widths, on hand-made headers."""

from __future__ import annotations

import json
import struct

import pytest

from contract.checkpoint import (
    Architecture,
    ArchitectureError,
    HeaderError,
    context_width,
    detect,
    folder_architecture,
    header_length,
    is_inpainting,
    parse_header,
    prediction_type,
    unet_input_channels,
)
from tests.orchestrator.catalog.catalog_samples import (
    REFINER_SHAPES,
    SD15_LORA_SHAPES,
    SD15_SHAPES,
    SDXL_LORA_SHAPES,
    SDXL_SHAPES,
    safetensors_with,
)


def _read(path):
    data = path.read_bytes()
    length = header_length(data[:8])
    return parse_header(data[8 : 8 + length], length), len(data)


def test_a_written_file_reads_back_with_its_size(tmp_path):
    header, size = _read(safetensors_with(tmp_path / "m.safetensors", {"a": (2, 3), "b": (4,)}))
    assert header.shapes == {"a": (2, 3), "b": (4,)}
    assert header.file_size == size  # 8 + header + (6 + 4) float16 values
    assert header.truncation(size) is None
    assert "truncated: 20 of" in header.truncation(20)


def test_bad_headers_say_what_is_wrong():
    with pytest.raises(HeaderError, match="too short"):
        header_length(b"\x01\x02")
    with pytest.raises(HeaderError, match="not a safetensors file"):
        header_length(struct.pack("<Q", 1 << 40))
    with pytest.raises(HeaderError, match="truncated safetensors header"):
        parse_header(b"{}", 10)
    with pytest.raises(HeaderError, match="unreadable"):
        parse_header(b"not json", 8)
    raw = json.dumps([1, 2]).encode()
    with pytest.raises(HeaderError, match="unreadable"):
        parse_header(raw, len(raw))


def test_architectures_and_prompt_widths():
    assert detect(SDXL_SHAPES) is Architecture.sdxl and context_width(SDXL_SHAPES) == 2048
    assert detect(SD15_SHAPES) is Architecture.sd15 and context_width(SD15_SHAPES) == 768
    # LoRAs in kohya (original and diffusers block names) and peft naming
    assert context_width(SDXL_LORA_SHAPES) == 2048 and context_width(SD15_LORA_SHAPES) == 768
    peft = {"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (8, 2048)}
    assert context_width(peft) == 2048
    assert context_width({"lora_te1_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight": (4, 768)}) is None


@pytest.mark.parametrize(("shapes", "words"), [
    ({"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_out.weight": (3, 128, 3, 3)}, "a VAE"),
    (SDXL_LORA_SHAPES, "a LoRA"),
    # instruct-pix2pix (latent + the source image's latent): not an input layout remgo feeds
    ({**SDXL_SHAPES, "model.diffusion_model.input_blocks.0.0.weight": (320, 8, 3, 3)}, "8 input channels"),
    ({**REFINER_SHAPES, "model.diffusion_model.input_blocks.0.0.weight": (384, 9, 3, 3)}, "refiner"),
])
def test_files_in_the_wrong_folder_are_named(shapes, words):
    with pytest.raises(ArchitectureError, match=words):
        detect(shapes)


@pytest.mark.parametrize(("shapes", "arch"), [(SDXL_SHAPES, Architecture.sdxl), (SD15_SHAPES, Architecture.sd15)])
def test_an_inpainting_variant_is_its_familys_architecture_with_a_9_channel_unet(shapes, arch):
    # sd-xl-1.0-inpainting-0.1 and sd-v1-5-inpainting: conv_in weight [320, 9, 3, 3] (latent 4, mask 1,
    # masked-image latent 4), everything else as the family's base model
    inpainting = {**shapes, "model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}
    assert detect(inpainting) is arch and is_inpainting(inpainting) and unet_input_channels(inpainting) == 9
    plain = {**shapes, "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}
    assert detect(plain) is arch and not is_inpainting(plain) and unet_input_channels(plain) == 4



def test_the_sdxl_refiner_is_its_own_architecture():
    assert detect(REFINER_SHAPES) is Architecture.sdxl_refiner and context_width(REFINER_SHAPES) == 1280


@pytest.mark.parametrize(("markers", "words"), [
    ({"edm_mean": (1, 4, 1, 1), "edm_std": (1, 4, 1, 1)}, "Playground v2.5"),
    ({"edm_vpred.sigma_max": ()}, "EDM v-prediction"),
    ({"v_pred": (0,), "ztsnr": (0,)}, "zero-terminal-SNR"),
])
def test_sdxl_files_with_another_sampling_are_named(markers, words):
    with pytest.raises(ArchitectureError, match=words):
        detect({**SDXL_SHAPES, **markers})


def test_the_prediction_type_comes_from_the_marker_or_the_model_spec():
    assert prediction_type(SDXL_SHAPES, {}) == "epsilon"
    assert prediction_type({**SDXL_SHAPES, "v_pred": (0,)}, {}) == "v_prediction"
    # kohya's sd-scripts write Stability's model spec: "v" for v-parameterisation, else "epsilon"
    assert prediction_type(SDXL_SHAPES, {"modelspec.prediction_type": "v"}) == "v_prediction"
    assert prediction_type(SDXL_SHAPES, {"modelspec.prediction_type": "epsilon"}) == "epsilon"
    assert detect(SDXL_SHAPES, {"modelspec.prediction_type": "v"}) is Architecture.sdxl
    with pytest.raises(ArchitectureError, match="'flow'"):
        detect(SDXL_SHAPES, {"modelspec.prediction_type": "flow"})


def test_diffusers_folders_by_their_pipeline_index():
    assert folder_architecture({"_class_name": "StableDiffusionXLPipeline"}) == "sdxl"
    assert folder_architecture({"_class_name": "StableDiffusionPipeline"}) == "sd15"
    # stabilityai/stable-diffusion-xl-refiner-1.0 saves an img2img pipeline without a first text encoder
    refiner = {"_class_name": "StableDiffusionXLImg2ImgPipeline", "requires_aesthetics_score": True,
               "text_encoder": [None, None], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]}
    assert folder_architecture(refiner) == "sdxl_refiner"
    assert folder_architecture({"_class_name": "StableDiffusionXLImg2ImgPipeline",
                                "text_encoder": ["transformers", "CLIPTextModel"]}) == "sdxl"
    assert folder_architecture({"_class_name": "FluxPipeline"}) is None
