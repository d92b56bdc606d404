"""Hires fix in AUTOMATIC1111's own texts: `Size` is the first pass and the final size follows from `Hires
upscale` / `Hires resize` (A1111 1.x), or `Size` is the final image and `First pass size` the first pass
(A1111 before 1.0; `0x0`: about 512² pixels in the final aspect, sides rounded up to 64s)."""

from __future__ import annotations

from orchestrator.store.metadata import text as metadata

A1111_1X = ("a castle\nNegative prompt: fog\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
            "Seed: 5, Size: 512x768, Model hash: 6ce0161689, Model: v1-5, Denoising strength: 0.45, "
            "Hires upscale: 1.5, Hires steps: 10, Hires upscaler: Latent (bicubic antialiased), Version: v1.9.4")


def test_an_a1111_1x_text_reads_the_first_pass_and_works_out_the_final_size():
    params = metadata.parse(A1111_1X)
    assert (params.width, params.height) == (512, 768)
    hires = params.hires
    assert (hires.width, hires.height) == (768, 1152)  # 512 × 1.5, 768 × 1.5
    assert (hires.scale, hires.resize, hires.steps, hires.denoise) == (1.5, None, 10, 0.45)
    assert hires.upscaler == "Latent (bicubic antialiased)"


def test_a_resize_of_another_aspect_is_cropped_as_a1111_crops_it():
    text = A1111_1X.replace("Hires upscale: 1.5", "Hires resize: 1000x900")
    hires = metadata.parse(text).hires
    # 512/768 < 1000/900: cover 1000 × 1500; (1500 − 900) // 8 = 75 cells dropped of 187 → 112 → 896
    assert (hires.width, hires.height, hires.resize, hires.scale) == (1000, 896, (1000, 900), None)


def test_an_old_text_with_a_first_pass_size():
    text = "a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 1024x768, Denoising strength: 0.6, " \
           "First pass size: 512x384"
    params = metadata.parse(text)
    assert (params.width, params.height) == (512, 384)
    assert (params.hires.width, params.hires.height, params.hires.denoise) == (1024, 768, 0.6)
    # 0x0: √(512² / (1024 × 768)) × 1024 / 64 = 9.24 → 10 × 64 = 640; × 768 / 64 = 6.93 → 7 × 64 = 448
    auto = metadata.parse(text.replace("512x384", "0x0"))
    assert (auto.width, auto.height) == (640, 448)


def test_a_text_without_hires_keys_has_none():
    assert metadata.parse(A1111_1X.split(", Denoising")[0]).hires is None
