"""LoRA files on a loaded model: exactly the task's list active, at its weights (diffusers adapters).

Loading a LoRA file patches the pipeline's UNet and text encoders (diffusers/peft adapters); the model
remembers which files it holds, so a task that changes only the weights reloads nothing.
"""

from __future__ import annotations

import os

from contract.events import FailureKind
from inference_worker.diffusers_kernel.loading.models import LoadedModel
from inference_worker.kernel import KernelError


def apply_loras(model: LoadedModel, loras: list[tuple[str, float]]) -> None:
    """Make exactly these (path, weight) LoRAs active; reloads only when the set of files changes."""
    pipe = model.pipe
    wanted = tuple(loras)
    if wanted == model.loras:
        return
    if tuple(p for p, _ in wanted) != tuple(p for p, _ in model.loras):
        if model.adapters:
            pipe.unload_lora_weights()
            model.adapters = []
        model.loras = ()
        for i, (path, _weight) in enumerate(wanted):
            field_name = f"loras[{i}].path"
            if not os.path.isfile(path):
                raise KernelError(FailureKind.unknown_model, f"LoRA file not found: {path}", field_name)
            adapter = f"lora{i}"
            try:
                pipe.load_lora_weights(path, adapter_name=adapter)
            except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds for an incompatible file
                if model.adapters or i:
                    pipe.unload_lora_weights()
                model.adapters = []
                raise KernelError(
                    FailureKind.unsupported,
                    f"LoRA {os.path.basename(path)} does not fit {model.name}: {type(exc).__name__}: {exc}",
                    field_name,
                ) from None
            model.adapters.append(adapter)
    if model.adapters:
        pipe.set_adapters(model.adapters, adapter_weights=[w for _, w in wanted])
    model.loras = wanted
