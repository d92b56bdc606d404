"""The models one task runs on: base (+ VAE override, LoRAs, FreeU) and an optional refiner.

Both come from the pipeline cache: a task that changes only LoRAs, FreeU or the refiner never reloads
its base. LoRAs are set to exactly the task's list on every model they go on (so nothing carries over
from the previous task); like Fooocus, the refiner gets the task's LoRAs too when it has the base's
architecture, while FreeU applies to the base only. An SDXL refiner-architecture model runs only as the
refiner of an SDXL base.

An inpaint task with Fooocus's engine also gets the engine's weights on the base (`engine`,
loading/inpaint_engine.py), and, with no refiner, Fooocus's synthetic refiner: the same base without the
patch takes over at 0.8 of the steps, by the task's swap method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from contract.checkpoint import INPAINT_CHANNELS
from contract.events import FailureKind
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.conditioning import prompts
from inference_worker.diffusers_kernel.loading.freeu import set_freeu
from inference_worker.diffusers_kernel.loading.inpaint_engine import (
    SYNTHETIC_REFINER_SWITCH,
    EngineCache,
    EngineWeights,
)
from inference_worker.diffusers_kernel.loading.loras import apply_loras
from inference_worker.diffusers_kernel.loading.models import LoadedModel, load_model, load_vae
from inference_worker.diffusers_kernel.loading.pipeline_cache import PipelineCache, file_key
from inference_worker.diffusers_kernel.sampling.refiner import (
    RefinerPlan,
    handover_step,
    method_for,
    switch_step,
)
from inference_worker.kernel import KernelError

log = logging.getLogger("remgo.worker.diffusers")


@dataclass
class ModelSet:
    base: LoadedModel
    refiner: LoadedModel | None = None
    plan: RefinerPlan | None = None
    engine: EngineWeights | None = None  # Fooocus's inpaint engine on the base UNet


def _open(cache, key, path, name, field, dtype, device, allow_pickle, keep=(), vae=None):
    def open_model() -> LoadedModel:
        log.info("loading %s (%s)", name, path)
        model = load_model(
            path, name, dtype=dtype, device=str(device), allow_pickle=allow_pickle, field_name=field
        )
        if vae is not None:
            model.pipe.vae = load_vae(vae.path, model.skeleton, device=str(device), allow_pickle=allow_pickle)
            model.name = f"{name}+{vae.name}"
        return model

    model, _ = cache.get(key, open_model, keep=keep)
    return model


def _check_base(task: GenerateTask, model: LoadedModel) -> None:
    if model.arch == "sdxl_refiner":
        raise KernelError(
            FailureKind.unsupported,
            f"{model.name} is an SDXL refiner-architecture checkpoint: it runs only as the refiner of an "
            "SDXL base (it has no CLIP-L encoder and is conditioned on an aesthetic score)",
            "base_model.path",
        )
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
        raise KernelError(
            FailureKind.unsupported,
            "ADM size scaling exists for SDXL only; send positive=1, negative=1, end=0",
            "adm",
        )


def _check_refiner(base: LoadedModel, ref: LoadedModel) -> None:
    if int(ref.pipe.unet.config.in_channels) == INPAINT_CHANNELS:
        raise KernelError(
            FailureKind.unsupported,
            f"refiner {ref.name} is an inpainting checkpoint (its UNet takes 9 input channels); "
            "it runs as the base model only",
            "refiner",
        )
    if base.arch == "sd15" and ref.family == "sdxl":
        raise KernelError(
            FailureKind.unsupported,
            "an SDXL refiner needs an SDXL base model (its prompts need the base's OpenCLIP-G encoding)",
            "refiner",
        )
    if ref.arch == "sdxl_refiner":
        # It takes the base's second-encoder features and pooled vector (refiner_conditioning).
        encoder, unet = base.pipe.text_encoder_2.config, ref.pipe.unet.config
        pooled = unet.projection_class_embeddings_input_dim - 5 * unet.addition_time_embed_dim
        if (encoder.hidden_size, encoder.projection_dim) != (unet.cross_attention_dim, pooled):
            raise KernelError(
                FailureKind.unsupported,
                f"refiner {ref.name} takes {unet.cross_attention_dim}-wide prompt features and a "
                f"{pooled}-wide pooled vector; the base's second text encoder gives {encoder.hidden_size} "
                f"and {encoder.projection_dim}",
                "refiner",
            )
    elif base.arch != ref.arch:
        width = int(base.pipe.text_encoder.config.hidden_size)
        takes = int(ref.pipe.unet.config.cross_attention_dim)
        if width != takes:
            raise KernelError(
                FailureKind.unsupported,
                f"refiner {ref.name} takes {takes}-wide prompt features; the base's first text encoder gives {width}",
                "refiner",
            )


def _plan(task: GenerateTask, base: LoadedModel, ref: LoadedModel, warn) -> RefinerPlan | None:
    switch = switch_step(task.steps, task.refiner_switch)
    requested = task.refiner_swap_method.value
    method = method_for(requested, base.family, ref.family)
    if handover_step(method, switch) >= task.steps:
        warn(
            f"refiner {task.refiner.name} not used: refiner_switch {task.refiner_switch:g} leaves it no step"
        )
        return None
    if method != requested:
        warn(f"refiner_swap_method {requested} became vae: the {ref.arch} refiner has another latent space")
    return RefinerPlan(
        method=method, switch=switch, same_latents=base.family == ref.family, refiner_pipe=ref.pipe
    )


def _synthetic_refiner(task: GenerateTask, models: ModelSet) -> None:
    """Fooocus's refiner for an engine inpaint without one: the base itself, run without the patch."""
    switch = switch_step(task.steps, SYNTHETIC_REFINER_SWITCH)
    method = task.refiner_swap_method.value
    if handover_step(method, switch) < task.steps:
        models.refiner = models.base
        models.plan = RefinerPlan(method=method, switch=switch, same_latents=True, refiner_pipe=models.base.pipe)


