"""Users' own model folders, end to end: POST /v1/jobs → a real worker process on the tiny models → the
image on disk and its history row.

Each layout is laid out the way Fooocus, ComfyUI (with `extra_model_paths.yaml`) and AUTOMATIC1111 lay
it out, and runs an SDXL checkpoint with a LoRA, a VAE and an embedding, and an SD 1.5 checkpoint with
default settings. Then: a models folder reached through a link, files that are links to elsewhere, the
bundled catalog/models beside REMGO_MODEL_ROOTS, and listed files that cannot be run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.harness.in_process import poll, running
from bench.harness.settings import make_catalog, server_settings

pytestmark = pytest.mark.anyio

SMALL = {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2, "image_number": 1,
         "image_seed": 7, "style_selections": []}


def _place(src: str, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / (name or os.path.basename(src))))


def fooocus_install(dest: Path, tiny) -> Path:
    models = dest / "models"
    _place(tiny.sdxl_file, models / "checkpoints")
    _place(tiny.sd15_file, models / "checkpoints")
    _place(tiny.lora_file, models / "loras")
    _place(tiny.vae_file, models / "vae")
    _place(tiny.embedding_file, models / "embeddings")
    return dest


def a1111_install(dest: Path, tiny) -> Path:
    _place(tiny.sdxl_file, dest / "models" / "Stable-diffusion")
    _place(tiny.sd15_file, dest / "models" / "Stable-diffusion")
    _place(tiny.lora_file, dest / "models" / "Lora")
    _place(tiny.vae_file, dest / "models" / "VAE")
    _place(tiny.embedding_file, dest / "embeddings")
    return dest


def comfyui_install(dest: Path, tiny) -> Path:
    """ComfyUI's own models/ folders, plus an A1111 install beside it that extra_model_paths.yaml names
    (ComfyUI's documented example): the SD 1.5 checkpoint and the LoRA live only there."""
    models = dest / "models"
    _place(tiny.sdxl_file, models / "checkpoints")
    _place(tiny.vae_file, models / "vae")
    _place(tiny.embedding_file, models / "embeddings")
    webui = dest.parent / "stable-diffusion-webui"
    _place(tiny.sd15_file, webui / "models" / "Stable-diffusion")
    _place(tiny.lora_file, webui / "models" / "Lora")
    (dest / "extra_model_paths.yaml").write_text(
        "a111:\n"
        "    base_path: ../stable-diffusion-webui/\n"
        "    checkpoints: models/Stable-diffusion\n"
        "    configs: models/Stable-diffusion\n"
        "    vae: models/VAE\n"
        "    loras: |\n"
        "         models/Lora\n"
        "         models/LyCORIS\n"
        "    embeddings: embeddings\n"
        "    hypernetworks: models/hypernetworks\n", encoding="utf-8")
    return dest


async def _run(client, job_id: str, body: dict, status: str = "succeeded") -> dict:
    r = await client.post(f"/v1/jobs?id={job_id}", json=body)
    assert r.status_code == 202, r.text
    job = await poll(client, job_id, status, timeout=300)
    if status == "succeeded":
        for image in job["images"]:
            assert (await client.get(image["url"])).status_code == 200
    return job


async def _history_for(client, job_id: str) -> list[dict]:
    items = (await client.get("/v1/history", params={"limit": 100})).json()["items"]
    return [i for i in items if i.get("job_id") == job_id]


@pytest.mark.parametrize("layout", [fooocus_install, comfyui_install, a1111_install],
                         ids=["fooocus", "comfyui", "a1111"])
async def test_each_layout_runs_sdxl_with_lora_vae_embedding_and_sd15_with_defaults(tmp_path, tiny_models, layout):
    install = layout(tmp_path / "install", tiny_models)
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[str(install)], catalog_dir=str(
        _empty_catalog(tmp_path)))
    async with running(settings) as srv:
        catalog = (await srv.client.get("/v1/catalog")).json()
        checkpoints = {m["name"]: m for m in catalog["models"]["checkpoints"]}
        assert checkpoints["tiny-sdxl.safetensors"]["architecture"] == "sdxl"
        assert checkpoints["tiny-sd15.safetensors"]["architecture"] == "sd15"

        sdxl = await _run(srv.client, "xl", {
            **SMALL, "prompt": "a boat, embedding:tiny-embedding", "base_model_name": "tiny-sdxl.safetensors",
            "loras": [{"name": "tiny-lora.safetensors", "weight": 0.8}], "vae_name": "tiny-vae.safetensors"})
        task = sdxl["normalized"]["tasks"][0]
        assert [lora["name"] for lora in task["loras"]] == ["tiny-lora.safetensors"]
        assert task["vae"]["name"] == "tiny-vae.safetensors"
        assert [e["name"] for e in task["embeddings"]] == ["tiny-embedding.safetensors"]
        rows = await _history_for(srv.client, "xl")
        assert len(rows) == 1 and rows[0]["model"] == "tiny-sdxl.safetensors"

        # SD 1.5 with Fooocus's default settings: the SDXL-only ADM scalers become neutral, and say so.
        sd15 = await _run(srv.client, "sd15", {**SMALL, "prompt": "a cat", "base_model_name": "tiny-sd15.safetensors"})
        adm = sd15["normalized"]["tasks"][0]["adm"]
        assert (adm["positive"], adm["negative"], adm["end"]) == (1.0, 1.0, 0.0)
        assert any("SD 1.5" in w and "ADM" in w for w in sd15["warnings"])
        assert len(await _history_for(srv.client, "sd15")) == 1


def _empty_catalog(tmp_path: Path) -> Path:
    root = make_catalog(tmp_path)
    for placeholder in (root / "models" / "checkpoints").iterdir():
        placeholder.unlink()
    return root


