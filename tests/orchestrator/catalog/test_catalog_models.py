"""Models on disk: kind folders of every layout, names, refusals, links, hashes, rescan."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from contract.task import Sampler, Scheduler
from orchestrator.catalog import Catalog, CatalogError, ModelKind
from orchestrator.catalog import hashes as hashes_module
from tests.orchestrator.catalog.catalog_samples import (
    SD15_SHAPES,
    SDXL_LORA_SHAPES,
    SDXL_SHAPES,
    catalog_dir,
    safetensors_with,
    write_models,
)


def names(catalog: Catalog, kind: ModelKind) -> list[str]:
    return [m["name"] for m in catalog.models_of(kind)]


def refused(catalog: Catalog) -> dict[str, str]:
    return {r.name: r.reason for r in catalog.snapshot().refused}


def test_names_are_paths_relative_to_the_kind_folder(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path))
    assert names(catalog, ModelKind.checkpoints) == [
        "juggernautXL_v8Rundiffusion.safetensors",
        "realisticStockPhoto_v20.safetensors",
        "sdxl/animaPencilXL_v500.safetensors",
    ]
    assert "detail/add-detail-xl.safetensors" in names(catalog, ModelKind.loras)
    model = catalog.model(ModelKind.checkpoints, "sdxl/animaPencilXL_v500.safetensors")
    assert os.path.isabs(model.path) and model.path.endswith("checkpoints/sdxl/animaPencilXL_v500.safetensors")
    # A name written on Windows finds the same file.
    assert catalog.model(ModelKind.checkpoints, "sdxl\\animaPencilXL_v500.safetensors") == model


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"models/checkpoints": ["a.safetensors"], "models/loras": ["l.safetensors"], "models/vae": ["v.safetensors"],
          "models/embeddings": ["e.safetensors"], "models/upscale_models": ["u.safetensors"],
          "models/controlnet": ["c.safetensors"]}, "fooocus"),
        ({"checkpoints": ["a.safetensors"], "loras": ["l.safetensors"], "vae": ["v.safetensors"],
          "embeddings": ["e.safetensors"], "upscale_models": ["u.safetensors"],
          "controlnet": ["c.safetensors"]}, "comfyui models folder"),
        ({"models/Stable-diffusion": ["a.safetensors"], "models/Lora": ["l.safetensors"],
          "models/VAE": ["v.safetensors"], "embeddings": ["e.safetensors"], "models/ESRGAN": ["u.safetensors"],
          "models/ControlNet": ["c.safetensors"]}, "a1111"),
    ],
)
def test_foreign_installs_show_up(tmp_path, layout, expected):
    root = write_models(tmp_path / "install", layout)
    catalog = Catalog(catalog_dir(tmp_path, models={}), [root])
    for kind, name in [(ModelKind.checkpoints, "a"), (ModelKind.loras, "l"), (ModelKind.vae, "v"),
                       (ModelKind.embeddings, "e"), (ModelKind.upscale, "u"), (ModelKind.controlnet, "c")]:
        assert names(catalog, kind) == [f"{name}.safetensors"], (expected, kind)


def test_catalog_models_win_over_extra_roots_and_the_loser_is_reported(tmp_path):
    extra = write_models(tmp_path / "extra", {"checkpoints": ["juggernautXL_v8Rundiffusion.safetensors",
                                                              "other.safetensors"]})
    catalog = Catalog(catalog_dir(tmp_path), [extra])
    model = catalog.model(ModelKind.checkpoints, "juggernautXL_v8Rundiffusion.safetensors")
    assert str(tmp_path / "catalog") in model.path
    assert "other.safetensors" in names(catalog, ModelKind.checkpoints)
    assert "which is used" in refused(catalog)["juggernautXL_v8Rundiffusion.safetensors"]


def test_pickles_are_refused_unless_allowed_and_other_files_ignored(tmp_path):
    root = catalog_dir(tmp_path, models={"checkpoints": ["good.safetensors", "old.ckpt", "q.gguf", "notes.txt",
                                                        "preview.png"],
                                         "embeddings": ["bad.pt"]})
    catalog = Catalog(root)
    assert names(catalog, ModelKind.checkpoints) == ["good.safetensors"]
    reasons = refused(catalog)
    assert "allow_unsafe_pickles" in reasons["old.ckpt"] and "allow_unsafe_pickles" in reasons["bad.pt"]
    assert "not supported" in reasons["q.gguf"]
    assert "notes.txt" not in reasons and "preview.png" not in reasons
    with pytest.raises(CatalogError, match="refused") as err:
        catalog.model(ModelKind.checkpoints, "old.ckpt", "base_model_name")
    assert err.value.field == "base_model_name"

    unsafe = Catalog(root, allow_unsafe_pickles=True)
    assert names(unsafe, ModelKind.checkpoints) == ["good.safetensors", "old.ckpt"]
    assert unsafe.model(ModelKind.checkpoints, "old.ckpt").format == "pickle"


def test_diffusers_folders_are_one_model(tmp_path):
    root = catalog_dir(tmp_path, models={})
    pipe = root / "models" / "checkpoints" / "my-pipeline"
    write_models(pipe, {"unet": ["diffusion_pytorch_model.safetensors"], "vae": ["diffusion_pytorch_model.safetensors"]})
    (pipe / "model_index.json").write_text("{}")
    old = root / "models" / "checkpoints" / "old-pipeline"
    write_models(old, {"unet": ["diffusion_pytorch_model.bin"]})
    (old / "model_index.json").write_text("{}")
    catalog = Catalog(root)
    model = catalog.model(ModelKind.checkpoints, "my-pipeline")
    assert model.format == "diffusers" and model.size > 0
    assert names(catalog, ModelKind.checkpoints) == ["my-pipeline"]
    assert "pickle" in refused(catalog)["old-pipeline"]


@pytest.mark.parametrize("bad", ["../checkpoints/x.safetensors", "/etc/passwd", "C:/models/x.safetensors",
                                 "a/./b.safetensors", "", " x.safetensors"])
def test_names_that_leave_the_folder_are_refused(tmp_path, bad):
    catalog = Catalog(catalog_dir(tmp_path))
    with pytest.raises(CatalogError, match="refused") as err:
        catalog.model(ModelKind.checkpoints, bad, "base_model_name")
    assert err.value.field == "base_model_name"


def test_links_are_followed_wherever_they_point_and_named_by_their_place(tmp_path):
    root = catalog_dir(tmp_path)
    elsewhere = write_models(tmp_path / "elsewhere", {"x": ["kept.safetensors"], "dir/sub": ["deep.safetensors"]})
    loras = root / "models" / "loras"
    (loras / "linked.safetensors").symlink_to(elsewhere / "x" / "kept.safetensors")
    (loras / "linked-dir").symlink_to(elsewhere / "dir")
    (loras / "alias.safetensors").symlink_to(loras / "film_grain_xl.safetensors")
    (loras / "loop").symlink_to(loras)  # must not recurse forever
    catalog = Catalog(root)
    assert {"linked.safetensors", "linked-dir/sub/deep.safetensors", "alias.safetensors"} <= set(
        names(catalog, ModelKind.loras))
    real_loras = os.path.realpath(loras)
    # The path is the link's place in the real folder, so it lies inside a folder the worker accepts.
    assert catalog.model(ModelKind.loras, "linked.safetensors").path == os.path.join(real_loras, "linked.safetensors")
    assert catalog.model(ModelKind.loras, "linked-dir/sub/deep.safetensors").path == os.path.join(
        real_loras, "linked-dir", "sub", "deep.safetensors")
    assert catalog.model(ModelKind.loras, "alias.safetensors").size == (loras / "film_grain_xl.safetensors").stat().st_size
    assert not any(n.startswith("loop/") for n in names(catalog, ModelKind.loras))


def test_a_root_reached_through_a_link_is_scanned_at_its_real_path(tmp_path):
    disk = write_models(tmp_path / "other-disk" / "models", {"checkpoints": ["big.safetensors"],
                                                            "loras": ["l.safetensors"]})
    link = tmp_path / "home" / "models"
    link.parent.mkdir()
    link.symlink_to(disk)
    catalog = Catalog(catalog_dir(tmp_path, models={}), [link])
    model = catalog.model(ModelKind.checkpoints, "big.safetensors")
    assert model.path == str(disk.resolve() / "checkpoints" / "big.safetensors")
    roots = catalog.worker_roots()
    assert str(disk.resolve()) in roots
    for kind in ModelKind:
        for m in catalog.snapshot().models[kind].values():
            assert any(m.path.startswith(r + os.sep) for r in roots), m.path


def test_worker_roots_cover_the_bundled_folder_extra_roots_and_linked_kind_folders(tmp_path):
    shared = write_models(tmp_path / "shared-loras", {"sub": ["s.safetensors"]})
    extra = write_models(tmp_path / "extra", {"checkpoints": ["e.safetensors"]})
    root = catalog_dir(tmp_path)
    (extra / "loras").symlink_to(shared)  # a kind folder that is a link to another disk
    catalog = Catalog(root, [extra])
    roots = catalog.worker_roots()
    assert roots == sorted({os.path.realpath(root / "models"), os.path.realpath(extra), os.path.realpath(shared)})
    assert catalog.model(ModelKind.loras, "sub/s.safetensors").path.startswith(os.path.realpath(shared))


def test_unknown_names_list_close_matches(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path))
    with pytest.raises(CatalogError) as err:
        catalog.model(ModelKind.checkpoints, "juggernautXL_v8.safetensors", "base_model_name")
    assert "juggernautXL_v8Rundiffusion.safetensors" in err.value.suggestions
    assert "checkpoints" in err.value.message  # says where to add it


def test_inline_tags_find_loras_by_stem(tmp_path):
    snap = Catalog(catalog_dir(tmp_path)).snapshot()
    assert snap.lora_for_tag("add-detail-xl").name == "detail/add-detail-xl.safetensors"
    assert snap.lora_for_tag("film_grain_xl.safetensors").name == "film_grain_xl.safetensors"
    assert snap.lora_for_tag("nope") is None


def test_short_hash_is_lazy_cached_and_persisted(tmp_path, monkeypatch):
    root = catalog_dir(tmp_path)
    catalog = Catalog(root)
    model = catalog.model(ModelKind.vae, "sdxl_vae.safetensors")
    expected = hashlib.sha256(Path(model.path).read_bytes()).hexdigest()[:10]
    assert catalog.short_hash(model) == expected
    assert (root / "models" / ".hash_cache.json").is_file()

    def no_hashing(path):
        raise AssertionError("hashed again")

    monkeypatch.setattr(hashes_module, "sha256_of", no_hashing)
    assert catalog.short_hash(model) == expected
    assert Catalog(root).short_hash(model) == expected  # a new process reads the cache file
    monkeypatch.undo()

    Path(model.path).write_bytes(b"changed weights, other size")
    catalog.rescan()
    changed = catalog.model(ModelKind.vae, "sdxl_vae.safetensors")
    assert catalog.short_hash(changed) == hashlib.sha256(b"changed weights, other size").hexdigest()[:10]


def test_hidden_files_are_not_models(tmp_path):
    root = catalog_dir(tmp_path, models={"checkpoints": ["a.safetensors", ".partial.safetensors"]})
    assert names(Catalog(root), ModelKind.checkpoints) == ["a.safetensors"]


def test_rescan_is_explicit(tmp_path):
    root = catalog_dir(tmp_path, models={})
    catalog = Catalog(root)
    assert not catalog.has_checkpoint()
    write_models(root / "models", {"checkpoints": ["new.safetensors"]})
    assert not catalog.has_checkpoint()  # nothing rescans behind the caller's back
    catalog.rescan()
    assert catalog.has_checkpoint() and names(catalog, ModelKind.checkpoints) == ["new.safetensors"]


def test_kernel_capabilities_narrow_samplers_and_schedulers(tmp_path):
    catalog = Catalog(catalog_dir(tmp_path, models={}))
    assert catalog.samplers == [s.value for s in Sampler]
    assert catalog.schedulers == [s.value for s in Scheduler]
    catalog.set_kernel_capabilities(["euler", "euler", "not-a-sampler", "lcm"], ["karras"])
    assert catalog.samplers == ["euler", "lcm"] and catalog.schedulers == ["karras"]
    catalog.set_kernel_capabilities([], [])  # a worker that does not report keeps what is known
    assert catalog.samplers == ["euler", "lcm"]
    assert catalog.summary()["samplers"] == ["euler", "lcm"]


def test_summary_holds_everything_the_ui_needs(tmp_path):
    summary = Catalog(catalog_dir(tmp_path)).summary()
    assert set(summary) >= {"models", "folders", "refused", "styles", "presets", "wildcards", "aspect_ratios",
                            "performance", "samplers", "schedulers", "output_formats", "metadata_schemes",
                            "refiner_swap_methods", "defaults", "limits", "problems"}
    assert set(summary["models"]) == {k.value for k in ModelKind}
    assert summary["problems"] == []
    assert len(summary["aspect_ratios"]) == 26


def test_checkpoints_are_listed_with_the_architecture_their_header_names(tmp_path):
    root = catalog_dir(tmp_path, models={})
    folder = root / "models" / "checkpoints"
    safetensors_with(folder / "xl.safetensors", SDXL_SHAPES)
    safetensors_with(folder / "one-five.safetensors", SD15_SHAPES)
    safetensors_with(folder / "misplaced-lora.safetensors", SDXL_LORA_SHAPES)
    full = safetensors_with(tmp_path / "full.safetensors", SDXL_SHAPES).read_bytes()
    (folder / "cut.safetensors").write_bytes(full[: len(full) - 10])
    listed = {m["name"]: m for m in Catalog(root).models_of(ModelKind.checkpoints)}
    assert listed["xl.safetensors"]["architecture"] == "sdxl" and "note" not in listed["xl.safetensors"]
    assert listed["one-five.safetensors"]["architecture"] == "sd15"
    # Listed, with the reason: the worker is the authority and fails such a job naming the file.
    assert listed["misplaced-lora.safetensors"]["architecture"] == "unknown"
    assert "a LoRA" in listed["misplaced-lora.safetensors"]["note"]
    assert "truncated" in listed["cut.safetensors"]["note"]


def test_lora_widths_are_read_when_first_asked_for(tmp_path):
    root = catalog_dir(tmp_path, models={})
    safetensors_with(root / "models" / "loras" / "xl-style.safetensors", SDXL_LORA_SHAPES)
    catalog = Catalog(root)
    lora = catalog.model(ModelKind.loras, "xl-style.safetensors")
    assert lora.context_width is None  # not read during the scan: a library may hold thousands
    assert catalog.described(lora).context_width == 2048


def test_comfyui_extra_model_paths_add_their_folders(tmp_path):
    """ComfyUI's documented example: an A1111 install named by a relative base_path, several folders
    in one multi-line value, keys remgo does not use, and an absolute path."""
    comfy = write_models(tmp_path / "ComfyUI", {"models/checkpoints": ["comfy.safetensors"]})
    write_models(tmp_path / "webui", {"models/Stable-diffusion": ["a1111.safetensors"],
                                      "models/Lora": ["l1.safetensors"], "models/LyCORIS": ["l2.safetensors"]})
    absolute = write_models(tmp_path / "elsewhere", {"vae": ["v.safetensors"]})
    (comfy / "extra_model_paths.yaml").write_text(
        "a111:\n"
        "    base_path: ../webui/\n"
        "    checkpoints: models/Stable-diffusion\n"
        "    configs: models/Stable-diffusion\n"
        "    loras: |\n"
        "         models/Lora\n"
        "         models/LyCORIS\n"
        "    hypernetworks: models/hypernetworks\n"
        "other:\n"
        f"    vae: {absolute / 'vae'}\n", encoding="utf-8")
    catalog = Catalog(catalog_dir(tmp_path, models={}), [comfy])
    assert names(catalog, ModelKind.checkpoints) == ["a1111.safetensors", "comfy.safetensors"]
    assert names(catalog, ModelKind.loras) == ["l1.safetensors", "l2.safetensors"]
    assert names(catalog, ModelKind.vae) == ["v.safetensors"]
    roots = catalog.worker_roots()
    assert os.path.realpath(tmp_path / "webui" / "models" / "Lora") in roots
    assert os.path.realpath(absolute / "vae") in roots


def test_a_broken_extra_model_paths_file_is_reported_not_fatal(tmp_path):
    comfy = write_models(tmp_path / "ComfyUI", {"models/checkpoints": ["comfy.safetensors"]})
    (comfy / "extra_model_paths.yaml").write_text("a111: [unclosed\n", encoding="utf-8")
    catalog = Catalog(catalog_dir(tmp_path, models={}), [comfy])
    assert names(catalog, ModelKind.checkpoints) == ["comfy.safetensors"]
    assert any("extra_model_paths.yaml" in p for p in catalog.summary()["problems"])
