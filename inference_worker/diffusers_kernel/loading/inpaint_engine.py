"""Fooocus's inpaint engine files, and its patch on the base UNet's weights.

- The head (`fooocus_inpaint_head.pth`, `{"head": C×5×3×3}` with C the output channels of the UNet's
  first convolution, 320 in SDXL) is a bias-free 3×3 convolution over [latent mask, inpaint latent],
  padded by repeating the edge. Its output is added to the output of `conv_in` at every evaluation of
  the patched base (sampling/denoiser.py `ModelPass.input_feature`).
- The patch (`inpaint_v26.fooocus.patch`, v2.5, v1) maps UNet parameter names in the original layout
  (`diffusion_model.input_blocks.0.0.weight`) to `(q, min, max)`, q uint8: the delta is
  q / 255 · (max − min) + min. Fooocus adds it to the base model as a LoRA of strength 1.0: in float32,
  the sum cast back to the weight's dtype. It is added in place, after a copy of each weight it touches
  is kept, and taken off by copying those back, so the UNet is bit for bit the original again.

Both files are torch pickles; they are read with `torch.load(weights_only=True)`, which builds tensors and
plain containers only and runs no code from the file (so they need no `--allow-pickle`).

Fooocus's "synthetic refiner": with no refiner, the base without the patch (nor head, nor FreeU, which
Fooocus puts on the patched model only) takes over at 0.8 of the steps (`SYNTHETIC_REFINER_SWITCH`);
`EngineWeights.plain()` gives that UNet, `patched()` the engine's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from contract.events import FailureKind
from contract.image_input import InpaintEngine
from contract.task import FreeU
from inference_worker.diffusers_kernel.loading.freeu import set_freeu
from inference_worker.diffusers_kernel.loading.models import LoadedModel
from inference_worker.diffusers_kernel.loading.pipeline_cache import file_key
from inference_worker.diffusers_kernel.loading.unet_keys import ldm_names
from inference_worker.kernel import KernelError

SYNTHETIC_REFINER_SWITCH = 0.8
HEAD_INPUTS = 5  # the latent mask and the 4 channels of the inpaint latent
PATCH_PREFIX = "diffusion_model."
_HEAD_FIELD, _PATCH_FIELD = "image_input.engine.head", "image_input.engine.patch"


def _bad(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.bad_request, message, field)


def _load(path: str, field: str) -> object:
    if not os.path.isfile(path):
        raise KernelError(FailureKind.unknown_model, f"inpaint engine file not found: {path}", f"{field}.path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a refused global, a truncated or foreign file: all name the file
        raise _bad(field, f"{os.path.basename(path)} is not a Fooocus inpaint file torch can read as "
                          f"weights only: {type(exc).__name__}: {exc}") from None


@dataclass
class QuantizedDelta:
    q: torch.Tensor  # uint8
    low: torch.Tensor  # float32, broadcastable to q
    high: torch.Tensor

    def value(self, device) -> torch.Tensor:
        q = self.q.to(device=device, dtype=torch.float32)
        return q / 255.0 * (self.high.to(device) - self.low.to(device)) + self.low.to(device)


@dataclass
class EngineFiles:
    head: torch.Tensor  # (C, 5, 3, 3) float32
    deltas: dict[str, QuantizedDelta]  # original-layout name without the prefix → its delta
    name: str


def _head(path: str) -> torch.Tensor:
    state = _load(path, _HEAD_FIELD)
    weight = state.get("head") if isinstance(state, dict) else None
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4 or tuple(weight.shape[1:]) != (HEAD_INPUTS, 3, 3):
        raise _bad(_HEAD_FIELD, f"{os.path.basename(path)} is not an inpaint head: it needs one tensor 'head' "
                                f"of shape (channels, {HEAD_INPUTS}, 3, 3)")
    return weight.float()


def _deltas(path: str) -> dict[str, QuantizedDelta]:
    state = _load(path, _PATCH_FIELD)
    base = os.path.basename(path)
    if not isinstance(state, dict) or not state:
        raise _bad(_PATCH_FIELD, f"{base} is not a Fooocus patch: it holds no weight deltas")
    out: dict[str, QuantizedDelta] = {}
    for key, value in state.items():
        ok = (isinstance(key, str) and key.startswith(PATCH_PREFIX) and isinstance(value, tuple | list)
              and len(value) == 3 and isinstance(value[0], torch.Tensor) and value[0].dtype == torch.uint8)
        if not ok:
            raise _bad(_PATCH_FIELD, f"{base} is not a Fooocus patch: {key!r} is not a '{PATCH_PREFIX}…' name "
                                     "holding (uint8 delta, min, max)")
        q = value[0]
        low, high = (torch.as_tensor(v, dtype=torch.float32) for v in value[1:])
        try:
            fits = torch.broadcast_shapes(q.shape, low.shape, high.shape) == q.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise _bad(_PATCH_FIELD, f"{base}: the min/max of {key!r} do not fit its {tuple(q.shape)} delta")
        out[key[len(PATCH_PREFIX):]] = QuantizedDelta(q, low, high)
    return out


class EngineCache:
    """The last engine's files (the v2.6 patch is 1.3 GB): read again only when a file changes."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._files: EngineFiles | None = None

    def get(self, engine: InpaintEngine) -> EngineFiles:
        key = (file_key(engine.head.path), file_key(engine.patch.path))
        if key != self._key or self._files is None:
            self._key, self._files = None, None  # let go of the previous patch before reading the next
            files = EngineFiles(_head(engine.head.path), _deltas(engine.patch.path),
                                f"{engine.version} ({engine.patch.name})")
            self._key, self._files = key, files
        return self._files


