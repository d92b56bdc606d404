"""The config editor's writes: only what changed, into the right table, valid TOML, the rest kept."""

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.compat.remgo import config_editor
from orchestrator.compat.remgo.config_editor import EditorError, dumps, payload, save
from orchestrator.settings import Settings, load_settings
from tests.orchestrator.test_settings import gpus_on_path


def _settings(path, **values) -> Settings:
    return Settings(config_file=str(path), **values)


def test_writes_into_the_remgo_table_and_keeps_the_rest(tmp_path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('title = "my box"\n[remgo]\nport = 9000\napi_keys = ["k1"]\n[other]\nx = 1\n')
    answer = save(_settings(path, port=9000), {"port": 9000, "log_level": "debug", "worker_threads": 4})
    assert answer["updated_keys"] == ["log_level", "worker_threads"] and answer["config_path"] == str(path)
    document = tomllib.loads(path.read_text())
    assert document == {"title": "my box", "remgo": {"port": 9000, "api_keys": ["k1"], "log_level": "debug",
                                                     "worker_threads": 4}, "other": {"x": 1}}
    loaded = load_settings(path, env={})
    assert (loaded.log_level, loaded.port, loaded.worker_threads, loaded.api_keys) == ("debug", 9000, 4, ["k1"])
    assert save(_settings(path, port=9000), {"worker_threads": None})["updated_keys"] == ["worker_threads"]
    assert "worker_threads" not in tomllib.loads(path.read_text())["remgo"]  # null: back to the default


def test_unchanged_values_write_nothing(tmp_path, monkeypatch) -> None:
    gpus_on_path(monkeypatch, tmp_path, 2)  # devices are checked against the machine when saved
    path = tmp_path / "conf.toml"
    current = {f["key"]: f["current_value"] for f in payload(_settings(path))["fields"]}
    assert save(_settings(path), current)["updated_keys"] == [] and not path.exists()
    assert save(_settings(path), {**current, "devices": ["cuda:0", "cuda:1"]})["updated_keys"] == ["devices"]
    assert path.read_text() == 'devices = ["cuda:0", "cuda:1"]\n'
    with pytest.raises(EditorError, match="cuda:7: this machine has 2 GPUs"):
        save(_settings(path), {**current, "devices": ["cuda:7"]})


def test_fields_show_the_file_then_the_running_value(tmp_path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('devices = "auto"\n')
    fields = {f["key"]: f for f in payload(_settings(path, port=9100))["fields"]}
    assert fields["devices"]["current_value"] == ["auto"] and fields["devices"]["default_value"] == ["cpu"]
    assert fields["port"]["current_value"] == 9100 and fields["worker_threads"] == {
        "key": "worker_threads", "type": "number", "default_value": None, "current_value": None}
    assert fields["model_roots"]["type"] == "array" and fields["log_level"]["type"] == "string"
    assert set(fields) == set(config_editor.SHOWN) and not set(fields) & config_editor.HIDDEN
    assert {k for k, f in fields.items() if f.get("read_only")} == config_editor.EXPOSURE


def test_a_value_the_next_start_would_refuse_is_refused_now(tmp_path) -> None:
    path = tmp_path / "conf.toml"
    with pytest.raises(EditorError) as refused:
        save(_settings(path), {"log_level": "chatty"})
    assert refused.value.key == "log_level" and refused.value.message.startswith("one of critical")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_whole_numbers_sent_as_floats_are_integers(tmp_path) -> None:
    path = tmp_path / "conf.toml"
    save(_settings(path), {"queue_limit": 20.0, "webhook_backoff": 2})
    assert tomllib.loads(path.read_text()) == {"queue_limit": 20, "webhook_backoff": 2}
    assert load_settings(path, env={}).webhook_backoff == 2.0


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_scalar = st.one_of(_text, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False), st.lists(_text, max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, st.one_of(_scalar, st.dictionaries(_text, _scalar, max_size=3)), max_size=5))
def test_toml_text_reads_back_the_same(document) -> None:
    assert tomllib.loads(dumps(document)) == document
