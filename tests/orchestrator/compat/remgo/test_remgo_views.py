"""The translations to and from RemGo's shapes, one by one."""

import base64

import msgspec
import pytest

from contract.request import GenerateRequest
from orchestrator.api.request_body import BodyError
from orchestrator.common.query_params import QueryError, parse_query
from orchestrator.compat.remgo.progress import event_message, percentage, stage_text
from orchestrator.compat.remgo.views import (
    DEFAULT_MODEL,
    HistoryPageQuery,
    decode_generate,
    gpus_payload,
    history_page,
    settings_payload,
)
from orchestrator.jobs.model import ImageView, JobEvent, JobProgress
from orchestrator.jobs.store import JobError, JobStatus
from orchestrator.pool.handle import WorkerHandle, WorkerState
from tests.orchestrator.catalog.catalog_samples import standard_catalog
from tests.orchestrator.compat.remgo.frontend import default_body


def test_generate_body_becomes_the_v2_request() -> None:
    request, notes = decode_generate(default_body())
    assert isinstance(request, GenerateRequest) and type(request) is GenerateRequest
    assert request.base_model_name is None  # "Default": whatever the preset or settings say
    assert request.aspect_ratios_selection == "1152×896" and request.image_seed == -1 and request.seed_random
    assert request.guidance_scale == 4.0 and request.loras == []
    assert notes == ["controlnet_softness had no effect: it applies to image prompts (ControlNet), which this "
                     "server does not run"]
    named, notes = decode_generate(default_body(base_model_name="x.safetensors", controlnet_softness=None))
    assert named.base_model_name == "x.safetensors" and notes == []
    assert DEFAULT_MODEL == "Default"
    with pytest.raises(BodyError) as bad:
        decode_generate(default_body(loras=[[True, "a", 3]]))
    assert bad.value.field == "$.loras[0][2]"


def test_settings_lists_come_from_the_catalog(tmp_path) -> None:
    catalog = standard_catalog(tmp_path)
    catalog.set_kernel_capabilities(["euler", "dpmpp_2m_sde_gpu"], ["karras"])
    payload = settings_payload(catalog)
    assert payload["models"] == ["juggernautXL_v8Rundiffusion.safetensors", "realisticStockPhoto_v20.safetensors",
                                 "sdxl/animaPencilXL_v500.safetensors"]
    assert payload["vaes"] == ["Default (model)", "sdxl_vae.safetensors"]
    assert "detail/add-detail-xl.safetensors" in payload["loras"]
    assert payload["samplers"] == ["euler", "dpmpp_2m_sde_gpu"] and payload["schedulers"] == ["karras"]
    assert payload["aspect_ratios"][0] == "704×1408" and len(payload["aspect_ratios"]) == 26
    assert payload["styles"][:2] == ["Fooocus V2", "Random Style"] and "Fooocus Sharp" in payload["styles"]
    assert sorted(payload["presets"]) == ["anime", "default", "lightning", "realistic", "sketchbook"]
    assert payload["output_formats"] == ["png", "jpeg", "webp"]


def _page(**params: str):
    return history_page(parse_query(HistoryPageQuery, params.items()))


def test_history_page_parameters() -> None:
    assert (_page().limit, _page().offset) == (30, 0)
    page = _page(limit="10", page="3")
    assert (page.limit, page.offset, page.number) == (10, 20, 3)
    assert _page(limit="7", offset="15").number == 3
    assert _page(limit="-4").limit == 1 and _page(limit="31").limit == 30
    for params, field in (({"page": "0"}, "page"), ({"offset": "x"}, "offset"), ({"page": "1", "offset": "0"},
                                                                                   "offset"),
                          ({"page": str(2**60)}, "page")):
        with pytest.raises(QueryError) as bad:
            _page(**params)
        assert bad.value.field == field


def test_gpus_number_cuda_devices() -> None:
    workers = [WorkerHandle("w0", "cuda:0", ["x"]), WorkerHandle("w1", "cuda:3", ["x"])]
    workers[1].state = WorkerState.busy
    assert gpus_payload(workers) == {"multi_gpu_enabled": True, "gpu_count": 2, "gpus": [
        {"device": 0, "name": "w0", "weight": 1, "busy": False},
        {"device": 3, "name": "w1", "weight": 1, "busy": True}]}


def _progress(**values) -> JobProgress:
    base = dict(step=15, total=60, images_done=0, images_total=2, image_index=0, image_step=15,
                image_steps_total=30, stage="sampling", preview=b"\xff\xd8\xff-jpeg")
    return JobProgress(**{**base, **values})


def test_event_messages() -> None:
    message = event_message(JobEvent(type="progress", job_id="j", progress=_progress()), [])
    assert msgspec.to_builtins(message) == {
        "type": "progress", "task_id": "j", "percentage": 25, "statusText": "Sampling step 15/30 (image 1/2)",
        "finished": False, "results": [], "preview": base64.b64encode(b"\xff\xd8\xff-jpeg").decode()}
    assert list(msgspec.json.decode(msgspec.json.encode(message))) == [
        "type", "task_id", "percentage", "statusText", "finished", "results", "preview"]
    queued = event_message(JobEvent(type="queued", job_id="j", position=2), [])
    assert (queued.statusText, queued.percentage, queued.preview) == ("Waiting in queue (position 3)", 0, None)
    ready = event_message(JobEvent(type="image_ready", job_id="j", image=ImageView(index=0, seed=1, status="done"),
                                   progress=_progress(step=30, images_done=1)), ["a.png"])
    assert (ready.statusText, ready.results, ready.finished) == ("Image 1/2 ready", ["a.png"], False)
    done = event_message(JobEvent(type="cancelled", job_id="j", status=JobStatus.cancelled,
                                  progress=_progress(images_done=1, preview=None)), ["a.png"])
    assert (done.statusText, done.finished, done.percentage, done.preview) == ("Stopped (1/2 images)", True, 100,
                                                                              None)
    failed = event_message(JobEvent(type="failed", job_id="j", status=JobStatus.failed,
                                    error=JobError(kind="oom", message="out of memory")), [])
    assert failed.statusText == "Failed: out of memory" and failed.finished
    retry = event_message(JobEvent(type="retrying", job_id="j", message="worker w0 ended"), [])
    assert retry.statusText == "Retrying: worker w0 ended"


def test_percentage_and_stage_text() -> None:
    assert percentage(None) == 0 and percentage(_progress(total=0)) == 0 and percentage(_progress(step=60)) == 100
    assert stage_text(_progress(stage="loading")) == "Loading models (image 1/2)"
    assert stage_text(_progress(stage="refining", image_step=25)) == "Refining step 25/30 (image 1/2)"
    assert stage_text(_progress(stage=None)) == "Running"
