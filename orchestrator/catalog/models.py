"""Model files on disk: which folders hold which kind, scanning them, and what is refused.

A model's name is its path relative to its kind's folder with `/` separators, as Fooocus names them
(`juggernautXL_v8Rundiffusion.safetensors`, `sdxl/foo.safetensors`). A root may be a Fooocus, ComfyUI or
A1111 install (or its `models` folder): each names its kind folders differently, and all are known here;
a ComfyUI install's `extra_model_paths.yaml` adds the folders it lists.

Links: a kind folder is scanned at its real path (a models folder kept on another disk through a link is
the common set-up), and links inside it are followed wherever they point: only the owner of the folder
can place one. A model's `path` is its place inside the real folder (the link itself, not its target),
so it always lies inside one of `ScanResult.folders`, the folders a worker is told to accept.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path

import msgspec


class ModelKind(enum.StrEnum):
    checkpoints = "checkpoints"
    loras = "loras"
    vae = "vae"
    embeddings = "embeddings"
    upscale = "upscale"
    controlnet = "controlnet"
    inpaint = "inpaint"  # Fooocus's inpaint engine: its head and patches
    ipadapter = "ipadapter"  # IP-Adapters and Fooocus's negative image embedding
    clip_vision = "clip_vision"  # the image encoders IP-Adapters read


# Sub-folder names per kind: Fooocus and ComfyUI first, then A1111's.
FOLDER_NAMES: dict[ModelKind, tuple[str, ...]] = {
    ModelKind.checkpoints: ("checkpoints", "diffusers", "Stable-diffusion"),
    ModelKind.loras: ("loras", "Lora", "LyCORIS"),
    ModelKind.vae: ("vae", "VAE"),
    ModelKind.embeddings: ("embeddings",),
    ModelKind.upscale: ("upscale_models", "ESRGAN", "RealESRGAN"),
    ModelKind.controlnet: ("controlnet", "ControlNet"),
    ModelKind.inpaint: ("inpaint",),
    # Fooocus keeps its IP-Adapters in models/controlnet and A1111's ControlNet extension in models/ControlNet,
    # beside the control models; ComfyUI gives them a folder of their own.
    ModelKind.ipadapter: ("ipadapter", "controlnet", "ControlNet"),
    ModelKind.clip_vision: ("clip_vision",),
}

EXTRA_PATHS_FILE = "extra_model_paths.yaml"
# ComfyUI's folder names in extra_model_paths.yaml → our kinds.
COMFYUI_KEYS: dict[str, ModelKind] = {
    "checkpoints": ModelKind.checkpoints,
    "diffusers": ModelKind.checkpoints,
    "loras": ModelKind.loras,
    "vae": ModelKind.vae,
    "embeddings": ModelKind.embeddings,
    "upscale_models": ModelKind.upscale,
    "controlnet": ModelKind.controlnet,
    "inpaint": ModelKind.inpaint,
    "ipadapter": ModelKind.ipadapter,
    "clip_vision": ModelKind.clip_vision,
}

SAFE_SUFFIXES = frozenset({".safetensors"})
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
OTHER_MODEL_SUFFIXES = frozenset({".gguf", ".onnx", ".sft"})
_PICKLE_REASON = ("a pickle file ({suffix}) can run code when loaded: convert it to .safetensors, "
                  "or set allow_unsafe_pickles")
# Fooocus's inpaint head (.pth) and patches (.patch) exist only as torch pickles. The worker reads them with
# torch.load(weights_only=True), which rebuilds tensors and plain containers and runs no code from the
# file, so they are listed (format "pickle") in this kind only, whatever allow_unsafe_pickles says.
# IP-Adapters are published as torch pickles (.bin) too, and are read the same way.
WEIGHTS_ONLY_PICKLES: dict[ModelKind, frozenset[str]] = {ModelKind.inpaint: frozenset({".pth", ".patch"}),
                                                         ModelKind.ipadapter: frozenset({".bin"})}
# Kinds that may share a folder: there a file belongs to the one its name says (an IP-Adapter's name says so).
SHARED_FOLDER_KINDS = frozenset({ModelKind.controlnet, ModelKind.ipadapter})


def is_ip_adapter_name(name: str) -> bool:
    """Whether a file in a folder shared by control models and IP-Adapters is an IP-Adapter part (the
    adapters' published names, and Fooocus's negative embedding)."""
    stem = os.path.splitext(os.path.basename(name))[0].casefold().replace("_", "-")
    return "ip-adapter" in stem or "ipadapter" in stem or stem == "fooocus-ip-negative"


class ModelFile(msgspec.Struct, frozen=True, kw_only=True):
    kind: ModelKind
    name: str
    path: str  # absolute
    size: int
    mtime_ns: int
    format: str  # "safetensors" | "diffusers" | "pickle"
    # Read from the file's header (model_info.py); None when the kind has none or it could not be read.
    architecture: str | None = None  # checkpoints: "sdxl" | "sd15" | "sdxl_refiner" | "unknown"
    context_width: int | None = None  # checkpoints and LoRAs: width of the prompt features the UNet takes
    note: str | None = None  # why the architecture is unknown (or that the checkpoint is an inpainting one)
    inpainting: bool = False  # checkpoints: a 9-channel UNet that also reads the mask and the masked image

    def public(self) -> dict:
        out = {"name": self.name, "size": self.size, "format": self.format}
        if self.architecture is not None:
            out["architecture"] = self.architecture
        if self.note:
            out["note"] = self.note
        if self.inpainting:
            out["inpainting"] = True
        return out


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


def kind_folders(root: Path, problems: list[str] | None = None) -> dict[ModelKind, list[Path]]:
    """The kind folders under one root: the root itself and its `models` sub-folder are both tried, then
    the folders a ComfyUI `extra_model_paths.yaml` in the root lists."""
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
    extra = root / EXTRA_PATHS_FILE
    if extra.is_file():
        for kind, folders in comfyui_extra_paths(extra, problems if problems is not None else []).items():
            found[kind] += [f for f in folders if f.is_dir()]
    return found


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
    folders: dict[ModelKind, list[str]]  # real paths, in scan order
    problems: list[str] = []


def comfyui_extra_paths(path: Path, problems: list[str]) -> dict[ModelKind, list[Path]]:
    """The folders a ComfyUI `extra_model_paths.yaml` adds, by kind.

    Each top-level section has an optional `base_path` (relative to the file's folder) and, per ComfyUI
    folder name, one path or several on separate lines (relative to `base_path`). Names remgo does not
    use (`configs`, `hypernetworks` …) are skipped; a file that cannot be read is reported, not fatal.
    """
    import yaml  # only here: most set-ups have no such file

    found: dict[ModelKind, list[Path]] = {k: [] for k in ModelKind}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot read it: {exc}")
        return found
    if not isinstance(data, dict):
        return found
    for section, entries in data.items():
        if not isinstance(entries, dict):
            problems.append(f"{path}: section {section!r} is not a mapping")
            continue
        base = Path(os.path.expanduser(str(entries.get("base_path") or "")))
        base = base if base.is_absolute() else path.parent / base
        for key, value in entries.items():
            kind = COMFYUI_KEYS.get(str(key))
            if kind is None or not isinstance(value, str):
                continue
            for line in value.splitlines():
                if line.strip():
                    folder = Path(os.path.expanduser(line.strip()))
                    found[kind].append(folder if folder.is_absolute() else base / folder)
    return found


def scan(roots: list[Path], *, allow_unsafe_pickles: bool = False) -> ScanResult:
    """List every model under the roots. Earlier roots win when two hold the same name."""
    files: dict[ModelKind, dict[str, ModelFile]] = {k: {} for k in ModelKind}
    refused: list[Refusal] = []
    problems: list[str] = []
    folders: dict[ModelKind, list[str]] = {k: [] for k in ModelKind}
    for root in roots:
        if not root.is_dir():
            continue
        for kind, dirs in kind_folders(root, problems).items():
            for folder in dirs:
                real = os.path.realpath(folder)
                if real not in folders[kind]:  # the same folder reached twice (case-insensitive disk, nested roots)
                    folders[kind].append(real)
    shared = {real for kind in SHARED_FOLDER_KINDS for real in folders[kind]
              if all(real in folders[other] for other in SHARED_FOLDER_KINDS)}
    for kind in ModelKind:
        for real in folders[kind]:
            take = None
            if kind in SHARED_FOLDER_KINDS and real in shared:
                take = is_ip_adapter_name if kind is ModelKind.ipadapter else _not_ip_adapter
            _Walker(kind, allow_unsafe_pickles, files[kind], refused, take).walk(real, "")
    for kind in ModelKind:
        files[kind] = dict(sorted(files[kind].items(), key=lambda kv: kv[0].casefold()))
    return ScanResult(files=files, refused=refused, folders=folders, problems=problems)


def _not_ip_adapter(name: str) -> bool:
    return not is_ip_adapter_name(name)


class _Walker:
    """`take(name)`: which files of the folder are this kind's (None: all of them)."""

    def __init__(self, kind: ModelKind, allow_unsafe: bool, out: dict[str, ModelFile],
                 refused: list[Refusal], take=None) -> None:
        self.take = take
        self.kind = kind
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
            if is_dir:
                self._dir(entry.path, name)
            elif is_file:
                self._file(entry, name, entry.path)

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
            self.add(name, path, size, mtime, fmt)

    def _file(self, entry: os.DirEntry, name: str, path: str) -> None:
        if self.take is not None and not self.take(name):
            return  # the other kind sharing this folder lists it
        suffix = os.path.splitext(entry.name)[1].lower()
        if suffix in WEIGHTS_ONLY_PICKLES.get(self.kind, ()):
            fmt = "pickle"  # read as weights only: no code runs
        elif suffix in SAFE_SUFFIXES:
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
        st = entry.stat()  # follows a link: the size and time of the file it points to
        self.add(name, path, st.st_size, st.st_mtime_ns, fmt)