def load_models(
    task: GenerateTask, cache: PipelineCache, dtype, device, allow_pickle: bool, warn: Callable[[str], None],
    engines: EngineCache | None = None,
) -> ModelSet:
    base_ref, vae = task.base_model, task.vae
    base_key = (file_key(base_ref.path), file_key(vae.path if vae else None), str(dtype))
    base = _open(
        cache, base_key, base_ref.path, base_ref.name, "base_model.path", dtype, device, allow_pickle, vae=vae
    )
    _check_base(task, base)
    loras = [(lora.path, lora.weight) for lora in task.loras]
    apply_loras(base, loras)
    set_freeu(base.pipe.unet, task.freeu)
    models = ModelSet(base=base)
    keep: tuple = (base_key,)
    ref_ref = task.refiner
    if ref_ref is not None and file_key(ref_ref.path) == file_key(base_ref.path):
        warn(f"refiner {ref_ref.name} is the base model; refiner not used")
        ref_ref = None
    if ref_ref is not None:
        ref_key = (file_key(ref_ref.path), (None,), str(dtype))
        ref = _open(
            cache, ref_key, ref_ref.path, ref_ref.name, "refiner.path", dtype, device, allow_pickle, keep=keep
        )
        keep += (ref_key,)
        _check_refiner(base, ref)
        set_freeu(ref.pipe.unet, None)  # the same cached model may have been a base with FreeU
        if ref.arch == base.arch:
            apply_loras(ref, loras)
        else:
            apply_loras(ref, [])
            if loras:
                warn(
                    f"LoRAs not applied to the {ref.arch} refiner {ref.name}: they are for the {base.arch} base"
                )
        models.refiner, models.plan = ref, _plan(task, base, ref, warn)
        if models.plan is None:
            models.refiner = None
    engine = getattr(task.method(), "engine", None)
    if engine is not None:
        models.engine = EngineWeights(base, (engines or EngineCache()).get(engine), task.freeu)
        if models.refiner is None:
            _synthetic_refiner(task, models)
    cache.trim(keep)
    return models
