"""Shared test data for the outputs and history tests: ImageParams and small image files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from inference_worker.encode import encode_image
from orchestrator.common.image_params import ImageParams, LoraUse
from orchestrator.store.metadata.text import embedded_text


def sample_params(**changes) -> ImageParams:
    fields = dict(
        prompt="a red fox in fresh snow",
        negative_prompt="blurry, lowres",
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
        seed=1234567890123,
        clip_skip=2,
        adaptive_cfg=7.0,
        refiner_switch=0.5,
        loras=[LoraUse(name="sdxl_offset_lora", weight=0.1, hash="4852686128")],
        full_prompt=["a red fox in fresh snow, intricate"],
        full_negative_prompt=["blurry, lowres"],
        prompt_expansion="a red fox in fresh snow, intricate",
    )
    fields.update(changes)
    return ImageParams(**fields)


def image_bytes(fmt: str, mapping: dict[str, str] | None = None, size=(64, 48), color=(200, 60, 20)) -> bytes:
    return encode_image(Image.new("RGB", size, color), fmt, mapping)


def write_image(path: Path, fmt: str, params: ImageParams | None = None, scheme: str = "fooocus",
                mapping: dict[str, str] | None = None, size=(64, 48)) -> Path:
    """An image file with `params` embedded in `scheme` (or `mapping` as given, or nothing)."""
    if params is not None:
        mapping = embedded_text(params, scheme)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(fmt, mapping, size))
    return path
