"""Textual-inversion embeddings: files named in a task, found by `embedding:<name>` in a prompt.

A file holds one or more vectors per text encoder:
- SDXL: safetensors with `clip_l` (first encoder) and `clip_g` (second encoder) tensors;
- SD 1.5: `emb_params` (safetensors), A1111's `string_to_param` (.pt) or a diffusers `{token: vector}` file.
A single unnamed tensor is matched to an encoder by its width. `.pt`/`.bin` files are read with
`torch.load(weights_only=True)`, which cannot run code; anything needing more is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from contract.events import FailureKind
from contract.task import ModelRef
from inference_worker.kernel import KernelError

PREFIX = "embedding:"
# What may follow a name in running text without being part of it (`embedding:foo,` → foo + ","): trailing
# non-word characters are dropped one at a time until a name matches.
_TRAILING = re.compile(r"\W$")
_SDXL_KEYS = ("clip_l", "clip_g")


def stem(name: str) -> str:
    """A catalog name without its file extension (`sub/foo.safetensors` → `sub/foo`)."""
    root, ext = os.path.splitext(name.replace("\\", "/"))
    return root if ext.lower() in (".safetensors", ".pt", ".bin", ".pth", ".ckpt") else name


@dataclass
class Embedding:
    name: str
    path: str
    by_key: dict[str, torch.Tensor]  # clip_l / clip_g, or "" for a single tensor: [vectors, width]

    def vectors(self, encoder_index: int, width: int, field: str) -> torch.Tensor:
        if _SDXL_KEYS[0] in self.by_key or _SDXL_KEYS[1] in self.by_key:
            key = _SDXL_KEYS[min(encoder_index, 1)]
            found = self.by_key.get(key)
        else:
            found = self.by_key.get("")
        if found is None or found.shape[-1] != width:
            have = {k or "tensor": tuple(v.shape) for k, v in self.by_key.items()}
            raise KernelError(
                FailureKind.unsupported,
                f"embedding {self.name!r} does not fit this model's text encoder {encoder_index + 1} "
                f"(width {width}); the file holds {have}",
                field,
            )
        return found


def _read(path: str, field: str) -> dict[str, torch.Tensor]:
    if path.lower().endswith((".safetensors", ".sft")):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a plain tensor file"
        raise KernelError(
            FailureKind.unsupported,
            f"{os.path.basename(path)} is not a plain tensor file ({type(exc).__name__}); convert it to .safetensors",
            field,
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("string_to_param"), dict):
        obj = obj["string_to_param"]
    if not isinstance(obj, dict):
        raise KernelError(FailureKind.unsupported, f"{os.path.basename(path)}: no embedding tensors", field)
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load(ref: ModelRef, field: str) -> Embedding:
    if not os.path.isfile(ref.path):
        raise KernelError(FailureKind.unknown_model, f"embedding file not found: {ref.path}", field)
    tensors = _read(ref.path, field)
    by_key = {k: tensors[k] for k in _SDXL_KEYS if k in tensors}
    if not by_key:
        floats = [v for v in tensors.values() if v.is_floating_point()]
        if "emb_params" in tensors:
            by_key[""] = tensors["emb_params"]
        elif len(floats) == 1:
            by_key[""] = floats[0]
        else:
            raise KernelError(
                FailureKind.unsupported,
                f"{os.path.basename(ref.path)}: expected clip_l/clip_g, emb_params or one tensor, "
                f"found {sorted(tensors)}",
                field,
            )
    vectors = {
        k: (v.reshape(1, -1) if v.dim() == 1 else v.reshape(-1, v.shape[-1])).float()
        for k, v in by_key.items()
    }
    return Embedding(name=ref.name, path=ref.path, by_key=vectors)


class EmbeddingLibrary:
    """The task's embedding files, opened on first use and kept while their files do not change."""

    def __init__(self) -> None:
        self._loaded: dict[tuple, Embedding] = {}

    def resolve(self, word: str, refs: list[ModelRef], field: str) -> tuple[Embedding, str]:
        """`embedding:name,` → (the embedding, text left over after the name)."""
        wanted = word[len(PREFIX) :]
        leftover = ""
        by_name = {}
        for i, ref in enumerate(refs):
            by_name.setdefault(ref.name, i)
            by_name.setdefault(stem(ref.name), i)
        while wanted and wanted not in by_name:
            cut = _TRAILING.search(wanted)
            if cut is None:
                break
            leftover = wanted[cut.start() :] + leftover
            wanted = wanted[: cut.start()]
        if wanted not in by_name:
            names = sorted({stem(r.name) for r in refs})
            raise KernelError(
                FailureKind.bad_request,
                f"{word!r} names no embedding this task provides (task.embeddings: {names or 'none'})",
                field,
            )
        index = by_name[wanted]
        ref = refs[index]
        st = os.stat(ref.path) if os.path.exists(ref.path) else None
        key = (ref.path, st.st_size if st else None, st.st_mtime_ns if st else None)
        if key not in self._loaded:
            self._loaded[key] = load(ref, f"embeddings[{index}].path")
        return self._loaded[key], leftover
