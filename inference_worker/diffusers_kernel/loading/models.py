"""Open a model a task names: single-file checkpoints (offline, with a skeleton) or diffusers folders.

Nothing here reaches the network: every diffusers/transformers call is `local_files_only=True` and
single files always get a local `config=` (their embedded skeleton, or the shipped one for their
detected architecture). Pickle checkpoints (.ckpt/.pt/.pth/.bin) can run code when opened, so they are
refused unless the worker was started with --allow-pickle.

An SDXL refiner-architecture model is opened without its text encoder: as in Fooocus, it conditions on
the base's encoding (sampling/refiner.py), so its own encoder would never run.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

from contract.checkpoint import (
    INPAINT_CHANNELS,
    ArchitectureError,
    folder_architecture,
    is_inpainting,
    prediction_type,
    sampling_refusal,
)
from contract.events import FailureKind
from inference_worker.diffusers_kernel.loading import architecture, skeletons
from inference_worker.diffusers_kernel.loading.checkpoint_header import HeaderError, read_header
from inference_worker.kernel import KernelError

log = logging.getLogger("remgo.worker.loader")

SAFE_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# Components a refiner-architecture pipeline is opened without (never used, see above).
_REFINER_UNUSED = {"text_encoder_2": None, "tokenizer_2": None}


@dataclass
class LoadedModel:
    name: str
    arch: str  # "sdxl" | "sd15" | "sdxl_refiner"
    pipe: Any
    skeleton: str  # folder whose vae/ config fits this model (for VAE overrides)
    loras: tuple[tuple[str, float], ...] = ()
    adapters: list[str] = field(default_factory=list)
    prediction: str = "epsilon"  # what the UNet predicts: epsilon or v_prediction

    @property
    def family(self) -> str:
        """The family whose latent space and noise schedules the model uses (the refiner's is SDXL's)."""
        return "sdxl" if self.arch == "sdxl_refiner" else self.arch


def _pipeline_class(arch: str):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    return {"sdxl": StableDiffusionXLPipeline, "sdxl_refiner": StableDiffusionXLImg2ImgPipeline}.get(
        arch, StableDiffusionPipeline
    )


def _components(arch: str) -> dict:
    """Components passed in instead of loaded."""
    return dict(_REFINER_UNUSED) if arch == "sdxl_refiner" else {}


def _unknown(field_name: str, message: str) -> KernelError:
    return KernelError(FailureKind.unknown_model, message, field_name)


def _unreadable(path: str, field_name: str, exc: BaseException) -> KernelError:
    """A model file the libraries could not open, named with the reason (never an `internal` error)."""
    reason = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return KernelError(FailureKind.bad_request, f"{path} cannot be loaded: {reason}", field_name)


def _skeleton_for(path: str, field_name: str, allow_pickle: bool) -> tuple[str, str, dict]:
    """(arch, skeleton folder, scheduler-config overrides) for a single-file checkpoint. The overrides carry
    what its marker keys or metadata declare (v-prediction); a file whose sampling remgo does not run
    (Playground v2.5, EDM, zero-terminal SNR) is refused naming what it is (`sampling_refusal`)."""
    if path.lower().endswith(PICKLE_SUFFIXES):
        if not allow_pickle:
            raise KernelError(
                FailureKind.unsupported,
                f"{os.path.basename(path)} is a pickle checkpoint, which can run code when opened; "
                "convert it to .safetensors or start the worker with --allow-pickle",
                field_name,
            )
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is this file's fault, named as such
            raise _unreadable(path, field_name, exc) from None
        state = obj.get("state_dict", obj) if isinstance(obj, dict) else {}
        shapes = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
        metadata: dict[str, str] = {}
    else:
        try:
            header = read_header(path)
        except HeaderError as exc:
            raise KernelError(FailureKind.bad_request, str(exc), field_name) from None
        except OSError as exc:
            raise _unreadable(path, field_name, exc) from None
        truncated = header.truncation(os.path.getsize(path))
        if truncated:
            raise KernelError(FailureKind.bad_request, f"{path}: {truncated}", field_name)
        shapes, metadata = header.shapes, header.metadata
    try:
        own = skeletons.embedded(metadata)
        if own and (why := sampling_refusal(shapes, metadata)):
            raise ArchitectureError(why)
        arch = own[0] if own else architecture.detect(shapes, metadata)
    except (ValueError, json.JSONDecodeError) as exc:
        raise KernelError(FailureKind.unsupported, f"{os.path.basename(path)}: {exc}", field_name) from None
    skeleton = skeletons.materialize(own[1]) if own else skeletons.shipped_skeleton(arch)
    if not os.path.isfile(os.path.join(skeleton, "model_index.json")):
        raise KernelError(
            FailureKind.internal, f"pipeline configuration for {arch} missing at {skeleton}", field_name
        )
    if not own and is_inpainting(shapes):  # the shipped skeleton of its family, with a 9-channel UNet
        skeleton = skeletons.with_unet_inputs(skeleton, INPAINT_CHANNELS)
    problem = architecture.mismatch(shapes, arch, skeleton)
    if problem:
        raise KernelError(
            FailureKind.unsupported,
            f"{os.path.basename(path)} looks like {arch} but does not fit its configuration ({problem})",
            field_name,
        )
    markers = {}
    if prediction_type(shapes, metadata) == "v_prediction":
        markers["prediction_type"] = "v_prediction"
    return arch, skeleton, markers


def load_model(
    path: str, name: str, *, dtype: Any, device: str, allow_pickle: bool, field_name: str = "base_model.path"
) -> LoadedModel:
    if not os.path.exists(path):
        raise _unknown(field_name, f"model file not found: {path}")
    if os.path.isdir(path):
        index_path = os.path.join(path, "model_index.json")
        if not os.path.isfile(index_path):
            raise _unknown(field_name, f"{path} is a folder without model_index.json (not a diffusers model)")
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
        arch = folder_architecture(index)
        if arch is None:
            raise KernelError(
                FailureKind.unsupported,
                f"{path}: pipeline {index.get('_class_name')!r} is not SDXL, the SDXL refiner or SD 1.5",
                field_name,
            )
        try:
            with warnings.catch_warnings():
                # `torch_dtype` is spelled `dtype` in newer diffusers; the old name works in every supported one.
                warnings.simplefilter("ignore", FutureWarning)
                pipe = _pipeline_class(arch).from_pretrained(
                    path, torch_dtype=dtype, local_files_only=True, **_components(arch)
                )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise _unreadable(path, field_name, exc) from None
        skeleton = path
    elif path.lower().endswith(SAFE_SUFFIXES + PICKLE_SUFFIXES):
        arch, skeleton, markers = _skeleton_for(path, field_name, allow_pickle)
        try:
            pipe = _pipeline_class(arch).from_single_file(
                path, config=skeleton, torch_dtype=dtype, local_files_only=True, **_components(arch)
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise _unreadable(path, field_name, exc) from None
        if markers:
            pipe.scheduler.register_to_config(**markers)
    else:
        raise KernelError(
            FailureKind.unsupported,
            f"{os.path.basename(path)}: not a .safetensors file or a diffusers folder",
            field_name,
        )
    prediction = pipe.scheduler.config.get("prediction_type", "epsilon")
    if prediction not in ("epsilon", "v_prediction"):
        raise KernelError(
            FailureKind.unsupported,
            f"{name}: {prediction} models are not supported (epsilon and v_prediction are)",
            field_name,
        )
    if pipe.scheduler.config.get("rescale_betas_zero_snr"):
        raise KernelError(
            FailureKind.unsupported,
            f"{name}: zero-terminal-SNR models are not supported (their noise schedule has no finite start)",
            field_name,
        )
    pipe.to(device)
    if dtype is not None and getattr(pipe.vae.config, "force_upcast", False):
        import torch

        pipe.vae.to(torch.float32)  # fp16 SDXL VAEs overflow; decoding stays in float32
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(name=name, arch=arch, pipe=pipe, skeleton=skeleton, prediction=prediction)


def load_vae(path: str, skeleton: str, *, device: str, allow_pickle: bool) -> Any:
    """A VAE override: a standalone single-file VAE (original names) or a diffusers AutoencoderKL folder."""
    import torch
    from diffusers import AutoencoderKL

    field_name = "vae.path"
    if not os.path.exists(path):
        raise _unknown(field_name, f"VAE file not found: {path}")
    if os.path.isdir(path):
        vae = AutoencoderKL.from_pretrained(path, local_files_only=True, torch_dtype=torch.float32)
    elif path.lower().endswith(SAFE_SUFFIXES) or (allow_pickle and path.lower().endswith(PICKLE_SUFFIXES)):
        vae = AutoencoderKL.from_single_file(
            path, config=skeleton, subfolder="vae", local_files_only=True, torch_dtype=torch.float32
        )
    elif path.lower().endswith(PICKLE_SUFFIXES):
        raise KernelError(
            FailureKind.unsupported,
            f"{os.path.basename(path)} is a pickle file; start the worker with --allow-pickle",
            field_name,
        )
    else:
        raise KernelError(
            FailureKind.unsupported, f"{os.path.basename(path)}: not a .safetensors VAE", field_name
        )
    return vae.to(device).eval()
