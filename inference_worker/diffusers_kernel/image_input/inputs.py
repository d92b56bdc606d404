"""One task's image input, prepared once per task: the diffusion's size and denoise, its start latent,
the known region of an inpaint, and what turns the decoded image into the output.

Vary: the image resized to the output size, encoded; the task's steps at its denoise. Upscale: resized
to the output size (Lanczos; a super-resolution `upscaler` is refused); with no denoise that is the
result, else as Vary at the size rounded up to 8 (edge-padded, cropped back), tiled VAE both ways.
Inpaint: see inpaint.py; its known region is held to the filled crop's latent (Fooocus's), and a
9-channel inpainting UNet also gets [mask, masked-image latent] as extra input channels (diffusers'
layout; every other task on such a UNet gets inpaint_unet.py's unmasked channels). With Fooocus's inpaint engine (loading/inpaint_engine.py) the base samples with the patch on and
its head's output, from [latent mask, latent of the crop with the masked area grey], added after
`conv_in`; a refiner (the synthetic one: the same UNet) samples with neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np
import torch
from PIL import Image

from contract.image_input import Inpaint, Upscale, Vary
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.image_input import (
    a1111_inpaint,
    a1111_latents,
    inpaint,
    inpaint_unet,
    pixels,
    vae_io,
)
from inference_worker.diffusers_kernel.image_input.mask import latent_mask
from inference_worker.diffusers_kernel.image_input.refiner_plan import encodes_with_refiner, plan_at_denoise
from inference_worker.diffusers_kernel.loading.inpaint_engine import EngineWeights
from inference_worker.diffusers_kernel.loading.model_set import ModelSet
from inference_worker.diffusers_kernel.sampling.denoiser import ModelPass
from inference_worker.diffusers_kernel.sampling.known_region import KnownRegion
from inference_worker.diffusers_kernel.sampling.refiner import RefinerPlan, handover_step

METHODS = frozenset({"vary", "upscale", "inpaint", "inpaint.engine", "inpaint.a1111"})


def check(task: GenerateTask) -> None:
    """What is refused before any model loads."""
    method = task.method()
    if method is None:
        return
    if isinstance(method, Inpaint) and method.mask is not None:
        pixels.check_header(method.mask, "image_input.mask")
    pixels.check_header(method.image, "image_input.image")


@dataclass
class InputRun:
    size: tuple[int, int]  # the diffusion's width × height (multiples of 8)
    denoise: float | None  # None: the whole schedule
    plan: RefinerPlan | None  # the refiner plan at this denoise
    tiled: bool  # tiled VAE encode and decode
    finish: Callable[[Image.Image], Image.Image]  # decoded image → output image
    initial: torch.Tensor | None = None  # the start latent before noise (None: pure noise)
    known: torch.Tensor | None = None  # inpaint: the latent outside the mask …
    mask: torch.Tensor | None = None  # … and the latent mask (1 = repaint)
    refiner_known: torch.Tensor | None = None  # the known latent in a refiner's own latent space
    extra: torch.Tensor | None = None  # a 9-channel UNet's [mask, masked-image latent]
    result: Image.Image | None = None  # already the output: no diffusion
    engine: EngineWeights | None = None  # Fooocus's inpaint engine on the base UNet …
    head_feature: torch.Tensor | None = None  # … and what its head adds after conv_in
    hold: type[KnownRegion] = KnownRegion  # how the known region is held (A1111's: the estimate only)
    settles: bool = False  # the sampler's result is blended with the known latent outside the mask (A1111)

    def attach(self, base: ModelPass, refiner: ModelPass | None, seed: int) -> None:
        """Put this image's known region (its noise follows the seed) on the model passes; an inpaint's
        mask channels replace the unmasked ones a 9-channel UNet otherwise gets (inpaint_unet.py)."""
        region = None if self.known is None else self.hold(self.known, self.mask, seed)
        base.known = region
        if self.extra is not None:
            base.extra = self.extra
        base.input_feature = self.head_feature
        base.before = self.engine.patched if self.engine is not None else None
        if refiner is None:
            return
        refiner.input_feature = None
        refiner.before = self.engine.plain if self.engine is not None and refiner.unet is base.unet else None
        if self.plan is not None and not self.plan.same_latents and self.refiner_known is not None:
            # the `vae` swap's refiner run is a second sampler run with seed + 1, as in Fooocus
            refiner.known = self.hold(self.refiner_known, self.mask, seed + 1)
        else:
            refiner.known = region

    def settle(self, latents: torch.Tensor) -> torch.Tensor:
        """The sampled latent as it is decoded: A1111's inpainting puts the known latent back outside the mask."""
        if not self.settles:
            return latents
        refined = self.plan is not None and not self.plan.same_latents and self.refiner_known is not None
        return a1111_latents.settle(latents, self.refiner_known if refined else self.known, self.mask)


def _keep(image: Image.Image) -> Image.Image:
    return image


