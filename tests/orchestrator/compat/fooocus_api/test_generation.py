"""Fooocus-API's documented requests (its docs/api_doc_en.md and examples/) replayed against the real
orchestrator with real worker processes (the colour test kernel), answers checked field by field against
its OpenAPI document's schemas (documented.py), and the same jobs seen through remgo's own API."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from bench.harness.in_process import running
from bench.harness.settings import CHECKPOINT, make_catalog, server_settings
from tests.image_files import b64, png
from tests.orchestrator.catalog.catalog_samples import write_models
from tests.orchestrator.compat.fooocus_api.documented import (
    MODEL_NAMES,
    check,
    check_async_job,
    check_image_result,
    check_validation_error,
)

pytestmark = pytest.mark.anyio
# Fooocus-API's field names; small images and few steps so the colour kernel answers at once.
SMALL = {"prompt": "a red fox", "base_model_name": CHECKPOINT, "image_seed": 1234567890123,
         "advanced_params": {"overwrite_width": 256, "overwrite_height": 256, "overwrite_step": 3}}


async def form_post(srv, path: str, data: dict, files: dict) -> httpx.Response:
    """A multipart form, as `requests.post(url, data=…, files=…)` sends it (the server's client sends JSON)."""
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
        return await client.post(path, data=data, files=files)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_text_to_image_answers_as_documented_and_is_a_job_like_any_other(tmp_path) -> None:
    async with running(server_settings(tmp_path)) as srv:
        # examples_v1.py's text-to-image body shape: Fooocus-API's names (sharpness, advanced_params …).
        body = {**SMALL, "sharpness": 7.5, "guidance_scale": 5, "performance_selection": "Speed",
                "style_selections": ["Fooocus V2"], "save_extension": "jpg", "require_base64": True,
                "loras": [{"model_name": "None", "weight": 0.5, "enabled": True}],
                "advanced_params": {**SMALL["advanced_params"], "adm_scaler_end": 0.4, "sampler_name": "euler"}}
        r = await srv.client.post("/v1/generation/text-to-image", json=body)
        assert r.status_code == 200, r.text
        results = r.json()
        assert len(results) == 1  # Fooocus-API's default image_number is 1 (remgo's own is 2)
        result = check_image_result(results[0])
        assert result["finish_reason"] == "SUCCESS" and result["seed"] == "1234567890123"
        assert result["base64"].startswith("data:image/jpeg;base64,")
        served = await srv.client.get(result["url"].removeprefix(srv.url))
        assert served.status_code == 200 and served.content == base64.b64decode(result["base64"].split(",", 1)[1])
        converted = await srv.client.get(result["url"].removeprefix(srv.url), headers={"accept": "image/png"})
        assert converted.headers["content-type"] == "image/png" and size_of(converted.content) == (256, 256)

        jobs = (await srv.client.get("/v1/jobs")).json()["jobs"]
        assert len(jobs) == 1
        job = (await srv.client.get(f"/v1/jobs/{jobs[0]['id']}")).json()
        assert job["request_format"] == "fooocus-api" and job["request"]["sharpness"] == 7.5
        used = job["normalized"]["request"]
        assert (used["image_sharpness"], used["guidance_scale"], used["adm_scaler_end"], used["sampler_name"],
                used["output_format"], used["style_selections"]) == (7.5, 5.0, 0.4, "euler", "jpeg", ["Fooocus V2"])
        assert job["images"][0]["url"].removeprefix("/outputs/") == result["url"].split("/files/", 1)[1]
        history = (await srv.client.get("/v1/history")).json()["items"]
        assert [item["id"] for item in history] == [job["images"][0]["history_id"]]
        assert history[0]["params"]["sharpness"] == 7.5 and history[0]["params"]["seed"] == 1234567890123

        # Accept: image/png answers one image's bytes (image_number forced to 1, as Fooocus-API does).
        r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "image_number": 3},
                                  headers={"accept": "image/png"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png" and size_of(r.content) == (256, 256)
        r = await srv.client.post("/v1/generation/text-to-image?accept=image/png", json=SMALL)
        assert r.headers["content-type"] == "image/png"
        for listed in (await srv.client.get("/v1/jobs")).json()["jobs"][:2]:
            assert len((await srv.client.get(f"/v1/jobs/{listed['id']}")).json()["images"]) == 1

        models = check((await srv.client.get("/v1/engines/all-models")).json(), MODEL_NAMES)
        assert CHECKPOINT in models["model_filenames"]
        assert check((await srv.client.post("/v1/engines/refresh-models")).json(), MODEL_NAMES) == models
        assert "Fooocus V2" in (await srv.client.get("/v1/engines/styles")).json()
        assert (await srv.client.get("/ping")).json() == "pong"


async def test_refusals_name_the_field_in_both_shapes(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        r = await srv.client.post("/v1/generation/text-to-image",
                                  json={**SMALL, "advanced_params": {"overwrite_step": 3, "samplr_name": "euler"}})
        assert r.status_code == 422
        detail = check_validation_error(r.json())
        assert detail[0]["loc"] == ["body", "advanced_params", "samplr_name"]
        assert r.json()["error"]["field"] == "$.advanced_params.samplr_name"
        assert "sampler_name" in r.json()["error"]["suggestions"]
        # A value remgo's request refuses is named by this face's field name, not remgo's.
        r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "sharpness": 31})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.sharpness"
        r = await srv.client.post("/v1/generation/text-to-image",
                                  json={**SMALL, "advanced_params": {"freeu_b1": 9}})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.advanced_params.freeu_b1"
        r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "base_model_name": "tiny.safetensor"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.base_model_name"
        assert CHECKPOINT in r.json()["error"]["suggestions"]
        r = await srv.client.post("/v1/generation/text-to-image", json={**SMALL, "save_name": "mine"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.save_name"
        r = await srv.client.post("/v1/generation/text-to-image",
                                  json={**SMALL, "advanced_params": {"black_out_nsfw": True}})
        assert r.status_code == 422 and "NSFW" in r.json()["error"]["message"]
        # A form's advanced_params is JSON text; its unknown key is refused the same way.
        r = await form_post(srv, "/v1/generation/image-upscale-vary", {"uov_method": "Vary (Subtle)", "advanced_params": '{"foo": 1}'}, {"input_image": ("in.png", png((64, 64), "red"), "image/png")})
        assert r.status_code == 422 and check_validation_error(r.json())[0]["loc"] == ["body", "advanced_params", "foo"]
        r = await srv.client.get("/v1/generation/query-job")
        assert r.status_code == 422 and r.json()["error"]["field"] == "job_id"
        assert check_validation_error(r.json())[0]["loc"] == ["query", "job_id"]
        r = await srv.client.get("/v1/generation/query-job?job_id=nope")
        assert r.status_code == 404 and r.json().pop("error")["field"] == "job_id"  # remgo's error beside theirs
        assert check_async_job({k: v for k, v in r.json().items() if k != "error"})["job_type"] == "Not Found"
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []


async def test_upscale_vary_and_inpaint_outpaint_by_form_and_json(tmp_path) -> None:
    photo, mask = png((300, 200), (200, 120, 40)), png((300, 200), 255, "L")
    async with running(server_settings(tmp_path)) as srv:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in SMALL.items()}
        # api_doc_en.md's v1 example: the file part, the fields as form text (styles comma-separated).
        r = await form_post(srv, "/v1/generation/image-upscale-vary", {**form, "uov_method": "Vary (Subtle)", "style_selections": "Fooocus V2, Remgo Sharp"}, {"input_image": ("in.png", photo, "image/png")})
        assert r.status_code == 200, r.text
        assert check_image_result(r.json()[0])["finish_reason"] == "SUCCESS"
        r = await form_post(srv, "/v1/generation/image-inpaint-outpaint", {**form, "outpaint_selections": "Left", "async_process": "true"}, {"input_image": ("in.png", photo, "image/png")})
        queued = check_async_job(r.json())
        assert queued["job_type"] == "Image Inpaint or Outpaint" and queued["job_stage"] in ("WAITING", "RUNNING")
        # The v2 twins: the images inline, as base64 or a data URI.
        r = await srv.client.post("/v2/generation/image-inpaint-outpaint",
                                  json={**SMALL, "input_image": f"data:image/png;base64,{b64(photo)}",
                                        "input_mask": b64(mask), "inpaint_additional_prompt": "a hat",
                                        "image_prompts": [{"cn_img": None}, {"cn_img": ""}]})
        assert r.status_code == 200, r.text
        r = await srv.client.post("/v2/generation/image-upscale-vary",
                                  json={**SMALL, "uov_method": "Vary (Strong)", "input_image": b64(photo),
                                        "async_process": True})
        vary = check_async_job(r.json())
        assert vary["job_type"] == "Image Upscale or Variation"
        for job_id in (queued["job_id"], vary["job_id"]):
            await srv.services.dispatcher.wait_done(job_id, timeout=60)
        outpainted = check_async_job((await srv.client.get(f"/v1/generation/query-job?job_id={queued['job_id']}")).json())
        assert outpainted["job_stage"] == "SUCCESS" and outpainted["job_progress"] == 100
        image = await srv.client.get(outpainted["job_result"][0]["url"].removeprefix(srv.url))
        assert size_of(image.content) == (390, 200)  # Fooocus's outpaint: 30 % of the width added on the left
        jobs = (await srv.client.get("/v1/jobs")).json()["jobs"]
        assert len(jobs) == 4 and all(j["status"] == "succeeded" for j in jobs)
        kept = [(await srv.client.get(f"/v1/jobs/{j['id']}")).json() for j in jobs]
        sha = __import__("hashlib").sha256(photo).hexdigest()
        assert all(k["request"]["input_image"] == {"upload_id": sha} for k in kept)  # no inline image kept
        vary_form = next(k for k in kept if k["normalized"]["request"].get("uov_method") == "Vary (Subtle)")
        assert vary_form["normalized"]["request"]["style_selections"] == ["Fooocus V2", "Remgo Sharp"]
        inpaint = next(k for k in kept if k["normalized"]["request"].get("inpaint_mask_image"))
        assert inpaint["normalized"]["request"]["inpaint_additional_prompt"] == "a hat"
        history = (await srv.client.get("/v1/history")).json()["items"]
        assert len(history) == 4


async def test_image_prompts_are_mapped_on_every_route_that_takes_them(tmp_path) -> None:
    """Fooocus-API's image prompts (v2 JSON `image_prompts`, v1 form `cn_img1…4`): slots with an image become
    the job's prompts, cn_stop/cn_weight 0 or left out are the type's default (its api_utils), empty slots are
    skipped; a type whose files are missing is refused naming the slot's cn_type."""
    photo, other = png((64, 64), "blue"), png((64, 64), "red")
    write_models(make_catalog(tmp_path) / "models", {
        "controlnet": ["control-lora-canny-rank128.safetensors", "ip-adapter-plus_sdxl_vit-h.bin",
                       "fooocus_ip_negative.safetensors"],
        "clip_vision": ["clip_vision_vit_h.safetensors"]})
    async with running(server_settings(tmp_path)) as srv:
        body = {**SMALL, "image_prompts": [{"cn_img": None}, {"cn_img": b64(photo), "cn_stop": 0.6, "cn_weight": 0,
                                                              "cn_type": "PyraCanny"},
                                           {"cn_img": b64(other)}],
                "advanced_params": {**SMALL["advanced_params"], "canny_high_threshold": 150}}
        r = await srv.client.post("/v2/generation/text-to-image-with-ip", json={**body, "async_process": True})
        queued = check_async_job(r.json())
        assert queued["job_type"] == "Image Prompt"
        await srv.services.dispatcher.wait_done(queued["job_id"], timeout=60)
        job = (await srv.client.get(f"/v1/jobs/{queued['job_id']}")).json()
        assert job["status"] == "succeeded", job
        task = job["normalized"]["tasks"][0]
        assert [(p["type"], p["stop"], p["weight"], p["model"]["name"]) for p in task["image_prompts"]] == [
            ("PyraCanny", 0.6, 1.0, "control-lora-canny-rank128.safetensors"),
            ("ImagePrompt", 0.5, 0.6, "ip-adapter-plus_sdxl_vit-h.bin")]
        assert task["control"]["canny_high"] == 150

        # The v1 form: files in cn_img{n}, the slot's other fields beside them; with an input image, mixed.
        form = {"prompt": "x", "base_model_name": CHECKPOINT, "cn_type2": "PyraCanny", "cn_weight2": "1.5",
                "advanced_params": json.dumps(SMALL["advanced_params"])}
        r = await form_post(srv, "/v1/generation/image-prompt", form,
                            {"cn_img2": ("ip.png", photo, "image/png"), "input_image": ("in.png", other, "image/png"),
                             "input_mask": ("m.png", png((64, 64), 255, "L"), "image/png")})
        assert r.status_code == 200, r.text
        assert check_image_result(r.json()[0])["finish_reason"] == "SUCCESS"
        mixed = (await srv.client.get("/v1/jobs", params={"limit": 1})).json()["jobs"][0]
        mixed = (await srv.client.get(f"/v1/jobs/{mixed['id']}")).json()
        mixed_task = mixed["normalized"]["tasks"][0]
        assert mixed_task["image_input"]["method"] == "inpaint"
        assert [(p["type"], p["weight"]) for p in mixed_task["image_prompts"]] == [("PyraCanny", 1.5)]

        r = await srv.client.post("/v2/generation/image-prompt",
                                  json={**SMALL, "image_prompts": [{"cn_img": ""}, {"cn_img": b64(photo),
                                                                                    "cn_type": "FaceSwap"}]})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "$.image_prompts[1].cn_type"
        assert "ip-adapter-plus-face_sdxl_vit-h.bin" in r.json()["error"]["message"]
        r = await srv.client.post("/v2/generation/image-prompt",
                                  json={**SMALL, "input_image": b64(other), "input_mask": b64(png((64, 64), 255, "L")),
                                        "image_prompts": [{"cn_img": b64(photo)}],
                                        "advanced_params": {"mixing_image_prompt_and_inpaint": False}})
        assert r.status_code == 422
        assert r.json()["error"]["field"] == "$.advanced_params.mixing_image_prompt_and_inpaint"


async def test_urls_and_missing_features_are_refused(tmp_path) -> None:
    async with running(server_settings(tmp_path), ready=False) as srv:
        r = await srv.client.post("/v2/generation/text-to-image-with-ip",
                                  json={**SMALL, "image_prompts": [{"cn_img": "https://example.com/a.png"}]})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.image_prompts[0].cn_img"
        # An image URL is not fetched unless its host is allowed: SSRF.
        r = await srv.client.post("/v2/generation/image-upscale-vary",
                                  json={**SMALL, "uov_method": "Vary (Subtle)", "input_image": "https://example.com/a.png"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.input_image"
        assert "fooocus_api_url_hosts" in r.json()["error"]["message"]
        # A form route takes a form.
        r = await srv.client.post("/v1/generation/image-upscale-vary", json={"uov_method": "Vary (Subtle)"})
        assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type"
        assert (await srv.client.get("/v1/jobs")).json()["jobs"] == []
    settings = server_settings(tmp_path / "allowed", fooocus_api_url_hosts=["localhost"])
    async with running(settings, ready=False) as srv:
        r = await srv.client.post("/v2/generation/image-upscale-vary",
                                  json={**SMALL, "uov_method": "Vary (Subtle)", "input_image": f"{srv.url}/ping"
                                        .replace("127.0.0.1", "localhost")})
        assert r.status_code == 422 and "private network" in r.json()["error"]["message"]


async def test_upscale_without_super_resolution_needs_remgos_fallback_key(tmp_path) -> None:
    photo = png((300, 200), (200, 120, 40))
    async with running(server_settings(tmp_path)) as srv:
        # As the diffusers kernel reports itself: every method, no super-resolution model.
        srv.services.catalog.set_kernel_capabilities([], [], ["vary", "upscale", "inpaint"])
        body = {**SMALL, "uov_method": "Upscale (Fast 2x)", "input_image": b64(photo)}
        r = await srv.client.post("/v2/generation/image-upscale-vary", json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == "$.uov_method", r.text
        r = await srv.client.post("/v2/generation/image-upscale-vary",
                                  json={**body, "advanced_params": {"upscale_fallback": True}})
        assert r.status_code == 200, r.text
        image = await srv.client.get(r.json()[0]["url"].removeprefix(srv.url))
        assert size_of(image.content) == (1216, 768)  # 600×400 is under shape ceil 1024: brought up to it
