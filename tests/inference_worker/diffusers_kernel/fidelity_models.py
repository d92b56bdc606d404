"""Shared pieces of the generation-fidelity tests: a kernel, a task builder and extra tiny model files.

`fidelity_files(tiny_models)` adds, next to the session's tiny models: a second SDXL checkpoint (other
weights, the refiner), a kohya LoRA on the second text encoder only, a diffusers/peft LoRA on the UNet
and both text encoders, and textual-inversion files (SDXL `clip_l`/`clip_g`, SD 1.5 `emb_params`, and
a `.pt` in A1111's layout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import msgspec

from contract.task import GenerateTask, ModelRef
from inference_worker.kernel import KernelOptions
from inference_worker.task_run import TaskRun


def new_kernel(cache: int = 2):
    from inference_worker.diffusers_kernel.kernel import DiffusersKernel

    return DiffusersKernel(
        KernelOptions(threads=int(os.environ.get("REMGO_TEST_THREADS", "1")), pipeline_cache=cache)
    )


def task_builder(tiny_models):
    def build(**fields) -> GenerateTask:
        base = {
            "task_id": "f",
            "base_model": ModelRef(name="tiny-sdxl", path=tiny_models.sdxl_file),
            "width": 64,
            "height": 64,
            "seeds": [3],
            "steps": 4,
            "sampler": "euler",
            "scheduler": "karras",
            "guidance_scale": 4.0,
            "positive": ["a lighthouse at dusk"],
            "negative": ["blurry"],
            "preview": {"enabled": False},
        }
        base.update(fields)
        return msgspec.convert(base, GenerateTask, from_attributes=True)

    return build


def run(kernel, task: GenerateTask, notes: list | None = None):
    kernel.check(task)
    return TaskRun(task, kernel, notify=(notes.append if notes is not None else lambda p: None)).run()


def pixels(kernel, task: GenerateTask) -> list[bytes]:
    return [i.data for i in run(kernel, task).images]


@dataclass(frozen=True)
class FidelityFiles:
    refiner_file: str
    lora_te2: str
    lora_peft: str
    embedding_sdxl: str
    embedding_sd15: str
    embedding_pt: str


def _lora_pair(gen, out: dict, name: str, weight, rank: int = 4, kohya: bool = True) -> None:
    import torch

    out_f, in_f = weight.shape[:2]
    down = torch.randn(rank, in_f, generator=gen) * 0.3
    up = torch.randn(out_f, rank, generator=gen) * 0.3
    if kohya:
        out[f"{name}.lora_down.weight"], out[f"{name}.lora_up.weight"] = down, up
        out[f"{name}.alpha"] = torch.tensor(float(rank))
    else:
        out[f"{name}.lora_A.weight"], out[f"{name}.lora_B.weight"] = down, up


_BUILT: dict[str, FidelityFiles] = {}


def build_fidelity_files(tiny_models) -> FidelityFiles:
    """Built once per session (several test modules ask for them)."""
    if tiny_models.root not in _BUILT:
        _BUILT[tiny_models.root] = _build(tiny_models)
    return _BUILT[tiny_models.root]


def _build(tiny_models) -> FidelityFiles:
    import torch
    from safetensors.torch import save_file

    from inference_worker.model_builders.demo_model import save_single_file
    from inference_worker.model_builders.small_pipelines import (
        build_pipeline,
        small_skeleton_files,
        write_files,
    )

    root = tiny_models.root
    skeleton = write_files(os.path.join(root, ".skeletons", "sdxl-refiner"), small_skeleton_files("sdxl"))
    pipe = build_pipeline(skeleton, seed=11)
    refiner_file = save_single_file(
        pipe, os.path.join(root, "checkpoints", "tiny-refiner.safetensors"), "sdxl"
    )
    base = build_pipeline(os.path.join(root, ".skeletons", "sdxl"), seed=0)
    gen = torch.Generator().manual_seed(21)

    te2: dict = {}
    for key, w in base.text_encoder_2.state_dict().items():
        if ".self_attn." in key and key.endswith("_proj.weight"):
            name = key[: -len(".weight")]
            name = name if name.startswith("text_model.") else "text_model." + name
            _lora_pair(gen, te2, "lora_te2_" + name.replace(".", "_"), w)
    lora_te2 = os.path.join(root, "loras", "tiny-te2-kohya.safetensors")
    save_file(te2, lora_te2)

    peft: dict = {}
    for prefix, module in (("text_encoder", base.text_encoder), ("text_encoder_2", base.text_encoder_2)):
        for key, w in module.state_dict().items():
            if ".self_attn." in key and key.endswith(("q_proj.weight", "v_proj.weight")):
                name = key[: -len(".weight")]
                name = name if name.startswith("text_model.") else "text_model." + name
                _lora_pair(gen, peft, f"{prefix}.{name}", w, kohya=False)
    for key, w in base.unet.state_dict().items():
        if key.endswith(("attn1.to_q.weight", "attn2.to_v.weight")):
            _lora_pair(gen, peft, "unet." + key[: -len(".weight")], w, kohya=False)
    lora_peft = os.path.join(root, "loras", "tiny-peft.safetensors")
    save_file(peft, lora_peft)

    emb = os.path.join(root, "embeddings")
    w1 = base.text_encoder.config.hidden_size
    w2 = base.text_encoder_2.config.hidden_size
    embedding_sdxl = os.path.join(emb, "tiny-style.safetensors")
    save_file(
        {"clip_l": torch.randn(2, w1, generator=gen), "clip_g": torch.randn(2, w2, generator=gen)},
        embedding_sdxl,
    )
    embedding_sd15 = os.path.join(emb, "tiny-sd15.safetensors")
    save_file({"emb_params": torch.randn(3, 32, generator=gen)}, embedding_sd15)
    embedding_pt = os.path.join(emb, "tiny-a1111.pt")
    torch.save(
        {"string_to_param": {"*": torch.randn(1, 32, generator=gen)}, "name": "tiny-a1111"}, embedding_pt
    )
    return FidelityFiles(refiner_file, lora_te2, lora_peft, embedding_sdxl, embedding_sd15, embedding_pt)
