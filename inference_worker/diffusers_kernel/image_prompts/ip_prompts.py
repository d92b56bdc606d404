"""A task's IP-Adapter prompts (ImagePrompt, FaceSwap): pictures → image tokens, and when each one acts.

Per prompt, as Fooocus 2.5 does it (modules/async_worker.py, extras/ip_adapter.py):
- the picture (FaceSwap: its face crop first, unless `skip_preprocessor`; no face found: the whole picture,
  with a warning) is stretched to 224² and encoded by the CLIP-vision model; the adapter's projection
  turns the features into image tokens;
- the unconditional (negative-prompt) row gets Fooocus's `ip_negative` tokens when the task names the
  file (`{"data": tokens}`, already in token space, shared by both adapters), else the tokens of an all-zero
  encoder input, as diffusers' IP-Adapter pipelines make them;
- it acts on a UNet call while the call's progress 1 − t/999 (t the timestep the UNet is given) is below
  its `stop`, with `weight` as its adapter scale; prompts act side by side, each with its own stop and
  weight (the refiner, as in Fooocus, gets none).

Tokens are made once per task (they do not depend on the seed); the adapters and the encoder stay loaded
between tasks that use the same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from contract.events import FailureKind
from contract.image_prompt import IP_ADAPTER_TYPES, ImagePrompt, ImagePromptType
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.image_input import pixels
from inference_worker.diffusers_kernel.image_prompts import face_crop, image_encoder
from inference_worker.diffusers_kernel.image_prompts.ip_adapter import (
    Acting,
    AdapterWeights,
    Installed,
    build_adapter,
    read_file,
)
from inference_worker.diffusers_kernel.loading.pipeline_cache import file_key
from inference_worker.kernel import KernelError

LAST_TIMESTEP = 999.0
METHODS = frozenset(f"prompt.{t.value}" for t in IP_ADAPTER_TYPES)


def ip_prompts(task: GenerateTask) -> list[tuple[int, ImagePrompt]]:
    """(index in image_prompts, prompt) of the task's IP-Adapter prompts."""
    return [(i, p) for i, p in enumerate(task.prompts()) if p.type in IP_ADAPTER_TYPES]


def check(task: GenerateTask) -> None:
    """What is refused before any model loads."""
    for i, prompt in ip_prompts(task):
        pixels.check_header(prompt.image, f"image_prompts[{i}].image")


def prepared_picture(prompt: ImagePrompt, index: int, skip_preprocessor: bool,
                     warn: Callable[[str], None]) -> np.ndarray:  # fmt: skip
    """The 224² picture the encoder reads (also what `debug_preprocessor` shows)."""
    field = f"image_prompts[{index}].image"
    rgb = pixels.load_rgb(prompt.image, field)
    if prompt.type is ImagePromptType.face_swap and not skip_preprocessor:
        face = face_crop.face_crop(rgb)
        if face is None:
            warn(f"image_prompts[{index}] (FaceSwap): no face found; the whole picture is used, as in Fooocus")
        else:
            rgb = face
    side = image_encoder.INPUT_SIDE
    return pixels.resize(rgb, side, side)


class AdapterCache:
    """The IP-Adapters the last task used, built for its base UNet."""

    def __init__(self) -> None:
        self._built: dict[tuple, AdapterWeights] = {}

    def get(self, tasks: list[tuple[str, str]], unet) -> list[AdapterWeights]:
        """(path, field) per prompt → its adapter (a file two prompts name is built once)."""
        shape = (id(unet), tuple(unet.attn_processors), str(unet.dtype), str(unet.device))
        keys = [(file_key(path), shape) for path, _ in tasks]
        self._built = {k: v for k, v in self._built.items() if k in keys}  # let go of the others first
        for key, (path, field) in zip(keys, tasks, strict=True):
            if key not in self._built:
                self._built[key] = build_adapter(read_file(path, field), unet, os.path.basename(path), field)
        return [self._built[k] for k in keys]

    def loaded(self) -> list[AdapterWeights]:
        return list(self._built.values())


