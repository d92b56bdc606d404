"""The diffusers kernel: SDXL / SD 1.5 text-to-image with Fooocus's sampling knobs.

diffusers provides the model classes and checkpoint loading; the sampling loop is remgo's own
(samplers.py, sigmas.py, denoiser.py) so that Fooocus's sampler and scheduler names mean what they mean
there, every step can report and be stopped, and noise comes from a per-image CPU generator.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from contract.events import FailureKind, Stage
from contract.task import GenerateTask
from inference_worker.diffusers_kernel import loader, prompts
from inference_worker.diffusers_kernel.denoiser import Denoiser, SizeConditioning
from inference_worker.diffusers_kernel.pipeline_cache import PipelineCache, file_key
from inference_worker.diffusers_kernel.previews import latent_preview
from inference_worker.diffusers_kernel.samplers import SAMPLERS
from inference_worker.diffusers_kernel.sigmas import SCHEDULES, ModelSigmas, schedule
from inference_worker.kernel import KernelError, KernelOptions, StepSink

log = logging.getLogger("remgo.worker.diffusers")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


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
    denoiser: Denoiser
    sigmas: ModelSigmas


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
        self.device = torch.device(device)
        default = "float32" if self.device.type == "cpu" else "float16"
        self.dtype = _DTYPES[options.dtype or default]
        self.cache = PipelineCache(options.pipeline_cache, on_evict=self._empty_device_cache)
        self._model: loader.LoadedModel | None = None
        self._prepared: _Prepared | None = None

    # ----- what this kernel offers --------------------------------------------------------------------

    def samplers(self) -> list[str]:
        return sorted(SAMPLERS)

    def schedulers(self) -> list[str]:
        return sorted(SCHEDULES)

    def loaded_models(self) -> list[str]:
        return self.cache.names()

    def _empty_device_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def free_memory(self) -> None:
        """After an out-of-memory error: drop this task's tensors and the allocator's cache.

        Loaded models stay: the usual cause is a size too large for what is left, and reloading a
        checkpoint would cost far more than the retry it enables."""
        self._prepared = None
        gc.collect()
        self._empty_device_cache()

    # ----- refusals before any work -------------------------------------------------------------------

    def check(self, task: GenerateTask) -> None:
        if task.sampler.value not in SAMPLERS:
            raise _unsupported(
                "sampler", f"sampler {task.sampler.value!r} is not supported; supported: {self.samplers()}"
            )
        if task.scheduler.value not in SCHEDULES:
            raise _unsupported(
                "scheduler",
                f"scheduler {task.scheduler.value!r} is not supported; supported: {self.schedulers()}",
            )
        if task.scheduler.value == "turbo" and task.steps > 10:
            raise KernelError(FailureKind.bad_request, "the turbo scheduler runs at most 10 steps", "steps")
        if task.sharpness > 0:
            raise _unsupported("sharpness", "sharpness > 0 is not supported yet; send 0")
        if task.adaptive_cfg < task.guidance_scale:
            raise _unsupported(
                "adaptive_cfg",
                f"adaptive_cfg {task.adaptive_cfg} below guidance_scale {task.guidance_scale} is not supported yet; "
                "send adaptive_cfg >= guidance_scale",
            )
        if task.refiner is not None:
            raise _unsupported("refiner", "refiner models are not supported yet; send refiner=null")

    # ----- loading --------------------------------------------------------------------------------------

    def load(self, task: GenerateTask, steps: StepSink) -> None:
        steps.stage(Stage.loading)
        base, vae = task.base_model, task.vae
        key = (file_key(base.path), file_key(vae.path if vae else None), str(self.dtype))

        def open_model() -> loader.LoadedModel:
            log.info("loading %s (%s)", base.name, base.path)
            model = loader.load_model(
                base.path,
                base.name,
                dtype=self.dtype,
                device=str(self.device),
                allow_pickle=self.options.allow_pickle,
            )
            if vae is not None:
                model.pipe.vae = loader.load_vae(
                    vae.path, model.skeleton, device=str(self.device), allow_pickle=self.options.allow_pickle
                )
                model.name = f"{base.name}+{vae.name}"
            return model

        # Let go of the previous model first, so an eviction really frees its memory before the load.
        self._model, self._prepared = None, None
        model, _ = self.cache.get(key, open_model)
        self._model = model
        self._check_model(task, model)
        loader.apply_loras(model, [(lora.path, lora.weight) for lora in task.loras])
        unet = model.pipe.unet
        if task.freeu.enabled:
            f = task.freeu
            unet.enable_freeu(s1=f.s1, s2=f.s2, b1=f.b1, b2=f.b2)
        else:
            unet.disable_freeu()

    def _check_model(self, task: GenerateTask, model: loader.LoadedModel) -> None:
        encoders = [model.pipe.text_encoder] + ([model.pipe.text_encoder_2] if model.arch == "sdxl" else [])
        layers = min(prompts.layer_count(e) for e in encoders)
        if task.clip_skip > layers:
            raise KernelError(
                FailureKind.bad_request,
                f"clip_skip {task.clip_skip} exceeds the text encoder's {layers} layers",
                "clip_skip",
            )
        adm = task.adm
        if model.arch == "sd15" and adm.end > 0 and (adm.positive, adm.negative) != (1.0, 1.0):
            raise _unsupported(
                "adm", "ADM size scaling exists for SDXL only; send positive=1, negative=1, end=0"
            )

    # ----- generation -----------------------------------------------------------------------------------

    def _prepare(self, task: GenerateTask) -> _Prepared:
        if self._prepared is not None and self._prepared.task_id == task.task_id:
            return self._prepared
        model = self._require_model()
        pipe = model.pipe
        cond = prompts.encode(pipe, model.arch, task.positive, task.clip_skip)
        uncond = (
            prompts.encode(pipe, model.arch, task.negative, task.clip_skip)
            if task.guidance_scale != 1.0
            else None
        )
        size = None
        if model.arch == "sdxl":
            size = SizeConditioning(
                task.width, task.height, task.adm.positive, task.adm.negative, task.adm.end
            )
        sig = ModelSigmas(dict(pipe.scheduler.config))
        denoiser = Denoiser(pipe.unet, sig, cond, uncond, task.guidance_scale, size, task.steps)
        self._prepared = _Prepared(task.task_id, denoiser, sig)
        return self._prepared

    def _require_model(self) -> loader.LoadedModel:
        if self._model is None:
            raise KernelError(FailureKind.internal, "generate_image called before load")
        return self._model

    def generate_image(self, task: GenerateTask, index: int, seed: int, steps: StepSink) -> Image.Image:
        steps.stage(Stage.encoding_prompt)
        prepared = self._prepare(task)
        model = self._require_model()
        family = model.arch
        sig = schedule(task.scheduler.value, prepared.sigmas, task.steps, family).to(torch.float32)
        gen = torch.Generator("cpu").manual_seed(seed)
        shape = (1, 4, task.height // 8, task.width // 8)
        x = torch.randn(shape, generator=gen, dtype=torch.float32).to(self.device) * float(sig[0])

        def noise(like: torch.Tensor) -> torch.Tensor:
            return torch.randn(like.shape, generator=gen, dtype=torch.float32).to(like.device)

        total = len(sig) - 1

        def on_step(i: int, x0: torch.Tensor) -> None:
            preview = latent_preview(x0, task.preview) if steps.wants_preview(i + 1) else None
            steps.step(i + 1, total, preview)

        steps.stage(Stage.sampling)
        with torch.inference_mode():
            latents = SAMPLERS[task.sampler.value](prepared.denoiser, x, sig.to(self.device), noise, on_step)
            steps.stage(Stage.decoding)
            return self._decode(model.pipe, latents)

    def _decode(self, pipe: Any, latents: torch.Tensor) -> Image.Image:
        vae = pipe.vae
        cfg = vae.config
        scaled = latents / cfg.scaling_factor + (getattr(cfg, "shift_factor", None) or 0.0)
        pixels = vae.decode(scaled.to(vae.dtype), return_dict=False)[0].float()
        pixels = ((pixels[0] / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")
