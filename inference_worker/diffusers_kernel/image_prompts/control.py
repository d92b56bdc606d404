"""Control models (PyraCanny, CPDS): opening the user's file as a diffusers `ControlNetModel`.

Three kinds of file are read:

- Stability's Control-LoRA (`control-lora-canny-rank128.safetensors`, Fooocus's `fooocus_xl_cpds_128`),
  marked by a `lora_controlnet` key. It is not a whole ControlNet: the encoder half is the base UNet's,
  and the file holds, in the original (LDM) layout, low-rank `up`/`down` factors for its linear and
  convolution weights plus full tensors for the rest (norms, biases, the hint encoder `input_hint_block`,
  the zero convolutions). As ldm_patched builds it, the net is the base model's UNet weights (with the
  task's LoRAs, as the patched model Fooocus samples with) copied into a ControlNet of the UNet's
  configuration, every full tensor set by name, and every factored weight w + up·down. diffusers 0.42 can
  put such a file on a ControlNet as a peft adapter (`load_lora_adapter`, SDXL layout hard-coded, the
  low-rank product recomputed at every call); merging once by name is the same sum, costs nothing per step
  and fits any block layout.
- A whole ControlNet as one `.safetensors` file, in the original layout (`zero_convs.…`, optionally under
  `control_model.`) or in diffusers' (`controlnet_cond_embedding.…`): built in the base UNet's
  configuration and loaded strictly.
- A diffusers ControlNet folder (`config.json` + weights), opened offline.

A file that does not fit the base model is refused naming `image_prompts[i].model`; a missing one names
`image_prompts[i].model.path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from contract.events import FailureKind
from contract.image_prompt import IP_ADAPTER_TYPES, ImagePromptType
from contract.task import GenerateTask
from inference_worker.diffusers_kernel.loading.models import LoadedModel
from inference_worker.diffusers_kernel.loading.pipeline_cache import file_key
from inference_worker.diffusers_kernel.loading.unet_keys import unet_key
from inference_worker.kernel import KernelError

CONTROL_TYPES = frozenset(set(ImagePromptType) - IP_ADAPTER_TYPES)
METHODS = frozenset(f"prompt.{t.value}" for t in CONTROL_TYPES)
CONTROL_LORA_MARK = "lora_controlnet"
_ORIGINAL_PREFIX = "control_model."


def _bad(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.bad_request, message, field)


def original_names(controlnet) -> dict[str, str]:
    """Original (LDM) name → diffusers name of every parameter of this ControlNetModel."""
    config = controlnet.config
    blocks = len(controlnet.controlnet_cond_embedding.blocks)
    out = {}
    for name in controlnet.state_dict():
        head, _, rest = name.partition(".")
        if name.startswith("controlnet_cond_embedding."):
            part, _, tail = name[len("controlnet_cond_embedding."):].partition(".")
            if part == "conv_in":
                index = 0
            elif part == "conv_out":
                index = 2 * (blocks + 1)
            else:  # blocks.<j>.<param>
                j, _, tail = tail.partition(".")
                index = 2 * (int(j) + 1)
            out[f"input_hint_block.{index}.{tail}"] = name
        elif head == "controlnet_down_blocks":
            j, _, tail = rest.partition(".")
            out[f"zero_convs.{j}.0.{tail}"] = name
        elif head == "controlnet_mid_block":
            out[f"middle_block_out.0.{rest}"] = name
        else:  # the encoder half: named as in the UNet
            out[unet_key(name, int(config.layers_per_block), set())] = name
    return out


def _hint_channels(weights: dict[str, torch.Tensor], names: list[str]) -> tuple[int, tuple[int, ...]]:
    """(input channels, conditioning_embedding_out_channels) from the hint encoder's convolutions, given in
    order (first convolution, the pairs of blocks, last convolution): each pair keeps then widens."""
    convs = [weights[n] for n in names]
    widths = [int(convs[0].shape[0])] + [int(convs[j + 1].shape[0]) for j in range(1, len(convs) - 1, 2)]
    return int(convs[0].shape[1]), tuple(widths)


def _empty_controlnet(unet, weights: dict[str, torch.Tensor], layout: str):
    from diffusers import ControlNetModel

    if layout == "diffusers":
        blocks = sorted({int(k.split(".")[2]) for k in weights if k.startswith("controlnet_cond_embedding.blocks.")})
        names = ["controlnet_cond_embedding.conv_in.weight"]
        names += [f"controlnet_cond_embedding.blocks.{j}.weight" for j in blocks]
        names.append("controlnet_cond_embedding.conv_out.weight")
    else:
        hint = sorted({int(k.split(".")[1]) for k in weights if k.startswith("input_hint_block.") and k.endswith(".weight")})
        names = [f"input_hint_block.{i}.weight" for i in hint]
    channels, widths = _hint_channels(weights, names)
    return ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=widths, conditioning_channels=channels,
        load_weights_from_unet=False,
    )  # fmt: skip


def unet_weights(unet) -> dict[str, torch.Tensor]:
    """The base UNet's weights by diffusers name as it samples: with its active (unmerged) LoRA adapters
    added to the weights they patch."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    out = {
        name.replace(".base_layer.", "."): value
        for name, value in unet.state_dict().items()
        if ".lora_" not in name
    }
    for name, module in unet.named_modules():
        if isinstance(module, BaseTunerLayer) and not module.merged and not module.disable_adapters:
            key = f"{name}.weight"
            for adapter in module.active_adapters:
                if adapter in getattr(module, "lora_A", {}):
                    out[key] = out[key] + module.get_delta_weight(adapter).to(out[key].dtype)
    return out


