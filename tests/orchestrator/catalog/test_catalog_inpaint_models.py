"""Fooocus's inpaint engine files: a pickle-only kind, listed from `inpaint` folders (Fooocus's and ComfyUI's
`models/inpaint`) because the worker reads them as weights only; pickles elsewhere stay refused."""

from __future__ import annotations

from pathlib import Path

from orchestrator.catalog.models import ModelKind, scan
from tests.orchestrator.catalog.catalog_samples import write_models


def test_inpaint_pickles_are_listed_there_only(tmp_path: Path) -> None:
    write_models(tmp_path / "models", {
        "inpaint": ["fooocus_inpaint_head.pth", "inpaint_v26.fooocus.patch", "notes.txt", "other.ckpt"],
        "loras": ["fooocus_inpaint_head.pth"],
    })
    found = scan([tmp_path])
    listed = found.files[ModelKind.inpaint]
    assert sorted(listed) == ["fooocus_inpaint_head.pth", "inpaint_v26.fooocus.patch"]
    assert {m.format for m in listed.values()} == {"pickle"}
    refused = {(r.kind, r.name) for r in found.refused}
    assert refused == {(ModelKind.inpaint, "other.ckpt"), (ModelKind.loras, "fooocus_inpaint_head.pth")}
    assert found.folders[ModelKind.inpaint] == [str((tmp_path / "models" / "inpaint").resolve())]