def prepare(task: GenerateTask, models: ModelSet, warn: Callable[[str], None]) -> InputRun:
    method = task.method()
    if isinstance(method, Inpaint):
        return _inpaint(task, method, models, warn)
    source = pixels.resize(pixels.load_rgb(method.image, "image_input.image"), task.width, task.height)
    if isinstance(method, Upscale) and method.denoise is None:
        return InputRun((task.width, task.height), None, None, False, _keep, result=Image.fromarray(source))
    if isinstance(method, Upscale):
        w, h = -(-task.width // 8) * 8, -(-task.height // 8) * 8
        source = np.pad(source, ((0, h - task.height), (0, w - task.width), (0, 0)), mode="edge")
        tiled = True  # as Fooocus encodes and decodes an upscale

        def finish(image: Image.Image) -> Image.Image:
            return image.crop((0, 0, task.width, task.height))
    else:
        assert isinstance(method, Vary)
        w, h, finish = task.width, task.height, _keep
        tiled = w * h > vae_io.TILE_ABOVE_PIXELS
    if tiled and task.seamless():
        # Tiles would each wrap around at their own edges: the image is one period, so the VAE takes it whole.
        tiled = False
        warn("tiling: the VAE encoded and decoded the whole image at once, not in tiles")
    plan = plan_at_denoise(models.plan, task.steps, method.denoise, warn)
    initial = vae_io.encode(_encoder(models, plan), source, tiled)
    return InputRun((w, h), method.denoise, plan, tiled, finish, initial=initial)


def _encoder(models: ModelSet, plan: RefinerPlan | None):
    return models.refiner.pipe.vae if encodes_with_refiner(plan) else models.base.pipe.vae


def _inpaint(task: GenerateTask, method: Inpaint, models: ModelSet, warn) -> InputRun:
    if method.a1111 is not msgspec.UNSET:
        return _a1111_inpaint(task, method, models, warn)
    area = inpaint.prepare(method, warn)
    plan = plan_at_denoise(models.plan, task.steps, method.denoise, warn)
    vae = _encoder(models, plan)
    fill = vae_io.encode(vae, area.work_fill)
    mask = latent_mask(area.work_mask).to(fill.device)
    run = InputRun(area.work_size, method.denoise, plan, False, area.paste, known=fill, mask=mask)
    if not method.disable_initial_latent:
        run.initial = fill
    if plan is not None and not plan.same_latents and not encodes_with_refiner(plan):
        run.refiner_known = vae_io.encode(models.refiner.pipe.vae, area.work_fill)
    unet = models.base.pipe.unet
    if models.engine is not None:
        engine = method.engine
        base_vae = models.base.pipe.vae  # the head feeds the base, in the base's latent space
        masked = vae_io.encode(base_vae, inpaint.masked_pixels(area))
        run.engine, run.head_feature = models.engine, models.engine.head_feature(run.mask.to(masked.device), masked)
        synthetic = models.refiner is models.base
        warn(f"inpaint engine: Fooocus {engine.version} ({engine.head.name} + {engine.patch.name}) on the base"
             + (f"; Fooocus's synthetic refiner (the base without the patch) made the last "
                f"{task.steps - handover_step(plan.method, plan.switch)} of {task.steps} steps"
                if synthetic and plan is not None else ""))
    elif inpaint_unet.takes_mask(unet):
        masked = vae_io.encode(vae, inpaint.masked_pixels(area))
        run.extra = torch.cat([run.mask, masked], dim=1)
        warn("inpaint engine: none; the checkpoint's own 9-channel inpainting UNet ran")
    else:
        warn(
            "inpaint engine: none; the checkpoint as it is ran, its latent held to the image outside the mask"
        )
    return run


def _a1111_inpaint(task: GenerateTask, method: Inpaint, models: ModelSet, warn) -> InputRun:
    """AUTOMATIC1111's steps (a1111_inpaint.py, a1111_latents.py); the checkpoint as it is, or its own
    9-channel UNet, which reads A1111's conditioning mask and masked work."""
    steps = method.a1111
    assert method.mask is not None and steps is not msgspec.UNSET  # the contract says so
    image = pixels.load_rgb(method.image, "image_input.image")
    area = a1111_inpaint.prepare(image, a1111_inpaint.load_mask(method.mask, steps.round_mask), steps,
                                 method.invert_mask)
    w, h = area.work_size
    tiled = w * h > vae_io.TILE_ABOVE_PIXELS
    plan = plan_at_denoise(models.plan, task.steps, method.denoise, warn)
    mask = a1111_latents.latent_mask(area.work_mask, steps.round_mask)

    def start(vae) -> torch.Tensor:
        encoded = vae_io.encode(vae, area.work_image, tiled)
        return a1111_latents.start_latent(encoded, mask.to(encoded.device), steps.content, task.seeds[0])

    known = start(_encoder(models, plan))
    run = InputRun((w, h), method.denoise, plan, tiled, area.paste, initial=known, known=known,
                   mask=mask.to(known.device), hold=a1111_latents.DenoisedHold, settles=True)
    if plan is not None and not plan.same_latents and not encodes_with_refiner(plan):
        run.refiner_known = start(models.refiner.pipe.vae)
    vae = _encoder(models, plan)
    if inpaint_unet.takes_mask(models.base.pipe.unet):
        masked = vae_io.encode(vae, a1111_latents.masked_work(area.work_image, area.work_mask, steps.round_mask),
                               tiled)
        cond = a1111_latents.conditioning_mask(area.work_mask, steps.round_mask, tuple(masked.shape[-2:]))
        run.extra = torch.cat([cond.to(masked), masked], dim=1)
        how = "the checkpoint's own 9-channel inpainting UNet ran"
    else:
        how = "the checkpoint as it is ran, its estimate held to the image outside the mask"
    where = (f"the {area.box[2] - area.box[0]}×{area.box[3] - area.box[1]} box around the mask at {w}×{h}"
             if area.box is not None else "the whole picture")
    warn(f"inpaint (AUTOMATIC1111's steps): {where}; {how}")
    return run
