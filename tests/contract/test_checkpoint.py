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
    header_length,
    parse_header,
)
from tests.orchestrator.catalog.catalog_samples import (
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
    ({"model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}, "inpainting"),
])
def test_files_in_the_wrong_folder_are_named(shapes, words):
    with pytest.raises(ArchitectureError, match=words):
        detect(shapes)