async def test_links_and_the_bundled_folder_beside_model_roots(tmp_path, tiny_models):
    """models kept on another disk and reached through a link; a checkpoint and a LoRA that are links to
    files elsewhere; the bundled catalog/models (SD 1.5 checkpoint, the Lightning LoRA) used together
    with the linked root."""
    other_disk = tmp_path / "other-disk"
    elsewhere = tmp_path / "downloads"
    real_ckpt = _place(tiny_models.sdxl_file, elsewhere)
    real_lora = _place(tiny_models.lora_file, elsewhere, "my-style.safetensors")
    (other_disk / "models" / "checkpoints").mkdir(parents=True)
    (other_disk / "models" / "loras").mkdir(parents=True)
    (other_disk / "models" / "checkpoints" / "linked-xl.safetensors").symlink_to(real_ckpt)
    (other_disk / "models" / "loras" / "my-style.safetensors").symlink_to(real_lora)
    home_link = tmp_path / "home" / "fooocus"
    home_link.parent.mkdir()
    home_link.symlink_to(other_disk)

    catalog = _empty_catalog(tmp_path)
    _place(tiny_models.sd15_file, catalog / "models" / "checkpoints")
    _place(tiny_models.lora_file, catalog / "models" / "loras", "sdxl_lightning_4step_lora.safetensors")
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[str(home_link)], catalog_dir=str(catalog))
    async with running(settings) as srv:
        workers = (await srv.client.get("/v1/workers")).json()["workers"]
        assert workers[0]["state"] == "idle"
        await _run(srv.client, "linked", {**SMALL, "prompt": "a tree", "base_model_name": "linked-xl.safetensors",
                                          "loras": [{"name": "my-style.safetensors", "weight": 0.5}]})
        # The Lightning LoRA is found in the bundled folder while the checkpoint comes from the linked root.
        fast = await _run(srv.client, "lightning", {**SMALL, "prompt": "a tree", "performance_selection": "Lightning",
                                                    "base_model_name": "linked-xl.safetensors"})
        assert "sdxl_lightning_4step_lora.safetensors" in [x["name"] for x in fast["normalized"]["tasks"][0]["loras"]]
        await _run(srv.client, "bundled", {**SMALL, "prompt": "a tree", "base_model_name": "tiny-sd15.safetensors"})


async def test_models_that_do_not_fit_are_refused_naming_the_field(tmp_path, tiny_models):
    install = fooocus_install(tmp_path / "install", tiny_models)
    settings = server_settings(tmp_path, kernel="ColorKernel", model_roots=[str(install)],
                               catalog_dir=str(_empty_catalog(tmp_path)))
    async with running(settings) as srv:
        cases = [
            ({"base_model_name": "tiny-sd15.safetensors", "adm_scaler_positive": 2.0}, "adm_scaler_positive"),
            ({"base_model_name": "tiny-sd15.safetensors", "loras": [{"name": "tiny-lora.safetensors"}]},
             "loras[0].name"),
            ({"base_model_name": "tiny-sd15.safetensors", "prompt": "x <lora:tiny-lora:0.5>"}, "prompt"),
            ({"base_model_name": "tiny-sd15.safetensors", "refiner_model_name": "tiny-sdxl.safetensors"},
             "refiner_model_name"),
        ]
        for body, field in cases:
            r = await srv.client.post("/v1/jobs", json={"prompt": "a", **SMALL, **body})
            assert r.status_code == 422, (body, r.text)  # as every other bad request body
            error = r.json()["error"]
            assert error["field"] == f"$.{field}", error
            assert "SD 1.5" in error["message"] or "SDXL" in error["message"], error
        # Explicitly neutral ADM values on SD 1.5 are fine, as is the SD 1.5 refiner after an SDXL base.
        for body in ({"base_model_name": "tiny-sd15.safetensors", "adm_scaler_positive": 1.0},
                     {"base_model_name": "tiny-sdxl.safetensors", "refiner_model_name": "tiny-sd15.safetensors"}):
            assert (await srv.client.post("/v1/jobs", json={"prompt": "a", **SMALL, **body})).status_code == 202


async def test_listed_files_that_cannot_run_fail_their_job_and_the_worker_stays(tmp_path, tiny_models):
    install = fooocus_install(tmp_path / "install", tiny_models)
    checkpoints = install / "models" / "checkpoints"
    data = Path(tiny_models.sdxl_file).read_bytes()
    (checkpoints / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    _place(tiny_models.vae_file, checkpoints, "a-vae.safetensors")
    (checkpoints / "garbage.safetensors").write_bytes(b"\x00" * 64)
    settings = server_settings(tmp_path, worker_kernel=None, model_roots=[str(install)],
                               catalog_dir=str(_empty_catalog(tmp_path)))
    async with running(settings) as srv:
        listed = {m["name"]: m for m in (await srv.client.get("/v1/catalog")).json()["models"]["checkpoints"]}
        assert listed["a-vae.safetensors"]["architecture"] == "unknown"
        assert "VAE" in listed["a-vae.safetensors"]["note"]
        pid = (await srv.client.get("/v1/workers")).json()["workers"][0]["pid"]
        for name, words in (("truncated.safetensors", "truncated"), ("a-vae.safetensors", "VAE"),
                            ("garbage.safetensors", "safetensors")):
            job = await _run(srv.client, name, {**SMALL, "prompt": "a", "base_model_name": name}, status="failed")
            message = job["error"]["message"]
            assert name in message and words in message, message
        await _run(srv.client, "after", {**SMALL, "prompt": "a", "base_model_name": "tiny-sdxl.safetensors"})
        assert (await srv.client.get("/v1/workers")).json()["workers"][0]["pid"] == pid
