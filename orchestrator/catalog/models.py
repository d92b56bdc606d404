"""Model files on disk: which folders hold which kind, scanning them, and what is refused.

A model's name is its path relative to its kind's folder with `/` separators, as Fooocus names them
(`juggernautXL_v8Rundiffusion.safetensors`, `sdxl/foo.safetensors`). A root may be a Fooocus, ComfyUI or
A1111 install (or its `models` folder): each names its kind folders differently, and all are known here.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable
from pathlib import Path

import msgspec


class ModelKind(enum.StrEnum):
    checkpoints = "checkpoints"
    loras = "loras"
    vae = "vae"
    embeddings = "embeddings"
    upscale = "upscale"
    controlnet = "controlnet"


# Sub-folder names per kind: Fooocus and ComfyUI first, then A1111's.
FOLDER_NAMES: dict[ModelKind, tuple[str, ...]] = {
    ModelKind.checkpoints: ("checkpoints", "diffusers", "Stable-diffusion"),
    ModelKind.loras: ("loras", "Lora", "LyCORIS"),
    ModelKind.vae: ("vae", "VAE"),
    ModelKind.embeddings: ("embeddings",),
    ModelKind.upscale: ("upscale_models", "ESRGAN", "RealESRGAN"),
    ModelKind.controlnet: ("controlnet", "ControlNet"),
}

SAFE_SUFFIXES = frozenset({".safetensors"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
OTHER_MODEL_SUFFIXES = frozenset({".gguf", ".onnx", ".sft"})
_PICKLE_REASON = ("a pickle file ({suffix}) can run code when loaded: convert it to .safetensors, "
                  "or set allow_unsafe_pickles")


class ModelFile(msgspec.Struct, frozen=True, kw_only=True):
    kind: ModelKind
    name: str
    path: str  # absolute
    size: int
    mtime_ns: int
    format: str  # "safetensors" | "diffusers" | "pickle"

    def public(self) -> dict:
        return {"name": self.name, "size": self.size, "format": self.format}


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    kind: ModelKind
    name: str
    path: str
    reason: str


def name_problem(name: str) -> str | None:
    """Why a requested model name can never be valid (absolute, `..`, empty parts), or None."""
    if not name or name != name.strip():
        return "a model name must be non-empty without surrounding spaces"
    if "\x00" in name:
        return "a model name must not contain NUL"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "a model name is relative to its kind's folder, not an absolute path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a model name must not contain '..', '.' or empty path parts"
    return None


def kind_folders(root: Path) -> dict[ModelKind, list[Path]]:
    """The kind folders under one root: the root itself and its `models` sub-folder are both tried."""
    bases = [root]
    if (root / "models").is_dir():
        bases.append(root / "models")
    found: dict[ModelKind, list[Path]] = {k: [] for k in ModelKind}
    for base in bases:
        for kind, names in FOLDER_NAMES.items():
            for sub in names:
                folder = base / sub
                if folder.is_dir():
                    found[kind].append(folder)
    return found


def _inside(real: str, real_roots: Iterable[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in real_roots)


def _diffusers_format(path: str, kind: ModelKind) -> str | None:
    """'diffusers' for a diffusers folder of this kind, None when the folder is just a sub-folder."""
    marker = "model_index.json" if kind is ModelKind.checkpoints else "config.json"
    if kind not in (ModelKind.checkpoints, ModelKind.vae, ModelKind.controlnet):
        return None
    return "diffusers" if os.path.isfile(os.path.join(path, marker)) else None


def _folder_weights(path: str) -> tuple[str | None, int, int]:
    """(suffix class, total size, newest mtime) of the weight files of a diffusers folder (two levels)."""
    kinds: set[str] = set()
    size = 0
    mtime = 0
    for dirpath, dirnames, filenames in os.walk(path):
        if dirpath[len(path):].count(os.sep) >= 2:
            dirnames[:] = []
        for f in filenames:
            suffix = os.path.splitext(f)[1].lower()
            if suffix in SAFE_SUFFIXES:
                kinds.add("safe")
            elif suffix in PICKLE_SUFFIXES:
                kinds.add("pickle")
            else:
                continue
            st = os.stat(os.path.join(dirpath, f))
            size += st.st_size
            mtime = max(mtime, st.st_mtime_ns)
    if "safe" in kinds:
        return "safe", size, mtime
    return ("pickle" if kinds else None), size, mtime


class ScanResult(msgspec.Struct, kw_only=True):
    files: dict[ModelKind, dict[str, ModelFile]]
    refused: list[Refusal]
    folders: dict[ModelKind, list[str]]


def scan(roots: list[Path], *, allow_unsafe_pickles: bool = False) -> ScanResult:
    """List every model under the roots. Earlier roots win when two hold the same name."""
    real_roots = [os.path.realpath(r) for r in roots if r.is_dir()]
    files: dict[ModelKind, dict[str, ModelFile]] = {k: {} for k in ModelKind}
    refused: list[Refusal] = []
    folders: dict[ModelKind, list[str]] = {k: [] for k in ModelKind}
    seen_folders: set[str] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for kind, dirs in kind_folders(root).items():
            for folder in dirs:
                real = os.path.realpath(folder)
                if real in seen_folders:
                    continue  # the same folder reached twice (case-insensitive disk, nested roots)
                seen_folders.add(real)
                if not _inside(real, real_roots):
                    refused.append(Refusal(kind=kind, name=folder.name + "/", path=str(folder),
                                           reason="a link that points outside the model roots"))
                    continue
                folders[kind].append(real)
                _Walker(kind, real_roots, allow_unsafe_pickles, files[kind], refused).walk(str(folder), "")
    for kind in ModelKind:
        files[kind] = dict(sorted(files[kind].items(), key=lambda kv: kv[0].casefold()))
    return ScanResult(files=files, refused=refused, folders=folders)


class _Walker:
    def __init__(self, kind: ModelKind, real_roots: list[str], allow_unsafe: bool,
                 out: dict[str, ModelFile], refused: list[Refusal]) -> None:
        self.kind = kind
        self.real_roots = real_roots
        self.allow_unsafe = allow_unsafe
        self.out = out
        self.refused = refused
        self.seen_dirs: set[str] = set()

    def refuse(self, name: str, path: str, reason: str) -> None:
        self.refused.append(Refusal(kind=self.kind, name=name, path=path, reason=reason))

    def add(self, name: str, path: str, size: int, mtime_ns: int, fmt: str) -> None:
        if name in self.out:
            self.refuse(name, path, f"same name as {self.out[name].path}, which is used")
            return
        self.out[name] = ModelFile(kind=self.kind, name=name, path=path, size=size, mtime_ns=mtime_ns, format=fmt)

    def walk(self, dirpath: str, prefix: str) -> None:
        real = os.path.realpath(dirpath)
        if real in self.seen_dirs:
            return  # a link loop
        self.seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(dirpath), key=lambda e: e.name)
        except OSError as exc:
            self.refuse(prefix.rstrip("/") or ".", dirpath, f"cannot list folder: {exc.strerror}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = prefix + entry.name
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if entry.is_symlink() and (is_dir or is_file):
                if not _inside(os.path.realpath(entry.path), self.real_roots):
                    self.refuse(name, entry.path, "a link that points outside the model roots")
                    continue
            if is_dir:
                self._dir(entry.path, name)
            elif is_file:
                resolved = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
                self._file(entry, name, resolved)

    def _dir(self, path: str, name: str) -> None:
        fmt = _diffusers_format(path, self.kind)
        if fmt is None:
            self.walk(path, name + "/")
            return
        weights, size, mtime = _folder_weights(path)
        if weights is None:
            self.refuse(name, path, "a diffusers folder without weight files")
        elif weights == "pickle" and not self.allow_unsafe:
            self.refuse(name, path, _PICKLE_REASON.format(suffix=".bin"))
        else:
            self.add(name, os.path.realpath(path), size, mtime, fmt)

    def _file(self, entry: os.DirEntry, name: str, resolved: str) -> None:
        suffix = os.path.splitext(entry.name)[1].lower()
        if suffix in SAFE_SUFFIXES:
            fmt = "safetensors"
        elif suffix in PICKLE_SUFFIXES:
            if not self.allow_unsafe:
                self.refuse(name, entry.path, _PICKLE_REASON.format(suffix=suffix))
                return
            fmt = "pickle"
        elif suffix in OTHER_MODEL_SUFFIXES:
            self.refuse(name, entry.path, f"{suffix} files are not supported; use .safetensors")
            return
        else:
            return  # previews, notes, configs: not models
        st = entry.stat()
        self.add(name, resolved, st.st_size, st.st_mtime_ns, fmt)
