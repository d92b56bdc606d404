"""The committed JSON Schema and the contract doc stay in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contract import CONTRACT_VERSION, rpc
from contract.events import FailureKind
from contract.schema import comparable, main, public_structs, render, schema_document

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "contract.schema.json"
DOC = ROOT / "docs" / "worker-contract.md"


def test_committed_schema_is_current():
    """Compared as documents, prose whitespace made uniform: only a change in what the contract says fails."""
    assert SCHEMA.exists(), "docs/contract.schema.json is missing: run `make schema`"
    committed = comparable(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert committed == comparable(schema_document()), "docs/contract.schema.json is stale: run `make schema`"


def test_the_comparison_sees_substance_and_ignores_prose_layout():
    document = schema_document()
    relaid = json.loads(json.dumps(document).replace("\\n\\n", "\\n\\n    "))
    assert relaid != document and comparable(relaid) == comparable(document)
    changed = json.loads(json.dumps(document))
    changed["$defs"]["GenerateTask"]["properties"]["width"]["multipleOf"] = 16
    assert comparable(changed) != comparable(document)
    renamed = json.loads(json.dumps(document))
    renamed["$defs"]["AdmScalers"]["description"] += " Changed."
    assert comparable(renamed) != comparable(document)


def test_descriptions_are_our_docstrings_dedented():
    description = schema_document()["$defs"]["AdmScalers"]["description"]
    assert "\n\nNeutral (no effect)" in description and "\n " not in description


def test_schema_covers_every_public_struct():
    document = json.loads(render())
    assert document["contract_version"] == CONTRACT_VERSION
    names = [cls.__name__ for cls in public_structs()]
    assert document["structs"] == names
    assert set(names) <= set(document["$defs"])
    task = document["$defs"]["GenerateTask"]
    assert (task["properties"]["width"]["minimum"], task["properties"]["width"]["maximum"]) == (64, 8192)
    assert set(task["required"]) == {"task_id", "base_model", "width", "height", "seeds"}


def test_cli_writes_the_file(tmp_path, capsys):
    target = tmp_path / "out" / "schema.json"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render()
    assert "structs" in capsys.readouterr().out
    assert main([]) == 2


DOCUMENTED = [
    "GenerateTask",
    "Progress",
    "ImageResult",
    "Timings",
    "TaskResult",
    "Failure",
    "Health",
    "StopParams",
]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_doc_names_every_field(name):
    text = DOC.read_text(encoding="utf-8")
    cls = next(cls for cls in public_structs() if cls.__name__ == name)
    missing = [field for field in cls.__struct_fields__ if f"`{field}`" not in text]
    assert missing == [], f"docs/worker-contract.md does not describe {name} fields {missing}"


def test_doc_lists_every_error_code_and_failure_kind():
    text = DOC.read_text(encoding="utf-8").replace("−", "-")
    codes = {v for k, v in vars(rpc).items() if k.isupper() and isinstance(v, int) and v < -32000 + 1}
    missing = sorted(code for code in codes if not re.search(rf"\| {code} \|", text))
    assert missing == []
    assert [kind.value for kind in FailureKind if f"`{kind.value}`" not in text] == []
    for method in ("health", "generate", "progress", "stop", "shutdown"):
        assert f"| `{method}` |" in text