def _parameters(unet: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The UNet's own weights by diffusers name; a LoRA adapter's wrapper (peft) keeps the weight it patches
    as `base_layer`, and its own matrices are not the model's."""
    out = {}
    for name, param in unet.named_parameters():
        if ".lora_" in name:
            continue
        out[name.replace(".base_layer.", ".")] = param
    return out


class EngineWeights:
    """The base UNet with the engine's patch on (`patched`) or off (`plain`); `restore` leaves it as loaded."""

    def __init__(self, model: LoadedModel, files: EngineFiles, freeu: FreeU | None) -> None:
        unet = model.pipe.unet
        if model.arch != "sdxl":
            raise KernelError(FailureKind.unsupported, f"Fooocus's inpaint engine is made for SDXL; {model.name} "
                              f"is {model.arch}: send no engine", "image_input.engine")
        if int(unet.config.in_channels) != 4:
            raise KernelError(FailureKind.unsupported, f"{model.name} has its own {unet.config.in_channels}-"
                              "channel inpainting UNet; the inpaint engine patches a plain SDXL UNet: send no "
                              "engine", "image_input.engine")
        channels = int(unet.conv_in.out_channels)
        if files.head.shape[0] != channels:
            raise KernelError(FailureKind.unsupported, f"the inpaint head gives {files.head.shape[0]} channels; "
                              f"{model.name}'s first convolution gives {channels}", _HEAD_FIELD)
        params = _parameters(unet)
        names = ldm_names(list(params), unet.config)
        unknown = [k for k in files.deltas if k not in names]
        misfit = [k for k, d in files.deltas.items() if k in names and params[names[k]].shape != d.q.shape]
        if unknown or misfit:
            shown = ", ".join((unknown + misfit)[:3])
            raise KernelError(FailureKind.unsupported, f"inpaint patch {files.name} does not fit {model.name}: "
                              f"{len(unknown)} names it lacks, {len(misfit)} of another shape (e.g. {shown})",
                              _PATCH_FIELD)
        self.unet, self.files, self.freeu = unet, files, freeu
        self._targets = [(params[names[k]], d) for k, d in files.deltas.items()]
        self._backup: list[torch.Tensor] = []
        self.state = "loaded"  # loaded (the task's FreeU, no patch) | patched | plain

    @torch.no_grad()
    def _add(self) -> None:
        self._backup = [p.detach().clone() for p, _ in self._targets]
        for param, delta in self._targets:
            param.copy_((param.float() + delta.value(param.device)).to(param.dtype))

    @torch.no_grad()
    def _take_off(self) -> None:
        for (param, _), kept in zip(self._targets, self._backup, strict=True):
            param.copy_(kept)
        self._backup = []

    def patched(self) -> None:
        if self.state != "patched":
            if not self._backup:
                self._add()
            set_freeu(self.unet, self.freeu)
            self.state = "patched"

    def plain(self) -> None:
        if self.state != "plain":
            if self._backup:
                self._take_off()
            set_freeu(self.unet, None)
            self.state = "plain"

    def restore(self) -> None:
        if self._backup:
            self._take_off()
        if self.state == "plain":
            set_freeu(self.unet, self.freeu)
        self.state = "loaded"

    def head_feature(self, mask: torch.Tensor, inpaint_latent: torch.Tensor) -> torch.Tensor:
        """What the head adds to `conv_in`'s output: conv(edge-padded [mask, latent]); the latent is the
        sampler's (VAE output × scaling factor), as Fooocus feeds it."""
        feed = torch.cat([mask, inpaint_latent], dim=1).float()
        head = self.files.head.to(feed.device)
        return torch.nn.functional.conv2d(torch.nn.functional.pad(feed, (1, 1, 1, 1), mode="replicate"), head)
