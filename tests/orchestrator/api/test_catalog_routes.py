"""The catalog HTTP API over a real Catalog on a tmp folder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from orchestrator.api.routes.catalog import routes
from orchestrator.catalog import Catalog
from tests.orchestrator.catalog.catalog_samples import catalog_dir, write_models


@pytest.fixture
def setup(tmp_path):
    root = catalog_dir(tmp_path)
    catalog = Catalog(root)
    app = Starlette(routes=routes())
    roots_given: list[list[str]] = []  # what a rescan tells the worker pool
    app.state.services = SimpleNamespace(catalog=catalog, pool=SimpleNamespace(set_model_roots=roots_given.append))
    with TestClient(app) as client:
        client.roots_given = roots_given
        yield client, root


def test_catalog_in_one_call(setup):
    client, _ = setup
    body = client.get("/v1/catalog").json()
    assert [m["name"] for m in body["models"]["checkpoints"]][0] == "juggernautXL_v8Rundiffusion.safetensors"
    styles = {s["name"]: s for s in body["styles"]}
    assert styles["Fooocus V2"]["special"] == "prompt_expansion" and styles["Fooocus V2"]["available"] is False
    assert styles["Random Style"]["special"] == "random_style"
    assert "{prompt}" in styles["Fooocus Sharp"]["prompt"]
    assert (styles["Fooocus Sharp"]["origin"], styles["Fooocus Sharp"]["source"]) == (
        "fooocus", "fooocus/sdxl_styles_fooocus.json")
    assert (styles["Remgo Sharp"]["origin"], styles["Remgo Sharp"]["source"]) == ("remgo", "remgo_styles.json")
    assert {p["name"] for p in body["presets"]} >= {"default", "realistic", "anime", "lightning"}
    default = next(p for p in body["presets"] if p["name"] == "default")
    assert default["values"]["style_selections"] == ["Fooocus Enhance", "Fooocus Sharp"]
    assert default["raw"]["default_styles"] == ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]
    assert default["adjustments"] == [
        "style Fooocus V2 needs Fooocus's prompt-expansion model, which remgo does not run; left out"]
    assert [p["name"] for p in body["performance"]] == ["Quality", "Speed", "Extreme Speed", "Lightning", "Hyper-SD"]
    assert "dpmpp_2m_sde_gpu" in body["samplers"] and "karras" in body["schedulers"]
    assert {w["name"] for w in body["wildcards"]} >= {"color", "animal", "landscape", "creature"}


def test_models_by_kind(setup):
    client, _ = setup
    body = client.get("/v1/models").json()
    assert body["kind"] == "checkpoints" and len(body["models"]) == 3
    loras = client.get("/v1/models", params={"kind": "loras"}).json()
    assert "sdxl_lcm_lora.safetensors" in [m["name"] for m in loras["models"]]
    bad = client.get("/v1/models", params={"kind": "lora"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "kind" and "loras" in bad.json()["error"]["suggestions"]


def test_loras_vaes_styles_presets(setup):
    client, _ = setup
    assert "film_grain_xl.safetensors" in [m["name"] for m in client.get("/v1/loras").json()]
    assert [m["name"] for m in client.get("/v1/vaes").json()] == ["sdxl_vae.safetensors"]
    styles = client.get("/v1/styles").json()
    assert len(styles) >= 42 and all({"name", "prompt", "negative_prompt"} <= set(s) for s in styles)
    presets = client.get("/v1/presets").json()
    assert "default" in [p["name"] for p in presets]
    default = client.get("/v1/presets/default").json()
    assert default["values"]["base_model_name"] == "juggernautXL_v8Rundiffusion.safetensors"
    assert default["raw"]["default_cfg_scale"] == 4.0


def test_unknown_preset_is_404_with_close_names(setup):
    client, _ = setup
    response = client.get("/v1/presets/defualt")
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "name"
    assert response.json()["error"]["suggestions"] == ["default"]


def test_rescan_picks_up_new_files(setup):
    client, root = setup
    write_models(root / "models", {"checkpoints": ["fresh.safetensors"]})
    assert "fresh.safetensors" not in [m["name"] for m in client.get("/v1/models").json()["models"]]
    (root / "models" / "upscale_models").symlink_to(write_models(root.parent / "other-disk", {".": ["x.pth"]}))
    counts = client.post("/v1/catalog/rescan").json()
    assert counts["models"]["checkpoints"] == 4 and counts["problems"] == []
    assert "fresh.safetensors" in [m["name"] for m in client.get("/v1/models").json()["models"]]
    # A kind folder that is a link to another disk is one the workers are told to accept.
    assert str((root.parent / "other-disk").resolve()) in client.roots_given[-1]
