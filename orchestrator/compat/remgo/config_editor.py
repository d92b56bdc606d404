"""The settings file as an editor sees it: which settings are editable, their types, and safe writes.

Edits land in the TOML file the server read its settings from (`Settings.config_file`), inside its
`[remgo]` table when it has one; other keys and tables are kept (comments are not). A change is checked
exactly as the next start will read it (load_settings on the new text) before the file is replaced
atomically, so a bad value never reaches the file. Secrets and the worker command line are not offered:
they are edited in the file itself, never over HTTP. Settings that decide who can reach the server and
which files it serves or loads (`EXPOSURE`) are shown read-only: a page that got past the origin check must
still not be able to open the server to the network or to the whole disk (docs/security.md).
"""

from __future__ import annotations

import math
import os
import re
import threading
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.settings import DEFAULT_CONFIG_FILE, FIELDS, Settings, SettingsError, load_settings

# Secrets, and settings that decide what code runs (worker command, its kernel, its environment, pickles).
HIDDEN = frozenset({"api_keys", "a1111_api_auth", "webhook_secret", "worker_cmd", "worker_kernel", "worker_env", "allow_unsafe_pickles"})
# Who can reach the server and which files it serves or loads: shown, never written from the web.
EXPOSURE = frozenset({"host", "outputs_dir", "state_dir", "model_roots", "cors_origins", "allowed_hosts",
                      "webhook_allow_private", "catalog_dir", "fooocus_api_url_hosts"})
EDITABLE = tuple(name for name in FIELDS if name not in HIDDEN and name not in EXPOSURE)
SHOWN = tuple(name for name in FIELDS if name not in HIDDEN)
_TYPE_NAMES = {
    msgspec.inspect.StrType: "string",
    msgspec.inspect.IntType: "number",
    msgspec.inspect.FloatType: "number",
    msgspec.inspect.BoolType: "boolean",
    msgspec.inspect.ListType: "array",
    msgspec.inspect.DictType: "object",
}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # whole key: `$` would also match before a final newline
_write_lock = threading.Lock()


class EditorError(ValueError):
    """A value the editor refuses; `key` names the setting (or `values` for the body as a whole)."""

    def __init__(self, key: str, message: str, status: int = 400) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
        self.status = status


class _Spec(msgspec.Struct, frozen=True):
    type: str
    nullable: bool
    integer: bool
    default: Any


def _specs() -> dict[str, _Spec]:
    specs = {}
    for field in msgspec.inspect.type_info(Settings).fields:
        if field.name not in SHOWN:
            continue
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        main = next(t for t in kinds if not isinstance(t, msgspec.inspect.NoneType))
        default = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
        specs[field.name] = _Spec(type=_TYPE_NAMES[type(main)], integer=isinstance(main, msgspec.inspect.IntType),
                                  nullable=len(kinds) > 1, default=default)
    return specs


SPECS = _specs()


def config_path(settings: Settings) -> Path:
    return Path(settings.config_file or DEFAULT_CONFIG_FILE).absolute()


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the whole document, the table holding the settings: `[remgo]` or the top level)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EditorError("config_path", f"{path} cannot be read as TOML ({exc}); fix it by hand", 409) from None
    table = document.get("remgo")
    return document, table if isinstance(table, dict) else document


def _shown(key: str, table: dict[str, Any], settings: Settings) -> Any:
    """The file's value when it sets the key, else the value the server runs with."""
    if key in table:
        value = table[key]
        return ["auto"] if key == "devices" and value == "auto" else value
    return msgspec.to_builtins(getattr(settings, key))


def payload(settings: Settings) -> dict[str, Any]:
    """`GET /config/editor`."""
    path = config_path(settings)
    _, table = _read(path)
    fields = []
    for key, spec in SPECS.items():
        field = {"key": key, "type": spec.type, "default_value": msgspec.to_builtins(spec.default),
                 "current_value": _shown(key, table, settings)}
        if key in EXPOSURE:
            field |= {"read_only": True, "note": _where_to_change(key, path)}
        fields.append(field)
    return {"config_path": str(path), "restart_required": True, "fields": fields}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _where_to_change(key: str, path: Path) -> str:
    flag = f" or `remgo serve --{key.replace('_', '-')}`" if key in _FLAGS else ""
    return (f"read-only here: it decides who can reach the server or which files it uses; change it in "
            f"{path}{flag}, or with REMGO_{key.upper()}")


_FLAGS = frozenset({"host", "outputs_dir", "state_dir"})


def check_value(key: str, value: Any) -> Any:
    """The value as the file will hold it; EditorError for an unknown key or a value of the wrong type."""
    spec = SPECS.get(key)
    if spec is None:
        if key in HIDDEN:
            raise EditorError(key, "not editable here; secrets and worker commands are set in the settings file")
        raise EditorError(key, f"unknown setting; editable: {', '.join(EDITABLE)}")
    found = _json_type(value)
    if value is None and spec.nullable:
        return None
    if found != spec.type:
        raise EditorError(key, f"expected {spec.type}{' or null' if spec.nullable else ''}, got {found}")
    if spec.integer and isinstance(value, float):
        if not value.is_integer():
            raise EditorError(key, f"expected a whole number, got {value}")
        return int(value)
    return value


def save(settings: Settings, values: dict[str, Any]) -> dict[str, Any]:
    """`POST /config/editor`: write the values that differ from what the editor shows; answers what changed."""
    checked = {key: check_value(key, value) for key, value in values.items()}
    path = config_path(settings)
    with _write_lock:
        document, table = _read(path)
        changed = sorted(k for k, v in checked.items() if v != _shown(k, table, settings))
        for key in changed:  # sent back unchanged (an editor sends every field) is fine; changed is not
            if key in EXPOSURE:
                raise EditorError(key, _where_to_change(key, path), 403)
        if changed:
            for key in changed:
                if checked[key] is None:
                    table.pop(key, None)
                else:
                    table[key] = checked[key]
            _replace(path, dumps(document))
    return {"success": True, "updated_keys": changed, "config_path": str(path), "restart_required": True}


def _replace(path: Path, text: str) -> None:
    """Validate `text` as the next start will read it, then swap it in atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            load_settings(tmp, env={})
        except SettingsError as exc:
            key = exc.source.rsplit(": ", 1)[-1]
            key = key if key in FIELDS else "values"
            raise EditorError(key, exc.message.removeprefix(f"{key}: ")) from None
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ----- TOML text ----------------------------------------------------------------------------------


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(text: str) -> str:
    # JSON's escapes are TOML's; DEL is the one control character JSON leaves as it is.
    return msgspec.json.encode(text).decode().replace("\x7f", "\\u007F")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dumps(document: dict[str, Any], prefix: str = "") -> str:
    """A TOML document: plain keys first, then each table under its `[header]`."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in document.items() if not isinstance(v, dict) or not v]
    text = "\n".join(lines) + ("\n" if lines else "")
    for name, table in document.items():
        if isinstance(table, dict) and table:
            header = f"{prefix}.{_key(name)}" if prefix else _key(name)
            text += f"\n[{header}]\n" + dumps(table, header)
    return text
