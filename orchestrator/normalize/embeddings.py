"""Which textual-inversion files a task needs: every `embedding:<name>` its prompt chunks mention.

A name is the catalog name (`sub/foo.safetensors`) or the same without its extension (`sub/foo`);
punctuation right after it (`embedding:foo,` or `embedding:foo.`) is not part of it. A name that matches no file is an
error naming the prompt, never silently passed on as text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from contract.task import ModelRef
from orchestrator.catalog import CatalogSnapshot, ModelFile, ModelKind
from orchestrator.common.field_error import close_matches
from orchestrator.normalize.errors import NormalizeError

EMBEDDING_RE = re.compile(r"embedding:(\S+)")
_TRAILING = re.compile(r"\W$")  # one trailing character that cannot end a name
_SUFFIXES = (".safetensors", ".pt", ".bin", ".pth", ".ckpt")


def _without_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _lookup(known: dict[str, ModelFile], word: str) -> ModelFile | None:
    wanted = word
    while wanted:
        if wanted in known:
            return known[wanted]
        cut = _TRAILING.search(wanted)
        if cut is None:
            return None
        wanted = wanted[: cut.start()]
    return None


def task_embeddings(
    snapshot: CatalogSnapshot, positive: Sequence[str], negative: Sequence[str]
) -> list[ModelRef]:
    files = snapshot.models[ModelKind.embeddings]
    known: dict[str, ModelFile] = {}
    for model in files.values():
        known.setdefault(model.name, model)
        known.setdefault(_without_suffix(model.name), model)
    found: dict[str, ModelFile] = {}
    for field, chunks in (("prompt", positive), ("negative_prompt", negative)):
        for chunk in chunks:
            for match in EMBEDDING_RE.finditer(chunk):
                model = _lookup(known, match.group(1))
                if model is None:
                    where = ", ".join(snapshot.folders[ModelKind.embeddings]) or "catalog/models/embeddings"
                    raise NormalizeError(
                        field,
                        f"embedding:{match.group(1)} names no embedding file; add it to {where}",
                        close_matches(match.group(1), [_without_suffix(n) for n in files]),
                    )
                found[model.name] = model
    return [ModelRef(name=m.name, path=m.path) for _, m in sorted(found.items())]