def _negative_tokens(path: str, field: str, adapter: AdapterWeights, like: torch.Tensor) -> torch.Tensor:
    from safetensors import safe_open

    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise KernelError(FailureKind.unknown_model, f"ip_negative file not found: {path}", f"{field}.path")
    try:
        with safe_open(path, framework="pt", device="cpu") as fh:
            data = fh.get_tensor("data")
    except Exception as exc:  # noqa: BLE001 - no "data" tensor, a foreign file
        raise KernelError(FailureKind.bad_request, f"{name} is not Fooocus's ip_negative ({{\"data\": tokens}} "
                                                   f"in safetensors): {exc}", field) from None
    tokens = data if data.dim() == 3 else data[None]
    if tokens.shape[0] != 1 or tokens.shape[1:] != like.shape[1:]:
        raise KernelError(FailureKind.bad_request, f"{name} holds {tuple(data.shape)} tokens; {adapter.name} makes "
                                                   f"{tuple(like.shape[1:])} per image", field)
    return tokens.to(like)


@dataclass
class _Prompt:
    cond: torch.Tensor  # 1 × tokens × width
    uncond: torch.Tensor
    stop: float
    weight: float


class IpConditioning:
    """One task's IP prompts on the base UNet: `installed(unet)` for the sampling, and, around each UNet
    call, `acting(rows, timestep)` with rows True for a conditional batch row, False for an unconditional."""

    def __init__(self, prompts: list[_Prompt], adapters: list[AdapterWeights]) -> None:
        self.prompts, self.adapters = prompts, adapters
        self._installed: Installed | None = None

    @contextmanager
    def installed(self, unet) -> Iterator[IpConditioning]:
        self._installed = Installed(unet, self.adapters)
        try:
            yield self
        finally:
            self._installed.restore()
            self._installed = None

    @contextmanager
    def acting(self, rows: list[bool], timestep: float) -> Iterator[None]:
        switch = self._installed.switch if self._installed is not None else None
        progress = 1.0 - timestep / LAST_TIMESTEP
        scales = [p.weight if progress < p.stop else 0.0 for p in self.prompts]
        if switch is None or not any(scales):
            yield
            return
        tokens = [torch.cat([p.cond if row else p.uncond for row in rows]) for p in self.prompts]
        switch.acting = Acting(tokens, scales)
        try:
            yield
        finally:
            switch.acting = None


def prepare(task: GenerateTask, unet, adapters: AdapterCache, encoders: image_encoder.EncoderCache,
            warn: Callable[[str], None]) -> IpConditioning | None:  # fmt: skip
    """The task's IP prompts as tokens on `unet`, or None when it has none."""
    chosen = ip_prompts(task)
    if not chosen:
        return None
    control = task.control_settings()
    built = adapters.get([(p.model.path, f"image_prompts[{i}].model") for i, p in chosen], unet)
    prompts = []
    with torch.no_grad():
        for (i, prompt), adapter in zip(chosen, built, strict=True):
            field = f"image_prompts[{i}].image_encoder"
            encoder = encoders.get(prompt.image_encoder.path, field, unet.dtype, unet.device)
            gives = encoder.config.hidden_size if adapter.plus else encoder.config.projection_dim
            if gives != adapter.encoder_width:
                raise KernelError(FailureKind.bad_request, f"{adapter.name} reads {adapter.encoder_width}-wide image "
                                                           f"features; {prompt.image_encoder.name} gives {gives}", field)
            picture = prepared_picture(prompt, i, control.skip_preprocessor, warn)
            x = image_encoder.pixel_values(picture)
            cond = adapter.projection(image_encoder.encode(encoder, x, adapter.plus).to(unet.dtype))
            cond = cond.reshape(1, -1, cond.shape[-1])
            if prompt.ip_negative is not None:
                uncond = _negative_tokens(prompt.ip_negative.path, f"image_prompts[{i}].ip_negative", adapter, cond)
            else:
                blank = image_encoder.encode(encoder, torch.zeros_like(x), adapter.plus).to(unet.dtype)
                uncond = adapter.projection(blank).reshape(cond.shape)
            prompts.append(_Prompt(cond, uncond, prompt.stop, prompt.weight))
    return IpConditioning(prompts, built)
