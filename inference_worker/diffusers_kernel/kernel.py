"""The diffusers kernel: SDXL / SD 1.5 text-to-image, Vary, Upscale, Inpaint and image prompts (control models:
PyraCanny, CPDS; IP-Adapters: ImagePrompt, FaceSwap) with Fooocus's sampling knobs, and AUTOMATIC1111's
seamless tiling (loading/seamless.py), hires fix (hires.py) and prompt editing and alternation (a per-step
conditioning schedule, conditioning/schedule.py).

diffusers provides the model classes and checkpoint loading; the sampling loop is remgo's own
(sampling/: samplers, sigmas, denoiser, guidance, refiner) so that Fooocus's sampler and scheduler
names mean what they mean there, every step can report and be stopped, and noise comes from a
per-image CPU generator.
"""

from __future__ import annotations

import gc
import logging
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from PIL import Image

from contract.a1111_timesteps import pairing_problem
from contract.events import FailureKind, Stage
from contract.hires import HiresFix
from contract.task import GenerateTask
from inference_worker.diffusers_kernel import hires
from inference_worker.diffusers_kernel.conditioning import prompts
from inference_worker.diffusers_kernel.conditioning.schedule import encode_schedule
from inference_worker.diffusers_kernel.image_input import inpaint_unet, inputs, vae_io
from inference_worker.diffusers_kernel.image_input.img2img import schedule_tail
from inference_worker.diffusers_kernel.image_prompts import (
    control,
    control_prompts,
    image_encoder,
    ip_prompts,
)
from inference_worker.diffusers_kernel.loading.inpaint_engine import EngineCache
from inference_worker.diffusers_kernel.loading.model_set import ModelSet, load_models
from inference_worker.diffusers_kernel.loading.pipeline_cache import PipelineCache
from inference_worker.diffusers_kernel.loading.seamless import seamless
from inference_worker.diffusers_kernel.previews import latent_preview
from inference_worker.diffusers_kernel.sampling import refiner
from inference_worker.diffusers_kernel.sampling.aesthetic_score import AestheticConditioning
from inference_worker.diffusers_kernel.sampling.denoiser import Denoiser, ModelPass, SizeConditioning
from inference_worker.diffusers_kernel.sampling.guidance import Guidance
from inference_worker.diffusers_kernel.sampling.noise import NoiseSource
from inference_worker.diffusers_kernel.sampling.samplers import REFUSED_SAMPLERS, SAMPLERS, start_noise_scale
from inference_worker.diffusers_kernel.sampling.sigmas import (
    REFUSED_SCHEDULES,
    SCHEDULES,
    VARIANCE_PRESERVING,
    fractional_timestep,
    model_sigmas,
    schedule,
)
from inference_worker.kernel import KernelError, KernelOptions, StepSink

log = logging.getLogger("remgo.worker.diffusers")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Fooocus gives these samplers one more schedule entry and drops the last non-zero one, so their final
# step starts from a higher level (dpm_2: a midpoint step; UniPC: it ends at 1e-3, not at zero).
_EXTRA_STEP_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})
TILING = "tiling"  # declared with the image inputs: this kernel runs AUTOMATIC1111's seamless tiling
HIRES = "hires"  # …and hires fix's second pass (hires.py)
PROMPT_SCHEDULE = "prompt_schedule"  # …and a per-step conditioning schedule (conditioning/schedule.py)
VARIATION = "variation"  # …and AUTOMATIC1111's variation seeds (sampling/noise.py)
INTERPOLATED = "unet_timestep.interpolated"  # …and the UNet conditioned on fractional timesteps (sampling/denoiser.py)


def _unsupported(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.unsupported, message, field)


def _quiet_progress_bars() -> None:
    # Loading bars go to stderr only, but a worker's stderr is its log: keep it readable.
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


@dataclass
class _Prepared:
    task_id: str
    size: tuple[int, int]  # the diffusion's width × height (an inpaint's crop differs from the output)
    base: ModelPass
    refiner: ModelPass | None
    guidance: Guidance
    second: bool = False  # hires fix's second pass, which reads its own schedule


