"""The models one task runs on: base (+ VAE override, LoRAs, FreeU) and an optional refiner.

Both come from the pipeline cache: a task that changes only LoRAs, FreeU or the refiner never reloads
its base. LoRAs are set to exactly the task's list on every model they go on (so nothing carries over
from the previous task); like Fooocus, the refiner gets the task's LoRAs too when it has the base's
architecture, while FreeU applies to the base only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from contract.events import FailureKind
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.conditioning import prompts
from inference_worker.diffusers_kernel.loading.loras import apply_loras
from inference_worker.diffusers_kernel.loading.models import LoadedModel, load_model, load_vae
from inference_worker.diffusers_kernel.loading.pipeline_cache import PipelineCache, file_key
from inference_worker.diffusers_kernel.sampling.refiner import RefinerPlan, method_for, switch_step
from inference_worker.kernel import KernelError

log = logging.getLogger("remgo.worker.diffusers")


@dataclass
class ModelSet:
    base: LoadedModel
    refiner: LoadedModel | None = None
    plan: RefinerPlan | None = None


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
    if base.arch == "sd15" and ref.arch == "sdxl":
        raise KernelError(
            FailureKind.unsupported,
            "an SDXL refiner needs an SDXL base model (its prompts need both encoders)",
            "refiner",
        )
    if base.arch != ref.arch:
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
    if switch >= task.steps:
        warn(
            f"refiner {task.refiner.name} not used: refiner_switch {task.refiner_switch:g} leaves it no step"
        )
        return None
    requested = task.refiner_swap_method.value
    method = method_for(requested, base.arch, ref.arch)
    if method != requested:
        warn(f"refiner_swap_method {requested} became vae: the {ref.arch} refiner has another latent space")
    return RefinerPlan(
        method=method, switch=switch, same_latents=base.arch == ref.arch, refiner_pipe=ref.pipe
    )


def load_models(
    task: GenerateTask, cache: PipelineCache, dtype, device, allow_pickle: bool, warn: Callable[[str], None]
) -> ModelSet:
    base_ref, vae = task.base_model, task.vae
    base_key = (file_key(base_ref.path), file_key(vae.path if vae else None), str(dtype))
    base = _open(
        cache, base_key, base_ref.path, base_ref.name, "base_model.path", dtype, device, allow_pickle, vae=vae
    )
    _check_base(task, base)
    loras = [(lora.path, lora.weight) for lora in task.loras]
    apply_loras(base, loras)
    unet = base.pipe.unet
    if task.freeu.enabled:
        f = task.freeu
        unet.enable_freeu(s1=f.s1, s2=f.s2, b1=f.b1, b2=f.b2)
    else:
        unet.disable_freeu()
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
        ref.pipe.unet.disable_freeu()
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
    cache.trim(keep)
    return models
