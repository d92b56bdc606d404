"""AUTOMATIC1111's API end to end with its Python client `webuiapi`, on the real server and worker processes
(the fast test kernel). Expected key lists are A1111's (modules/api/models.py, processing.Processed.js)."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import pytest
import webuiapi
from PIL import Image

from bench.harness.settings import server_settings
from bench.harness.worker_kernels import HOLD
from tests.orchestrator.server_thread import ServerThread

INFO_KEYS = {"prompt", "all_prompts", "negative_prompt", "all_negative_prompts", "seed", "all_seeds", "subseed",
             "all_subseeds", "subseed_strength", "width", "height", "sampler_name", "cfg_scale", "steps",
             "batch_size", "restore_faces", "face_restoration_model", "sd_model_name", "sd_model_hash",
             "sd_vae_name", "sd_vae_hash", "seed_resize_from_w", "seed_resize_from_h", "denoising_strength",
             "extra_generation_params", "index_of_first_image", "infotexts", "styles", "job_timestamp",
             "clip_skip", "is_using_inpainting_conditioning"}
STATE_KEYS = {"skipped", "interrupted", "stopping_generation", "job", "job_count", "job_timestamp", "job_no",
              "sampling_step", "sampling_steps"}
# StableDiffusionTxt2ImgProcessingAPI: the processing classes' arguments plus the API's additions.
TXT2IMG_KEYS = {
    "prompt", "negative_prompt", "styles", "seed", "subseed", "subseed_strength", "seed_resize_from_h",
    "seed_resize_from_w", "sampler_name", "sampler_index", "scheduler", "batch_size", "n_iter", "steps", "cfg_scale",
    "width", "height", "restore_faces", "tiling", "do_not_save_samples", "do_not_save_grid", "eta",
    "denoising_strength", "s_min_uncond", "s_churn", "s_tmax", "s_tmin", "s_noise", "override_settings",
    "override_settings_restore_afterwards", "refiner_checkpoint", "refiner_switch_at", "disable_extra_networks",
    "firstpass_image", "comments", "enable_hr", "firstphase_width", "firstphase_height", "hr_scale", "hr_upscaler",
    "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler",
    "hr_prompt", "hr_negative_prompt", "script_name", "script_args", "send_images", "save_images",
    "alwayson_scripts", "force_task_id", "infotext",
}
SMALL = {"width": 256, "height": 256, "steps": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = server_settings(tmp_path_factory.mktemp("a1111"), step_delay=0.02,
                               a1111_api_auth=["alice:secret"])
    with ServerThread(settings) as srv:
        yield srv


@pytest.fixture
def api(server) -> webuiapi.WebUIApi:
    host, port = server.url.removeprefix("http://").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler a", steps=3, username="alice",
                             password="secret")


def sdapi(server, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{server.url}/sdapi/v1/{path}", auth=("alice", "secret"), timeout=60, **kw)


def png(size=(256, 256), color=(200, 30, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


def test_txt2img_shapes_seeds_and_the_job_record(server, api) -> None:
    r = api.txt2img(prompt="a (red) fox", negative_prompt="blur", seed=41, batch_size=2, n_iter=2, **SMALL)
    assert sorted(r.json) == ["images", "info", "parameters"] and len(r.images) == 4
    assert all(img.size == (256, 256) and img.format == "PNG" for img in r.images)
    info = r.info
    assert set(info) == INFO_KEYS
    assert info["all_seeds"] == [41, 42, 43, 44] and info["seed"] == 41 and info["batch_size"] == 2
    assert info["sampler_name"] == "Euler a" and info["steps"] == 3 and info["cfg_scale"] == 7.0
    assert info["all_prompts"] == ["a (red) fox"] * 4 and len(info["infotexts"]) == 4
    assert "Seed: 42" in info["infotexts"][1] and info["sd_model_name"] == "tiny"
    assert set(r.parameters) == TXT2IMG_KEYS
    assert r.parameters["sampler_name"] == "Euler a" and r.parameters["prompt"] == "a (red) fox"
    jobs = httpx.get(f"{server.url}/v1/jobs").json()["jobs"]
    job = httpx.get(f"{server.url}/v1/jobs/{jobs[0]['id']}").json()
    assert job["request_format"] == "a1111" and [i["seed"] for i in job["images"]] == [41, 42, 43, 44]
    used = job["normalized"]["request"]
    assert used["sampler_name"] == "euler_ancestral" and used["scheduler_name"] == "normal"
    assert used["image_sharpness"] == 0 and used["style_selections"] == [] and used["loras"] == []
    history = httpx.get(f"{server.url}/v1/history", params={"limit": 4}).json()["items"]
    assert {h["job_id"] for h in history} == {job["id"]} and {h["seed"] for h in history} == {41, 42, 43, 44}


def test_png_info_round_trip(api) -> None:
    r = api.txt2img(prompt="a lighthouse", seed=7, **SMALL)
    found = api.png_info(r.images[0])
    assert sorted(found.json) == ["info", "items", "parameters"]
    assert found.info == r.info["infotexts"][0]
    params = found.parameters
    assert params["Seed"] == "7" and params["Steps"] == "3" and params["Sampler"] == "Euler a"
    assert (params["Size-1"], params["Size-2"]) == ("256", "256") and params["Prompt"] == "a lighthouse"


def test_img2img_vary_and_inpaint(api) -> None:
    image = png((1024, 1024))
    r = api.img2img(images=[image], denoising_strength=0.4, width=1024, height=1024, steps=3, seed=3)
    assert [i.size for i in r.images] == [(1024, 1024)] and r.info["denoising_strength"] == 0.4
    assert r.parameters["init_images"] is None
    mask = Image.new("L", (1024, 1024), 0)
    mask.paste(255, (300, 300, 600, 600))
    r = api.img2img(images=[image], mask_image=mask, denoising_strength=0.6, width=1024, height=1024, steps=3,
                    mask_blur=0, inpainting_fill=1, inpaint_full_res=False, inpainting_mask_invert=1)
    assert [i.size for i in r.images] == [(1024, 1024)]


def test_img2img_inpaints_with_every_webuiapi_default(api) -> None:
    # webuiapi's defaults: mask_blur 4, inpainting_fill 0 (fill), inpaint_full_res (only masked) with padding 0,
    # denoising_strength 0.75, width × height 512 — the box around the mask is sampled at 512², the image keeps
    # its own size, as in A1111
    mask = Image.new("L", (640, 384), 0)
    mask.paste(255, (300, 100, 400, 200))
    r = api.img2img(images=[png((640, 384))], mask_image=mask)
    assert [i.size for i in r.images] == [(640, 384)] and r.info["denoising_strength"] == 0.75
    pairs = r.info["infotexts"][0].splitlines()[-1].split(", ")
    assert {"Mask blur: 4", "Inpaint area: Only masked", "Masked area padding: 0", "Masked content: fill"} <= set(pairs)
    found = api.png_info(r.images[0]).parameters
    assert (found["Mask blur"], found["Inpaint area"], found["Masked content"]) == ("4", "Only masked", "fill")


def test_img2img_size_follows_remgos_rule_or_is_refused(api) -> None:
    with pytest.raises(RuntimeError) as refused:
        api.img2img(images=[png((512, 512))], width=512, height=512, steps=3)
    status, text = refused.value.args
    assert status == 422 and '"field":"width"' in text and "1024" in text  # a 512² image varies to 1024²


@pytest.mark.parametrize(("changes", "field"), [
    ({"enable_hr": True}, "enable_hr"), ({"tiling": True}, "tiling"), ({"restore_faces": True}, "restore_faces"),
    ({"subseed_strength": 1.5}, "subseed_strength"), ({"seed_resize_from_w": 512}, "seed_resize_from_w"), ({"prompt": "a [cat:dog:0.5]"}, "prompt"),
    ({"prompt": "[a|b]"}, "prompt"), ({"sampler_name": "DDIM CFG++"}, "sampler_name"), ({"scheduler": "Beta"}, "scheduler"),
    ({"override_settings": {"sd_vae": "nope.safetensors"}}, "override_settings.sd_vae"),
    ({"override_settings": {"eta_noise_seed_delta": 31337}}, "override_settings.eta_noise_seed_delta"),
    ({"alwayson_scripts": {"ControlNet": {"args": []}}}, "alwayson_scripts.ControlNet"),
    ({"script_name": "x/y/z plot"}, "script_name"), ({"sampler_name": "Euler a", "eta": 0.5}, "eta"), ({"width": 300}, "width"),
    ({"styles": ["No Such Style"]}, "styles[0]"), ({"nonsense": 1}, "nonsense"), ({"steps": 0}, "steps"),
    ({"sampler_name": "DDIM", "eta": 0.5}, "eta"), ({"sampler_name": "DDIM", "scheduler": "Karras"}, "scheduler"),
    ({"sampler_name": "DDIM", "steps": 1}, "steps"), ({"sampler_name": "DDIM", "enable_hr": True}, "enable_hr"),
    ({"sampler_name": "DDIM", "refiner_checkpoint": "tiny.safetensors", "refiner_switch_at": 0.5},
     "refiner_checkpoint"),
])
def test_refused_knobs_name_their_field(server, changes, field) -> None:
    r = sdapi(server, "POST", "txt2img", json={"prompt": "x", **SMALL, **changes})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and body["detail"][0]["loc"][0] == "body"


def test_img2img_refusals_name_their_field(server) -> None:
    image = "data:image/png;base64," + base64.b64encode(_png_bytes(png((1024, 1024)))).decode()
    mask = base64.b64encode(_png_bytes(Image.new("L", (1024, 1024), 255))).decode()
    base = {"init_images": [image], "mask": mask, "width": 1024, "height": 1024, "steps": 3, "mask_blur": 0,
            "inpainting_fill": 1, "inpaint_full_res": False, "denoising_strength": 0.5}
    for changes, field in [({"mask_blur": -1}, "mask_blur"), ({"mask_blur_x": 300, "mask_blur": None}, "mask_blur_x"),
                           ({"inpainting_fill": 4}, "inpainting_fill"), ({"width": 512}, "width"),
                           ({"inpaint_full_res": True, "inpaint_full_res_padding": -1}, "inpaint_full_res_padding"),
                           ({"inpaint_full_res": True, "width": 300}, "width"),
                           ({"init_images": []}, "init_images"), ({"denoising_strength": 0}, "denoising_strength"),
                           ({"mask": "not an image"}, "mask"), ({"sampler_name": "DDIM"}, "sampler_name")]:
        r = sdapi(server, "POST", "img2img", json={**base, **changes})
        assert r.status_code == 422 and r.json()["field"] == field, (changes, r.text)


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_options_switch_the_model_and_refuse_unknown_titles(server, api) -> None:
    assert api.get_options()["sd_model_checkpoint"].startswith("tiny.safetensors")
    models = api.get_sd_models()
    assert list(models[0]) == ["title", "model_name", "hash", "sha256", "filename", "config"]
    assert api.set_options({"sd_model_checkpoint": models[0]["title"], "CLIP_stop_at_last_layers": 1}) is None
    assert api.get_options()["CLIP_stop_at_last_layers"] == 1
    r = api.txt2img(prompt="x", **SMALL)
    assert r.info["clip_skip"] == 1
    answer = api.set_options({"sd_model_checkpoint": "missing.safetensors [0000000000]"})
    assert answer["field"] == "sd_model_checkpoint"
    api.set_options({"CLIP_stop_at_last_layers": 2})


def test_lists(api) -> None:
    names = [s["name"] for s in api.get_samplers()]
    assert {"Euler a", "DPM++ 2M", "DDIM", "PLMS", "UniPC"} <= set(names) and "DDIM CFG++" not in names
    assert all(sorted(s) == ["aliases", "name", "options"] for s in api.get_samplers())
    assert [u["name"] for u in api.get_upscalers()] == ["None", "Lanczos"]
    assert api.get_scripts() == {"txt2img": [], "img2img": []}


def test_progress_while_running_then_interrupt(server, api) -> None:
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0 and set(idle["state"]) == STATE_KEYS
    answer: dict = {}
    worker = threading.Thread(target=lambda: answer.setdefault(
        "r", api.txt2img(prompt=f"slow {HOLD}", width=256, height=256, steps=20, batch_size=2)))
    worker.start()
    deadline = time.monotonic() + 30
    while (p := api.get_progress())["state"]["sampling_step"] < 2:
        assert time.monotonic() < deadline, p
        time.sleep(0.05)
    assert 0 < p["progress"] < 1 and p["state"]["job_count"] == 2 and p["state"]["sampling_steps"] == 20
    assert p["textinfo"].startswith("Sampling step") and p["eta_relative"] >= 0
    assert api.interrupt() == {}
    worker.join(30)
    assert answer["r"].images == []  # stopped before any image was done
    assert api.get_progress()["state"]["job_count"] == 0


def test_login_is_required(server) -> None:
    r = httpx.get(f"{server.url}/sdapi/v1/options")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Basic"
    assert httpx.get(f"{server.url}/sdapi/v1/options", auth=("alice", "wrong")).status_code == 401