class DiffusersKernel:
    name = "diffusers"

    def __init__(self, options: KernelOptions) -> None:
        self.options = options
        _quiet_progress_bars()
        if options.threads:
            torch.set_num_threads(options.threads)
        device = options.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"--device {device}: CUDA is not available to this process")
        if device == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("--device mps: the Apple GPU is not available to this process")
        self.device = torch.device(device)
        default = "float32" if self.device.type == "cpu" else "float16"
        self.dtype = _DTYPES[options.dtype or default]
        self.cache = PipelineCache(options.pipeline_cache, on_evict=self._empty_device_cache)
        self.engines = EngineCache()  # Fooocus's inpaint head + patch, read once
        self._models: ModelSet | None = None
        self._prepared: _Prepared | None = None
        self._input: tuple[str, inputs.InputRun] | None = None  # the current task's prepared image input
        self.controls = control.ControlCache()  # the control models of the latest task
        self._control_nets: dict[int, object] = {}  # image prompt index → its ControlNet, this task's
        self.ip_adapters = ip_prompts.AdapterCache()  # the IP-Adapters of the latest task, and its encoder:
        self.image_encoders = image_encoder.EncoderCache()
        self._ip: ip_prompts.IpConditioning | None = None  # this task's IP-Adapter prompts
        self.prompt_context = prompts.PromptContext()

    # ----- what this kernel offers --------------------------------------------------------------------

    def samplers(self) -> list[str]:
        return sorted(SAMPLERS)

    def schedulers(self) -> list[str]:
        return sorted(SCHEDULES)

    def image_methods(self) -> frozenset[str]:
        return inputs.METHODS | control.METHODS | ip_prompts.METHODS | {
            TILING, HIRES, PROMPT_SCHEDULE, INTERPOLATED, VARIATION}

    def loaded_models(self) -> list[str]:
        return self.cache.names()

    def _empty_device_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def free_memory(self) -> None:
        """After an out-of-memory error: drop this task's tensors and the allocator's cache.

        Loaded models stay: the usual cause is a size too large for what is left, and reloading a
        checkpoint would cost far more than the retry it enables."""
        self._prepared, self._input = None, None
        gc.collect()
        self._empty_device_cache()

    # ----- refusals before any work -------------------------------------------------------------------

    def check(self, task: GenerateTask) -> None:
        for field, name, offered, refused in (
            ("sampler", task.sampler.value, self.samplers(), REFUSED_SAMPLERS),
            ("scheduler", task.scheduler.value, self.schedulers(), REFUSED_SCHEDULES),
        ):
            if name not in offered:
                why = f" ({refused[name]})" if name in refused else ""
                raise _unsupported(field, f"{field} {name!r} is not supported{why}; supported: {offered}")
        if task.scheduler.value == "turbo" and task.steps > 10:
            raise KernelError(FailureKind.bad_request, "the turbo scheduler runs at most 10 steps", "steps")
        # AUTOMATIC1111's own timestep schedules: their samplers, fewest steps, text to image only
        if problem := pairing_problem(task.sampler.value, task.scheduler.value, task.steps,
                                      image_input=task.method() is not None, hires=task.hires_fix() is not None,
                                      refiner=task.refiner is not None):
            field, message = problem
            raise KernelError(FailureKind.bad_request if field == "steps" else FailureKind.unsupported, message, field)
        inputs.check(task)
        control_prompts.check(task)
        ip_prompts.check(task)
        if task.hires_fix() is not None and (task.refiner is not None or task.prompts()):
            raise _unsupported("hires", "hires fix runs on text to image without a refiner or image prompts")

    # ----- loading --------------------------------------------------------------------------------------

    def load(self, task: GenerateTask, steps: StepSink) -> None:
        steps.stage(Stage.loading)
        # Let go of the previous models first, so an eviction really frees their memory before the load.
        self._models, self._prepared, self._input, self._control_nets, self._ip = None, None, None, {}, None
        self._models = load_models(
            task, self.cache, self.dtype, self.device, self.options.allow_pickle, steps.warn, self.engines
        )
        plan = self._models.plan
        if task.schedule() is not None and plan is not None and plan.method != "joint":
            raise _unsupported("refiner", f"a prompt schedule runs with a refiner swapped in jointly only; this refiner "
                                          f"swaps by {plan.method} (an SD 1.5 refiner of an SDXL base always does)")
        if not task.control_settings().debug_preprocessor:  # showing the maps runs no model
            self._control_nets = self.controls.load(task, self._models.base, self.dtype, self.device)
            self._ip = ip_prompts.prepare(
                task, self._models.base.pipe.unet, self.ip_adapters, self.image_encoders, steps.warn
            )

    def _require_models(self) -> ModelSet:
        if self._models is None:
            raise KernelError(FailureKind.internal, "generate_image called before load")
        return self._models

    # ----- generation -----------------------------------------------------------------------------------

    def _prepare(self, task: GenerateTask, size: tuple[int, int], second: bool = False) -> _Prepared:
        """The passes of the task's models at `size`, the prompts encoded: the task's, or with `second` the hires
        fix's second pass's (its own schedule when it has one)."""
        prepared = self._prepared
        if prepared is not None and (prepared.task_id, prepared.size, prepared.second) == (task.task_id, size, second):
            return prepared
        models = self._require_models()
        base = models.base
        guidance = Guidance(task.guidance_scale, task.sharpness, task.adaptive_cfg, wrap=task.seamless())
        self.prompt_context.embeddings = list(task.embeddings)
        ctx = self.prompt_context
        fix = task.hires_fix()
        entries = fix.schedule() if second and fix is not None else task.schedule()
        scheduled = None
        if entries is not None:  # each distinct prompt encoded once; the first entry's act first
            scheduled = encode_schedule(base.pipe, base.arch, entries, task.clip_skip, ctx, guidance.uses_negative)
            cond, uncond = scheduled.at(0)
        else:
            cond = prompts.encode(base.pipe, base.arch, task.positive, task.clip_skip, ctx, "positive")
            uncond = (
                prompts.encode(base.pipe, base.arch, task.negative, task.clip_skip, ctx, "negative")
                if guidance.uses_negative
                else None
            )
        scheduler = task.scheduler.value
        boundary = scheduler == "lcm"

        def size_for(arch: str) -> SizeConditioning | None:
            if arch == "sdxl_refiner":
                return AestheticConditioning.for_image(*size)
            if arch != "sdxl":
                return None
            adm = task.adm
            return SizeConditioning(*size, adm.positive, adm.negative, adm.end)

        def table(pipe):
            return model_sigmas(scheduler, dict(pipe.scheduler.config))

        base_pass = ModelPass(
            base.pipe.unet, table(base.pipe), cond, uncond, size_for(base.arch), boundary, base.prediction
        )
        base_pass.timestep_of = fractional_timestep(base_pass.sigmas, scheduler, task.interpolated_timesteps())
        base_pass.schedule = scheduled
        if inpaint_unet.takes_mask(base.pipe.unet):  # a 9-channel UNet; an inpaint's own mask replaces this
            base_pass.extra = inpaint_unet.unmasked_conditioning(base.pipe.vae, size)
        # Control prompts act on the base only (Fooocus gives the refiner its prompts without them).
        base_pass.control = control_prompts.residuals(task, self._control_nets, size, base_pass.sigmas)
        base_pass.image_prompts = self._ip.acting if self._ip is not None else None  # base only, too
        refiner_pass = None
        if models.refiner is not None:
            r = models.refiner
            r_cond = refiner.refiner_conditioning(cond, base.arch, r.arch, base.pipe)
            r_uncond = refiner.refiner_conditioning(uncond, base.arch, r.arch, base.pipe) if uncond else None
            refiner_pass = ModelPass(
                r.pipe.unet, table(r.pipe), r_cond, r_uncond, size_for(r.arch), boundary, r.prediction
            )
            refiner_pass.timestep_of = fractional_timestep(refiner_pass.sigmas, scheduler,
                                                           task.interpolated_timesteps())
            if scheduled is not None:  # the same entries in the refiner's form, the count going on (joint only)
                refiner_pass.schedule = scheduled.mapped(
                    lambda c: refiner.refiner_conditioning(c, base.arch, r.arch, base.pipe))
        self._prepared = _Prepared(task.task_id, size, base_pass, refiner_pass, guidance, second)
        return self._prepared

    def _schedule(self, task: GenerateTask, table, family: str, denoise: float | None = None,
                  steps: int | None = None) -> torch.Tensor:
        """`steps` (else the task's) steps; with `denoise`, the tail of a longer schedule (img2img.py)."""
        name = task.scheduler.value

        def build(steps: int) -> torch.Tensor:
            if task.sampler.value in _EXTRA_STEP_SAMPLERS and name not in VARIANCE_PRESERVING:
                sig = schedule(name, table, steps + 1, family)
                return torch.cat([sig[:-2], sig[-1:]])
            return schedule(name, table, steps, family)

        return schedule_tail(build, steps or task.steps, denoise).to(torch.float32).to(self.device)

    def _image_input(self, task: GenerateTask, steps: StepSink) -> inputs.InputRun | None:
        if task.method() is None:
            return None
        if self._input is None or self._input[0] != task.task_id:
            self._input = None  # let go of the previous task's tensors first
            self._input = (task.task_id, inputs.prepare(task, self._require_models(), steps.warn))
        return self._input[1]

    def _debug_image(self, task: GenerateTask, index: int, size: tuple[int, int], steps: StepSink) -> Image.Image:
        prompt = task.prompts()[index]
        if prompt.type in ip_prompts.IP_ADAPTER_TYPES:  # the 224² picture the image encoder reads
            skip = task.control_settings().skip_preprocessor
            return Image.fromarray(ip_prompts.prepared_picture(prompt, index, skip, steps.warn))
        if prompt.type not in control.CONTROL_TYPES:
            raise _unsupported("control.debug_preprocessor",
                               f"image_prompts[{index}]: no preprocessed image of a {prompt.type.value} prompt")
        return Image.fromarray(control_prompts.prompt_map(task, index, size))

    def padding_for(self, task: GenerateTask):
        """The block in which the task's models pad as it asks: circularly for seamless tiling (every model
        that touches the canvas: UNets, VAEs, control models), as they were otherwise and afterwards."""
        models = self._require_models()
        parts = [models.base.pipe.unet, models.base.pipe.vae, *self._control_nets.values()]
        if models.refiner is not None:
            parts += [models.refiner.pipe.unet, models.refiner.pipe.vae]
        return seamless(parts, task.seamless())

    def generate_image(self, task: GenerateTask, index: int, seed: int, steps: StepSink) -> Image.Image:
        # The models are cached for later tasks: tiling lasts for this image only, whatever ends it.
        with self.padding_for(task):
            return self._generate_image(task, index, seed, steps)

    def _generate_image(self, task: GenerateTask, index: int, seed: int, steps: StepSink) -> Image.Image:
        steps.stage(Stage.encoding_prompt)  # also the stage of encoding an input image
        source = self._image_input(task, steps)  # None: text to image
        if source is not None and source.result is not None:
            return source.result  # an Upscale without denoise: no diffusion
        width, height = source.size if source else (task.width, task.height)
        if task.control_settings().debug_preprocessor:  # image i: image prompt i's control image
            return self._debug_image(task, index, (width, height), steps)
        prepared = self._prepare(task, (width, height))
        models = self._require_models()
        base = models.base
        denoise = source.denoise if source else None
        sig = self._schedule(task, prepared.base.sigmas, base.arch, denoise)
        fix = task.hires_fix()
        total = len(sig) - 1 + (fix.steps if fix is not None else 0)  # progress counts both passes
        # one Brownian path over the whole schedule; the start noise turned towards the image's variation seed's
        noise = NoiseSource(seed, self.device, span=sig, variation=task.variation_of(index))
        variance_preserving = task.scheduler.value in VARIANCE_PRESERVING
        scale = start_noise_scale(float(sig[0]), prepared.base.sigmas.sigma_max, variance_preserving)
        x = noise.start((1, 4, height // 8, width // 8), 1.0) * scale
        if source is not None:
            x = x if source.initial is None else x + source.initial
            source.attach(prepared.base, prepared.refiner, seed)
        sampler = SAMPLERS[task.sampler.value]
        plan = source.plan if source else models.plan
        switch = refiner.handover_step(plan.method, plan.switch) if plan is not None else total
        decoder = base.pipe.vae

        previewed = [0]  # dpm_adaptive may report one step several times: one preview per step

        def reporter(offset: int):
            def on_step(i: int, x0: torch.Tensor) -> None:
                step = offset + i + 1
                refining = plan is not None and step > switch
                if refining:
                    steps.stage(Stage.refining)
                preview = None
                if step != previewed[0] and steps.wants_preview(step):
                    vae = models.refiner.pipe.vae if refining and not plan.same_latents else base.pipe.vae
                    preview, previewed[0] = latent_preview(x0, task.preview, vae), step
                steps.step(step, total, preview)

            return on_step

        steps.stage(Stage.sampling)
        ip_attention = self._ip.installed(base.pipe.unet) if self._ip is not None else nullcontext()
        try:
            with torch.inference_mode(), ip_attention:  # (the IP attention never outlives the image either)
                if plan is None:
                    denoiser = Denoiser([prepared.base], prepared.guidance)
                    latents = sampler(denoiser, x, sig, noise, reporter(0))
                    if variance_preserving:  # the latent at the last level, as A1111 decodes it
                        latents = latents / (1.0 + float(sig[-1]) ** 2) ** 0.5
                else:
                    r = models.refiner
                    r_table = prepared.refiner.sigmas
                    run = refiner.Run(
                        sampler=sampler, base=prepared.base, refiner=prepared.refiner, guidance=prepared.guidance,
                        sigmas=sig, refiner_sigmas=lambda: self._schedule(task, r_table, r.family, denoise),
                        noise=noise, seed=seed, on_step=reporter, base_vae=base.pipe.vae, refiner_vae=r.pipe.vae,
                    )  # fmt: skip
                    latents = refiner.sample(plan, run, x)
                    if not plan.same_latents:
                        decoder = r.pipe.vae
        finally:  # the engine's patch never outlives the image (a stop or skip included)
            if models.engine is not None:
                models.engine.restore()
        if fix is not None:
            latents = self._second_pass(task, fix, seed, task.variation_of(index), latents, sampler,
                                        reporter(len(sig) - 1), steps)
        with torch.inference_mode():
            steps.stage(Stage.decoding)
            if source is not None:
                latents = source.settle(latents)
            tiled = bool(source and source.tiled) or (fix is not None and hires.tiled(fix.width, fix.height))
            image = vae_io.decode(decoder, latents, tiled=tiled)
        return source.finish(image) if source else image

    def _second_pass(self, task: GenerateTask, fix: HiresFix, seed: int, variation: tuple[int, float] | None,
                     first: torch.Tensor, sampler, on_step, steps: StepSink) -> torch.Tensor:
        """Hires fix: the first pass's latent upscaled and denoised again at the final size (hires.py)."""
        base = self._require_models().base
        steps.stage(Stage.encoding_prompt)  # SDXL's size conditioning is the final size's
        prepared = self._prepare(task, (fix.width, fix.height), second=True)
        steps.stage(Stage.sampling)
        table = prepared.base.sigmas
        with torch.inference_mode():
            return hires.run(first, hires.SecondPass(
                fix=fix, seed=seed, variation=variation, device=self.device, vae=base.pipe.vae, sampler=sampler,
                model_pass=prepared.base, guidance=prepared.guidance, on_step=on_step,
                schedule=lambda: self._schedule(task, table, base.arch, fix.denoise, fix.steps)))
