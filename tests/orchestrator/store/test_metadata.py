"""Embedded metadata text: Fooocus 2.5 layout in both schemes, read back equal."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.common.image_params import ImageParams, InputUse, LoraUse
from orchestrator.store.metadata.fooocus import log_fields, stem
from orchestrator.store.metadata.text import embedded_text, parse

BASE = ImageParams(
    prompt="a lighthouse at dusk",
    negative_prompt="blurry",
    styles=["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"],
    performance="Speed",
    steps=30,
    width=1152,
    height=896,
    guidance_scale=4.0,
    sharpness=2.0,
    adm_guidance=(1.5, 0.8, 0.3),
    base_model="juggernautXL_v8Rundiffusion",
    base_model_hash="aeb7e9e689",
    sampler="dpmpp_2m_sde_gpu",
    scheduler="karras",
    seed=127589946317439009,
    clip_skip=2,
    adaptive_cfg=7.0,
    refiner_switch=0.5,
    loras=[LoraUse(name="sd_xl_offset_example-lora_1.0", weight=0.1, hash="4852686128")],
    full_prompt=["a lighthouse at dusk, warm light", "a lighthouse at dusk, calm sea"],
    full_negative_prompt=["blurry, lowres"],
    prompt_expansion="a lighthouse at dusk, calm sea",
    version="remgo v0.1.0",
)

# Everything optional switched on: refiner with its own swap method and forced switch, FreeU, a VAE,
# a non-default adaptive CFG, several LoRAs, a multi-line prompt with colons and commas.
FULL = msgspec.structs.replace(
    BASE,
    prompt="portrait: (red hat:1.2), studio\nsecond line",
    negative_prompt="text, watermark",
    styles=["Fooocus V2", "Fooocus Enhance"],
    refiner_model="sd_xl_refiner_1.0",
    refiner_model_hash="7440042bbd",
    refiner_switch=0.6,
    refiner_swap_method="separate",
    overwrite_switch=0.7,
    vae="sdxl_vae",
    adaptive_cfg=5.5,
    clip_skip=3,
    freeu=(1.01, 1.02, 0.99, 0.95),
    loras=[
        LoraUse(name="detail", weight=0.5, hash="0123456789"),
        LoraUse(name="style-b", weight=-0.25, hash="abcdef0123"),
    ],
    created_by="studio 4",
)

FOOOCUS_KEYS = {
    "adm_guidance", "base_model", "base_model_hash", "clip_skip", "full_negative_prompt", "full_prompt",
    "guidance_scale", "lora_combined_1", "loras", "metadata_scheme", "negative_prompt", "performance", "prompt",
    "prompt_expansion", "refiner_model", "refiner_switch", "resolution", "sampler", "scheduler", "seed",
    "sharpness", "steps", "styles", "vae", "version",
}  # fmt: skip


def test_fooocus_scheme_has_fooocus_keys_sorted_and_typed():
    embedded = embedded_text(BASE, "fooocus")
    assert embedded["fooocus_scheme"] == "fooocus"
    text = embedded["parameters"]
    data = json.loads(text)
    assert set(data) == FOOOCUS_KEYS
    assert list(data) == sorted(data)
    assert text == json.dumps(data)  # Python's default separators and ASCII escapes, as Fooocus writes
    assert data["resolution"] == "(1152, 896)"
    assert data["adm_guidance"] == "(1.5, 0.8, 0.3)"
    assert data["styles"] == "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']"
    assert data["seed"] == "127589946317439009"
    assert data["steps"] == 30 and data["clip_skip"] == 2
    assert data["lora_combined_1"] == "sd_xl_offset_example-lora_1.0 : 0.1"
    assert data["loras"] == [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]]
    assert data["refiner_model"] == "None" and data["vae"] == "Default (model)"
    assert data["metadata_scheme"] == "fooocus"


def test_fooocus_scheme_writes_file_stems_and_optional_keys():
    named = msgspec.structs.replace(
        FULL,
        styles=["Fooocus Enhance", "Fooocus V2"],
        base_model="sdxl/juggernautXL_v8Rundiffusion.safetensors",
        refiner_model="sd_xl_refiner_1.0.safetensors",
        vae="sdxl_vae.safetensors",
        loras=[LoraUse(name="styles\\detail.safetensors", weight=0.5, hash="0123456789")],
    )
    data = json.loads(embedded_text(named, "fooocus")["parameters"])
    assert data["base_model"] == "juggernautXL_v8Rundiffusion"
    assert data["refiner_model"] == "sd_xl_refiner_1.0"
    assert data["vae"] == "sdxl_vae"
    assert data["lora_combined_1"] == "detail : 0.5"
    assert data["freeu"] == "(1.01, 1.02, 0.99, 0.95)"
    assert data["refiner_swap_method"] == "separate"
    assert data["overwrite_switch"] == 0.7
    assert data["adaptive_cfg"] == 5.5 and data["clip_skip"] == 3
    assert data["created_by"] == "studio 4"
    assert data["styles"] == "['Fooocus V2', 'Fooocus Enhance']"  # expansion first, as Fooocus logs it
    # Log fields keep catalog names; only the embedded text uses stems.
    fields = log_fields(named)
    assert fields["base_model"] == "sdxl/juggernautXL_v8Rundiffusion.safetensors"
    assert fields["lora_combined_1"] == "styles\\detail.safetensors : 0.5"


def test_defaults_are_left_out_as_fooocus_does():
    plain = msgspec.structs.replace(BASE, clip_skip=1, refiner_swap_method="separate", overwrite_switch=0.4)
    fields = log_fields(plain)
    # No refiner: swap method and forced switch are not logged; adaptive CFG 7 and CLIP skip 1 neither.
    for key in ("clip_skip", "adaptive_cfg", "refiner_swap_method", "overwrite_switch", "freeu"):
        assert key not in fields
    assert list(fields)[:13] == [
        "prompt", "negative_prompt", "prompt_expansion", "styles", "performance", "steps", "resolution",
        "guidance_scale", "sharpness", "adm_guidance", "base_model", "refiner_model", "refiner_switch",
    ]  # fmt: skip
    assert list(fields)[13:] == [
        "sampler", "scheduler", "vae", "seed", "lora_combined_1", "metadata_scheme", "version",
    ]  # fmt: skip


# Made from input images: every InputUse field set once across the two.
VARIED = msgspec.structs.replace(BASE, input=InputUse(
    method="Upscale (Custom)", denoise=0.382, image_sha256="ab" * 32, history_id="5f0c2a9e1b7d4c3a",
    upscale_factor=1.75, upscaler="4x-UltraSharp.pth"))
OUTPAINTED = msgspec.structs.replace(BASE, input=InputUse(
    method="Outpaint", denoise=1.0, image_sha256="cd" * 32, mask_sha256="ef" * 32, outpaint=["Left", "Top"],
    respective_field=1.0, erode_or_dilate=-3, invert_mask=True, inpaint_engine="None"))


def test_the_input_is_written_in_each_schemes_words():
    data = json.loads(embedded_text(OUTPAINTED, "fooocus")["parameters"])
    assert (data["input_method"], data["denoising_strength"], data["outpaint_selections"]) == (
        "Outpaint", 1.0, "['Left', 'Top']")
    text = embedded_text(VARIED, "a1111")["parameters"]
    assert "Denoising strength: 0.382" in text and "Input method: Upscale (Custom)" in text
    assert "input_method" not in log_fields(BASE)  # text to image: no input keys at all


@pytest.mark.parametrize("params", [BASE, FULL, VARIED, OUTPAINTED], ids=["base", "full", "varied", "outpainted"])
def test_fooocus_round_trip(params):
    assert parse(embedded_text(params, "fooocus")["parameters"]) == params


def test_fooocus_round_trip_without_hashes():
    params = msgspec.structs.replace(BASE, base_model_hash=None, loras=[LoraUse(name="x", weight=1.0)])
    assert parse(embedded_text(params, "fooocus")["parameters"]) == params


def test_hashes_not_known_yet_are_unknown_in_fooocus_and_left_out_in_a1111():
    params = msgspec.structs.replace(
        FULL, base_model_hash=None, refiner_model_hash=None,
        loras=[LoraUse(name="detail", weight=0.5), LoraUse(name="style-b", weight=-0.25, hash="abcdef0123")],
    )
    data = json.loads(embedded_text(params, "fooocus")["parameters"])
    assert data["base_model_hash"] == data["refiner_model_hash"] == "unknown"
    assert data["loras"] == [["detail", 0.5, "unknown"], ["style-b", -0.25, "abcdef0123"]]
    assert parse(json.dumps(data)) == params  # `unknown` reads back as no hash
    text = embedded_text(params, "a1111")["parameters"]
    line = text.split("\n")[-1]
    assert "Model hash" not in line and "Refiner hash" not in line and "unknown" not in line
    assert 'Lora hashes: "style-b: abcdef0123", Lora weights: "detail: 0.5, style-b: -0.25"' in line
    assert parse(text) == _a1111_view(params)


def test_a1111_text_layout():
    text = embedded_text(BASE, "a1111")
    assert text["fooocus_scheme"] == "a1111"
    lines = text["parameters"].split("\n")
    assert lines[0] == "a lighthouse at dusk, warm light, a lighthouse at dusk, calm sea"
    assert lines[1] == "Negative prompt: blurry, lowres"
    assert lines[2] == (
        "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 127589946317439009, Size: 1152x896, CFG scale: 4.0, "
        'Sharpness: 2.0, ADM Guidance: "(1.5, 0.8, 0.3)", Model: juggernautXL_v8Rundiffusion, '
        "Model hash: aeb7e9e689, Performance: Speed, Scheduler: karras, VAE: Default (model), "
        "Raw prompt: a lighthouse at dusk, Raw negative prompt: blurry, "
        'Lora hashes: "sd_xl_offset_example-lora_1.0: 4852686128", '
        'Lora weights: "sd_xl_offset_example-lora_1.0: 0.1", Version: remgo v0.1.0'
    )


def test_a1111_optional_keys_and_quoting():
    line = embedded_text(FULL, "a1111")["parameters"].split("\n")[-1]
    assert 'Raw prompt: "portrait: (red hat:1.2), studio\\nsecond line"' in line
    assert (
        "Refiner: sd_xl_refiner_1.0, Refiner hash: 7440042bbd, Adaptive CFG: 5.5, Overwrite Switch: 0.7"
        in line
    )
    assert 'Refiner Swap Method: separate, FreeU: "(1.01, 1.02, 0.99, 0.95)"' in line
    assert line.endswith("Version: remgo v0.1.0, User: studio 4")


@pytest.mark.parametrize(
    ("sampler", "scheduler", "label"),
    [
        ("dpmpp_2m_sde_gpu", "karras", "DPM++ 2M SDE Karras"),
        ("euler_ancestral", "normal", "Euler a"),
        ("euler", "karras", "Euler Karras"),  # Fooocus adds the suffix to every labelled sampler
        ("dpmpp_3m_sde_gpu", "karras", "dpmpp_3m_sde_gpu"),  # no A1111 name: Fooocus's own
        ("uni_pc", "sgm_uniform", "UniPC"),
    ],
)
def test_a1111_sampler_names(sampler, scheduler, label):
    params = msgspec.structs.replace(BASE, sampler=sampler, scheduler=scheduler)
    assert f"Sampler: {label}," in embedded_text(params, "a1111")["parameters"]
    assert parse(embedded_text(params, "a1111")["parameters"]).sampler == sampler


def _a1111_view(params: ImageParams) -> ImageParams:
    """What the a1111 scheme carries: one prompt chunk, no styles/expansion/refiner switch (assumed 0.8)."""
    return msgspec.structs.replace(
        params,
        styles=[],
        prompt_expansion="",
        refiner_switch=0.8,
        clip_skip=2,
        full_prompt=[", ".join(params.full_prompt)],
        full_negative_prompt=[", ".join(params.full_negative_prompt)],
        metadata_scheme="a1111",
    )


@pytest.mark.parametrize("params", [BASE, FULL, VARIED, OUTPAINTED], ids=["base", "full", "varied", "outpainted"])
def test_a1111_round_trip(params):
    assert parse(embedded_text(params, "a1111")["parameters"]) == _a1111_view(params)


def test_a1111_text_from_a1111_itself():
    text = (
        "masterpiece, a red fox in snow\n"
        "Negative prompt: lowres, bad anatomy\n"
        "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 832x1216, "
        'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Clip skip: 2, Lora hashes: "fox: 1a2b3c4d5e6f"'
    )
    params = parse(text)
    assert params is not None
    assert (params.prompt, params.negative_prompt) == (
        "masterpiece, a red fox in snow",
        "lowres, bad anatomy",
    )
    assert (params.steps, params.seed, params.width, params.height) == (20, 1234, 832, 1216)
    assert (params.sampler, params.scheduler) == ("dpmpp_2m", "karras")
    assert params.guidance_scale == 7.0 and params.clip_skip == 2
    assert (params.base_model, params.base_model_hash) == ("sd_xl_base_1.0", "31e35c80fc")
    assert params.sharpness == 0.0 and params.adm_guidance == (1.0, 1.0, 0.0)  # neutral: A1111 has neither
    assert params.performance == ""
    assert params.loras == []  # hashes without weights name no LoRA use


def test_fooocus_json_as_fooocus_writes_it():
    # Shape of a Fooocus 2.5.5 image's `parameters` (our own prompt text).
    fooocus = {
        "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion",
        "base_model_hash": "aeb7e9e689", "clip_skip": 2, "full_negative_prompt": ["grainy", "washed out"],
        "full_prompt": ["a quiet harbour, film still", "a quiet harbour, soft light"], "guidance_scale": 4.0,
        "lora_combined_1": "sd_xl_offset_example-lora_1.0 : 0.1",
        "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]], "metadata_scheme": "fooocus",
        "negative_prompt": "", "performance": "Speed", "prompt": "a quiet harbour",
        "prompt_expansion": "a quiet harbour, soft light", "refiner_model": "None", "refiner_switch": 0.5,
        "resolution": "(512, 512)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
        "seed": "127589946317439009", "sharpness": 2.0, "steps": 30,
        "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']", "vae": "Default (model)",
        "version": "Fooocus v2.5.5",
    }  # fmt: skip
    text = json.dumps(fooocus)
    params = parse(text)
    assert params is not None and params.width == 512 and params.styles[0] == "Fooocus V2"
    assert embedded_text(params, "fooocus")["parameters"] == text  # byte for byte


def test_older_fooocus_logs_are_read():
    # Fooocus 2.1 logged display labels; 2.2 logged no steps and `false` as scheme when not embedding.
    old = {
        "Prompt": "dinosaur", "Negative Prompt": "", "Styles": "['Fooocus V2']", "Performance": "Extreme Speed",
        "Resolution": "(1024, 1024)", "Sharpness": 0.0, "Guidance Scale": 1.0, "ADM Guidance": "(1.0, 1.0, 0.0)",
        "Base Model": "sd_xl_base_1.0.safetensors", "Refiner Model": "None", "Refiner Switch": 1.0,
        "Sampler": "lcm", "Scheduler": "lcm", "Seed": 6515525224486854496, "LoRA 1": "dino.safetensors : 1.65",
        "Version": "v2.1.860",
    }  # fmt: skip
    params = parse(json.dumps(old))
    assert params is not None
    assert (params.prompt, params.steps, params.seed) == ("dinosaur", 8, 6515525224486854496)
    assert params.loras == [LoraUse(name="dino.safetensors", weight=1.65)]
    v22 = {**json.loads(embedded_text(BASE, "fooocus")["parameters"]), "metadata_scheme": False}
    assert parse(json.dumps(v22)).metadata_scheme == "fooocus"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "just a caption, nothing more",
        "line one\nline two: with a colon",
        '{"prompt": "no resolution"}',
        "[1, 2, 3]",
        "{not json",
        '{"prompt": "x", "resolution": "(a, b)", "steps": 1}',
        "Steps: 20, Sampler: Euler, CFG scale: 7",  # no seed or size
        "Steps: x, Seed: 1, Size: 512x512, CFG scale: 7",
        "Steps: 20, Seed: 1, Size: big, CFG scale: 7",
        '{"prompt": "x", "resolution": "__import__(\'os\')", "steps": 1}',
    ],
)
def test_unknown_or_broken_text_is_none(text):
    assert parse(text) is None


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="metadata_scheme"):
        embedded_text(BASE, "exif")


def test_scheme_enum_is_accepted():
    from contract.request import MetadataScheme

    assert embedded_text(BASE, MetadataScheme.a1111)["fooocus_scheme"] == "a1111"


def test_stem():
    assert stem("a/b/model.v2.safetensors") == "model.v2"
    assert stem("sd_xl_offset_example-lora_1.0") == "sd_xl_offset_example-lora_1.0"  # a stem stays a stem
    assert stem("c:\\models\\x.ckpt") == "x"
    assert stem("Default (model)") == "Default (model)"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
fooocus_keys = st.sampled_from(sorted(FOOOCUS_KEYS | {"freeu", "adaptive_cfg", "LoRA 1", "Resolution"}))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | st.builds("\n".join, st.lists(st.text(max_size=60), max_size=4)))
def test_parse_never_raises_on_text(text):
    result = parse(text)
    assert result is None or isinstance(result, ImageParams)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(fooocus_keys, json_values, max_size=12))
def test_parse_never_raises_on_fooocus_like_json(data):
    base = json.loads(embedded_text(BASE, "fooocus")["parameters"])
    result = parse(json.dumps({**base, **data}))
    assert result is None or isinstance(result, ImageParams)
