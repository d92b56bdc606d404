"""Image-prompt model files where Fooocus 2.5 (models/controlnet for control models and IP-Adapters,
models/clip_vision), ComfyUI (models/ipadapter, models/clip_vision) and A1111 (models/ControlNet) keep them;
IP-Adapter `.bin` pickles listed in the ipadapter kind only (read as weights only); GET /v1/catalog's
`image_prompt_types` says which types can run and, when not, which file is missing and where it goes."""

from __future__ import annotations

from pathlib import Path

from orchestrator.catalog import Catalog
from orchestrator.catalog.models import ModelKind, scan
from tests.orchestrator.catalog.catalog_samples import catalog_dir, write_models

FOOOCUS_CONTROLNET = ["control-lora-canny-rank128.safetensors", "fooocus_xl_cpds_128.safetensors",
                      "ip-adapter-plus_sdxl_vit-h.bin", "ip-adapter-plus-face_sdxl_vit-h.bin",
                      "fooocus_ip_negative.safetensors", "diffusers_xl_depth_mid.safetensors"]


def test_a_fooocus_controlnet_folder_is_split_between_control_models_and_ip_adapters(tmp_path: Path) -> None:
    write_models(tmp_path / "models", {"controlnet": FOOOCUS_CONTROLNET,
                                       "clip_vision": ["clip_vision_vit_h.safetensors"]})
    found = scan([tmp_path])
    assert sorted(found.files[ModelKind.controlnet]) == [
        "control-lora-canny-rank128.safetensors", "diffusers_xl_depth_mid.safetensors",
        "fooocus_xl_cpds_128.safetensors"]
    adapters = found.files[ModelKind.ipadapter]
    assert sorted(adapters) == ["fooocus_ip_negative.safetensors", "ip-adapter-plus-face_sdxl_vit-h.bin",
                                "ip-adapter-plus_sdxl_vit-h.bin"]
    assert adapters["ip-adapter-plus_sdxl_vit-h.bin"].format == "pickle"
    assert list(found.files[ModelKind.clip_vision]) == ["clip_vision_vit_h.safetensors"]
    assert found.refused == []  # the .bin adapters are not refused as control-model pickles
    controlnet = str((tmp_path / "models" / "controlnet").resolve())
    assert found.folders[ModelKind.controlnet] == found.folders[ModelKind.ipadapter] == [controlnet]


def test_bin_pickles_are_taken_in_the_ipadapter_kind_only(tmp_path: Path) -> None:
    write_models(tmp_path / "models", {
        "ipadapter": ["ip-adapter-plus_sdxl_vit-h.bin", "ip-adapter_sdxl.pth"],  # ComfyUI's folder
        "controlnet": ["control_v11p_canny.bin"],  # not an IP-Adapter: a control-model pickle
        "clip_vision": ["clip_vision_vit_h.bin"],
    })
    found = scan([tmp_path])
    assert list(found.files[ModelKind.ipadapter]) == ["ip-adapter-plus_sdxl_vit-h.bin"]
    assert {(r.kind, r.name) for r in found.refused} == {
        (ModelKind.ipadapter, "ip-adapter_sdxl.pth"), (ModelKind.controlnet, "control_v11p_canny.bin"),
        (ModelKind.clip_vision, "clip_vision_vit_h.bin")}
    assert all("pickle" in r.reason for r in found.refused)


def test_a1111_controlnet_folder_holds_ip_adapters_too(tmp_path: Path) -> None:
    write_models(tmp_path / "models", {"ControlNet": ["ip-adapter-plus-face_sdxl_vit-h.bin",
                                                      "control-lora-canny-rank128.safetensors"]})
    found = scan([tmp_path])
    assert list(found.files[ModelKind.ipadapter]) == ["ip-adapter-plus-face_sdxl_vit-h.bin"]
    assert list(found.files[ModelKind.controlnet]) == ["control-lora-canny-rank128.safetensors"]


def _types(catalog: Catalog) -> dict[str, dict]:
    return {row["type"]: row for row in catalog.summary()["image_prompt_types"]}


def test_the_catalog_says_which_types_can_run_and_what_is_missing(tmp_path: Path) -> None:
    root = catalog_dir(tmp_path, models={"checkpoints": ["base.safetensors"],
                                         "controlnet": ["fooocus_xl_cpds_128.safetensors"]})
    catalog = Catalog(root)
    types = _types(catalog)
    assert list(types) == ["ImagePrompt", "FaceSwap", "PyraCanny", "CPDS"]
    assert [(t["default_stop"], t["default_weight"]) for t in types.values()] == [
        (0.5, 0.6), (0.9, 0.75), (0.5, 1.0), (0.5, 1.0)]
    assert types["CPDS"]["available"] and types["CPDS"]["files"] == {"model": "fooocus_xl_cpds_128.safetensors"}
    canny = types["PyraCanny"]
    assert not canny["available"]
    assert [(m["file"], m["kind"]) for m in canny["missing"]] == [("control-lora-canny-rank128.safetensors",
                                                                   "controlnet")]
    assert canny["missing"][0]["folders"] == [str((root / "models" / "controlnet").resolve())]
    face = types["FaceSwap"]
    assert [m["file"] for m in face["missing"]] == ["ip-adapter-plus-face_sdxl_vit-h.bin",
                                                     "clip_vision_vit_h.safetensors"]
    assert face["missing"][1]["folders"] == [] and "models/clip_vision" in face["missing"][1]["hint"]

    # A ComfyUI layout, with the adapter published as .safetensors, serves ImagePrompt as well.
    write_models(root / "models", {"ipadapter": ["ip-adapter-plus_sdxl_vit-h.safetensors"],
                                   "clip_vision": ["clip_vision_vit_h.safetensors"]})
    catalog.rescan()
    prompt = _types(catalog)["ImagePrompt"]
    assert prompt["available"] and prompt["files"]["model"] == "ip-adapter-plus_sdxl_vit-h.safetensors"
    assert "fooocus_ip_negative.safetensors is not installed" in prompt["note"]

    catalog.set_kernel_capabilities([], [], ["prompt.ImagePrompt"])
    after = _types(catalog)
    assert after["ImagePrompt"]["available"] and not after["CPDS"]["available"]
    assert after["CPDS"]["kernel_runs"] is False and after["CPDS"]["missing"] == []
