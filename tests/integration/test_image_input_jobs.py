"""Input-image jobs through the real orchestrator and worker processes (the colour test kernel, whose image
derives from every task field, input bytes included): sizes by Fooocus's rules, the bytes reaching the
worker from the input store, the history and metadata recording the input, history images as inputs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bench.harness.in_process import running
from bench.harness.settings import SMALL, server_settings
from orchestrator.store.metadata.image_io import read_embedded
from orchestrator.store.metadata.text import parse
from tests.image_files import b64, png

pytestmark = pytest.mark.anyio


async def finished(srv, body: dict) -> dict:
    r = await srv.client.post("/v1/jobs?wait=true", json={**SMALL, "image_number": 1, **body})
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job
    return job


async def image_of(srv, job: dict) -> Image.Image:
    r = await srv.client.get(job["images"][0]["url"])
    image = Image.open(io.BytesIO(r.content))
    image.load()
    return image


async def test_vary_upscale_inpaint_outpaint_run_and_are_recorded(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        photo = png((300, 200), (200, 40, 40))
        vary = await finished(srv, {"uov_method": "Vary (Strong)", "uov_input_image": b64(photo)})
        # 300×200 has shape ceil 256: brought to 1024 as Fooocus does (round half to even, as Python's round).
        assert (await image_of(srv, vary)).size == (1216, 768)
        sha = vary["normalized"]["images"][0]["input"]["image_sha256"]
        assert vary["request"]["uov_input_image"] == {"upload_id": sha}  # the kept body has no inline image
        assert (await srv.client.get(f"/v1/uploads/{sha}")).content == photo

        # Another file makes another image: the worker got the bytes, not just their name.
        other = await finished(srv, {"uov_method": "Vary (Strong)", "uov_input_image": b64(png((300, 200), (0, 90, 200)))})
        first, second = await image_of(srv, vary), await image_of(srv, other)
        assert first.tobytes() != second.tobytes()

        fast = await finished(srv, {"uov_method": "Upscale (Fast 2x)", "upscale_fallback": True,
                                    "uov_input_image": {"history_id": vary["images"][0]["history_id"]}})
        assert (await image_of(srv, fast)).size == (2432, 1536)
        assert any("Lanczos" in w for w in fast["warnings"])

        mask = png((300, 200), 255, "L")
        inpaint = await finished(srv, {"prompt": "a hat", "inpaint_input_image": b64(photo),
                                       "inpaint_mask_image": b64(mask), "outpaint_selections": ["Left"]})
        assert (await image_of(srv, inpaint)).size == (390, 200)  # 30 % of the width added on the left

        # The history records the input and finds images by it; the file's metadata carries it too.
        history_id = vary["images"][0]["history_id"]
        made = (await srv.client.get("/v1/history", params={"made_from": history_id})).json()["items"]
        assert [item["id"] for item in made] == [fast["images"][0]["history_id"]]
        outpainted = (await srv.client.get("/v1/history", params={"input_method": "outpaint"})).json()["items"]
        assert [item["id"] for item in outpainted] == [inpaint["images"][0]["history_id"]]
        r = await srv.client.get(fast["images"][0]["url"])
        params = parse(read_embedded(r.content)["parameters"])
        assert (params.input.method, params.input.history_id, params.input.upscaler) == (
            "Upscale (Fast 2x)", history_id, "Lanczos")


async def test_bad_input_images_are_refused_naming_the_field(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        photo = png((300, 200), (200, 40, 40))
        cases = [
            ({"inpaint_input_image": b64(photo), "inpaint_mask_image": b64(png((200, 300), 255, "L"))},
             "$.inpaint_mask_image"),
            ({"uov_method": "Vary (Subtle)", "uov_input_image": b64(b"not an image at all")}, "$.uov_input_image"),
            ({"uov_method": "Vary (Subtle)"}, "$.uov_input_image"),
            ({"uov_method": "Upscale (2x)", "uov_input_image": b64(photo)}, "$.uov_method"),  # no upscaler installed
            ({"uov_input_image": {"history_id": "0000000000000000"}, "uov_method": "Vary (Subtle)"},
             "$.uov_input_image"),
        ]
        for body, field in cases:
            r = await srv.client.post("/v1/jobs", json={**SMALL, **body})
            assert r.status_code in (400, 422), (body, r.text)
            assert r.json()["error"]["field"] == field, (field, r.text)
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []  # nothing was queued