def _read(path: str, field: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.endswith(".safetensors"):
        raise KernelError(FailureKind.unsupported,
                          f"control model {os.path.basename(path)}: a .safetensors file or a diffusers folder is "
                          "read (pickled checkpoints are not)", field)  # fmt: skip
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise _bad(field, f"{os.path.basename(path)} is not a readable safetensors file: {exc}") from None


def _from_original(unet, weights: dict[str, torch.Tensor], name: str, field: str):
    """A Control-LoRA or an original-layout ControlNet, by name onto a ControlNet in the UNet's shape."""
    is_lora = CONTROL_LORA_MARK in weights
    weights = {k.removeprefix(_ORIGINAL_PREFIX): v for k, v in weights.items() if k != CONTROL_LORA_MARK}
    if not any(k.startswith("input_hint_block.0.") for k in weights):
        raise _bad(field, f"{name} has no hint encoder (input_hint_block): not a ControlNet or Control-LoRA")
    net = _empty_controlnet(unet, weights, "original")
    names = original_names(net)
    own = net.state_dict()
    state: dict[str, torch.Tensor] = {}
    if is_lora:  # the encoder half starts as the base UNet
        base = unet_weights(unet)
        state = {k: base[k].detach().float() for k in own if k in base}
    factors: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in weights.items():
        stem, _, last = key.rpartition(".")
        if is_lora and last in ("up", "down"):
            factors.setdefault(f"{stem}.weight", {})[last] = value
            continue
        target = names.get(key)
        if target is None or tuple(own[target].shape) != tuple(value.shape):
            raise _bad(field, f"{name} does not fit the base model: its {key} has no counterpart of that shape")
        state[target] = value.float()
    for key, pair in factors.items():
        target = names.get(key)
        if target is None or target not in state or set(pair) != {"up", "down"}:
            raise _bad(field, f"{name} does not fit the base model: its low-rank {key} patches no weight")
        delta = pair["up"].flatten(1).float() @ pair["down"].flatten(1).float()
        if delta.numel() != state[target].numel():
            raise _bad(field, f"{name} does not fit the base model: the low-rank {key} has another shape")
        state[target] = state[target] + delta.reshape(state[target].shape)
    missing = sorted(set(own) - set(state))
    if missing:
        raise _bad(field, f"{name} lacks {len(missing)} of the ControlNet's weights (first: {missing[0]})")
    net.load_state_dict(state, strict=True)
    return net


def _from_diffusers_file(unet, weights: dict[str, torch.Tensor], name: str, field: str):
    net = _empty_controlnet(unet, weights, "diffusers")
    try:
        net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    except RuntimeError as exc:
        raise _bad(field, f"{name} does not fit the base model: {exc}") from None
    return net


def _from_folder(unet, path: str, name: str, field: str):
    from diffusers import ControlNetModel

    try:
        net = ControlNetModel.from_pretrained(path, local_files_only=True, torch_dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise _bad(field, f"{name} is not a diffusers ControlNet folder: {exc}") from None
    mine, base = net.config, unet.config
    for key in ("cross_attention_dim", "block_out_channels", "in_channels", "addition_embed_type"):
        if mine.get(key) != base.get(key):
            raise _bad(field, f"{name} does not fit the base model: its {key} is {mine.get(key)}, "
                              f"the base UNet's {base.get(key)}")  # fmt: skip
    return net


def open_control(path: str, base: LoadedModel, dtype, device, field: str):
    """The ControlNetModel of one control-model file for this base model, on its device and dtype."""
    name = os.path.basename(os.path.normpath(path))
    unet = base.pipe.unet
    if os.path.isdir(path):
        net = _from_folder(unet, path, name, field)
    elif os.path.isfile(path):
        weights = _read(path, field)
        if "controlnet_cond_embedding.conv_in.weight" in weights:
            net = _from_diffusers_file(unet, weights, name, field)
        else:
            net = _from_original(unet, weights, name, field)
    else:
        raise KernelError(FailureKind.unknown_model, f"control model not found: {path}", f"{field}.path")
    return net.to(device=device, dtype=dtype).eval().requires_grad_(False)


@dataclass
class _Entry:
    key: tuple
    net: object


class ControlCache:
    """The control models of the latest task, kept while the next task uses the same files on the same base
    (with the same LoRAs: a Control-LoRA's weights are built from them)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def load(self, task: GenerateTask, base: LoadedModel, dtype, device) -> dict[int, object]:
        """Prompt index → its ControlNetModel, for the task's control-model prompts."""
        nets, kept = {}, {}
        for i, prompt in enumerate(task.prompts()):
            if prompt.type not in CONTROL_TYPES:
                continue
            path = prompt.model.path
            key = (file_key(path), file_key(task.base_model.path), base.loras, str(dtype), str(device))
            entry = kept.get(path) or self._entries.get(path)
            if entry is None or entry.key != key:
                self._entries.pop(path, None)  # let go of the stale net before building its successor
                entry = _Entry(key, open_control(path, base, dtype, device, f"image_prompts[{i}].model"))
            kept[path] = entry
            nets[i] = entry.net
        self._entries = kept
        return nets

    def clear(self) -> None:
        self._entries = {}
