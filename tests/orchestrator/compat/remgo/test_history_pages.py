"""`GET /history` pages and viewer metadata, and `GET /images/{path}` with its safety rules."""

import shutil
from urllib.parse import quote

import pytest

from bench.harness.in_process import poll, running
from orchestrator.store.history.importer import import_folder
from tests.orchestrator.compat.remgo.frontend import LORA, compat_settings, default_body

pytestmark = pytest.mark.anyio
SMALL = {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 2, "seed_random": False}


async def _generate(client, **changes) -> str:
    r = await client.post("/generate", content=default_body(**{**SMALL, **changes}))
    assert r.status_code == 200, r.text
    return r.json()["task_id"]


async def test_pages_newest_first_with_fooocus_metadata(tmp_path) -> None:
    async with running(compat_settings(tmp_path)) as srv:
        first = await _generate(srv.client, prompt="first", image_seed=5)
        await poll(srv.client, first, "succeeded")
        second = await _generate(srv.client, prompt="second", image_seed=77, image_number=2, adaptive_cfg=5,
                                 loras=[[True, LORA, 0.5], [True, "None", 1]], style_selections=["Fooocus V2"])
        job = await poll(srv.client, second, "succeeded")
        newest = [img["url"].removeprefix("/outputs/") for img in reversed(job["images"])]

        page = (await srv.client.get("/history")).json()
        assert (page["total"], page["limit"], page["offset"], page["page"], page["total_pages"]) == (3, 30, 0, 1, 1)
        assert [i["path"] for i in page["items"][:2]] == newest
        created = [i["created"] for i in page["items"]]
        assert created == sorted(created, reverse=True)

        meta = page["items"][0]["metadata"]
        assert meta["prompt"] == "second" and meta["seed"] == "78" and meta["adaptive_cfg"] == 5.0
        assert meta["lora_combined_1"] == f"{LORA} : 0.5" and "lora_combined_2" not in meta
        assert meta["styles"] == "['Fooocus V2']" and meta["steps"] == 2 and meta["resolution"] == "(256, 256)"
        assert meta["clip_skip"] == 2 and meta["metadata_scheme"] == "fooocus"
        for key in ("negative_prompt", "prompt_expansion", "performance", "guidance_scale", "sharpness",
                    "adm_guidance", "base_model", "refiner_model", "refiner_switch", "sampler", "scheduler", "vae",
                    "version"):
            assert key in meta, key
        assert "adaptive_cfg" not in page["items"][2]["metadata"]  # Fooocus logs it only when not 7

        two = (await srv.client.get("/history?limit=2&page=2")).json()
        assert (two["offset"], two["page"], two["total_pages"]) == (2, 2, 2)
        assert [i["path"] for i in two["items"]] == [page["items"][2]["path"]]
        by_offset = (await srv.client.get("/history?limit=1&offset=1")).json()
        assert [i["path"] for i in by_offset["items"]] == [page["items"][1]["path"]] and by_offset["page"] == 2
        assert (await srv.client.get("/history?limit=500")).json()["limit"] == 30  # RemGo's clamp
        assert (await srv.client.get("/history?limit=0")).json()["limit"] == 1
        past = (await srv.client.get("/history?page=9")).json()
        assert past["items"] == [] and past["total"] == 3

        for query, field in (("limit=ten", "limit"), ("page=0", "page"), ("offset=-1", "offset"),
                             ("page=1&offset=0", "offset"), ("sort=asc", "sort")):
            r = await srv.client.get(f"/history?{query}")
            assert r.status_code == 422 and r.json()["field"] == field, query
            assert isinstance(r.json()["error"], str)


async def test_images_are_served_safely(tmp_path) -> None:
    async with running(compat_settings(tmp_path)) as srv:
        job = await poll(srv.client, await _generate(srv.client, image_seed=1), "succeeded")
        relpath = job["images"][0]["url"].removeprefix("/outputs/")
        day, name = relpath.split("/")
        wanted = (await srv.client.get(f"/outputs/{relpath}")).content

        # Renamed with a space: the path arrives percent-encoded, once or twice.
        spaced = tmp_path / "outputs" / day / f"copy of {name}"
        shutil.copy(tmp_path / "outputs" / relpath, spaced)
        for path in (f"{day}/{quote(spaced.name)}", quote(f"{day}/{quote(spaced.name)}", safe="")):
            r = await srv.client.get(f"/images/{path}")
            assert r.status_code == 200 and r.content == wanted, path
        assert (await srv.client.get(f"/images/{day}%2F{name}")).content == wanted
        assert (await srv.client.head(f"/images/{relpath}")).status_code == 200

        (tmp_path / "secret.png").write_bytes(wanted)
        for bad in (f"{day}", "history.db", "../secret.png", "%2E%2E/secret.png", "%252E%252E%252Fsecret.png",
                    f"{day}/../../secret.png", str(tmp_path / "secret.png"), f"{day}/.{name}"):
            r = await srv.client.get(f"/images/{bad}")
            assert r.status_code == 404, bad  # (a client may fold "../" before sending: still nothing served)
        assert (await srv.client.get("/images/%2E%2E/secret.png")).json()["error"] == "no such image"  # reached us
        assert (await srv.client.get(f"/images/{relpath}?size=big")).status_code == 422


async def test_images_indexed_in_place_elsewhere(tmp_path) -> None:
    async with running(compat_settings(tmp_path), ready=False) as srv:
        job_file = tmp_path / "elsewhere" / "2024-01-02_03-04-05_1.png"
        job_file.parent.mkdir()
        from PIL import Image

        Image.new("RGB", (64, 48), (1, 2, 3)).save(job_file)
        import_folder(srv.services.history, job_file.parent, copy=False)
        item = (await srv.client.get("/history")).json()["items"][0]
        assert item["path"].startswith("_history/") and item["path"].endswith("/" + job_file.name)
        assert item["metadata"] is None and item["filename"] == job_file.name
        r = await srv.client.get(f"/images/{item['path']}")
        assert r.status_code == 200 and r.content == job_file.read_bytes()
        other = item["path"].rsplit("/", 1)[0] + "/other.png"
        assert (await srv.client.get(f"/images/{other}")).status_code == 404
