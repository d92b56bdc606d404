"""What Fooocus-API's OpenAPI document (its docs/openapi.json) and its api_doc_en.md say clients receive,
written out by hand (the document is GPL: its field lists are facts, copied here as lists, not text), and
checkers of an answer against them, field by field."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

# components.schemas.GeneratedImageResult: required base64, url, seed (string), finish_reason.
IMAGE_RESULT = {"base64": (str, type(None)), "url": (str, type(None)), "seed": (str,), "finish_reason": (str,)}
FINISH_REASONS = {"SUCCESS", "QUEUE_IS_FULL", "USER_CANCEL", "ERROR"}
# components.schemas.AsyncJobResponse: required job_id, job_type, job_stage, job_progress; the rest nullable.
ASYNC_JOB = {"job_id": (str,), "job_type": (str,), "job_stage": (str,), "job_progress": (int,),
             "job_status": (str, type(None)), "job_step_preview": (str, type(None)), "job_result": (list, type(None))}
ASYNC_REQUIRED = {"job_id", "job_type", "job_stage", "job_progress"}
JOB_STAGES = {"WAITING", "RUNNING", "SUCCESS", "ERROR"}
# components.schemas.TaskType.
JOB_TYPES = {"Text to Image", "Image Upscale or Variation", "Image Inpaint or Outpaint", "Image Prompt", "Not Found"}
# components.schemas.JobQueueInfo (all required).
QUEUE_INFO = {"running_size": (int,), "finished_size": (int,), "last_job_id": (str, type(None))}
# components.schemas.JobHistoryResponse {queue, history} of JobHistoryInfo {job_id (required), is_finished};
# fooocusapi/models/common/response.py adds in_queue_mills, start_mills, finish_mills.
HISTORY_INFO = {"job_id": (str,), "is_finished": (bool,), "in_queue_mills": (int,), "start_mills": (int,),
                "finish_mills": (int,)}
# components.schemas.AllModelNamesResponse; StopResponse.
MODEL_NAMES = {"model_filenames": (list,), "lora_filenames": (list,)}
STOP = {"msg": (str,)}


def check(value: Any, fields: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    """`value` is an object with exactly these fields, each of one of its types (booleans are not integers)."""
    assert isinstance(value, dict), value
    assert set(value) == set(fields), (sorted(value), sorted(fields))
    for name, kinds in fields.items():
        assert isinstance(value[name], kinds) and not (bool not in kinds and isinstance(value[name], bool)), (
            name, value[name])
    return value


def check_image_result(value: Any) -> dict[str, Any]:
    check(value, IMAGE_RESULT)
    assert value["finish_reason"] in FINISH_REASONS
    if value["finish_reason"] == "SUCCESS":
        assert value["url"] is not None and "/files/" in value["url"]
    else:
        assert value["url"] is None and value["base64"] is None
    if value["base64"] is not None:
        head, _, data = value["base64"].partition(",")
        assert head.startswith("data:image/") and head.endswith(";base64")
        Image.open(io.BytesIO(base64.b64decode(data))).load()
    return value


def check_async_job(value: Any) -> dict[str, Any]:
    check(value, ASYNC_JOB)
    assert value["job_stage"] in JOB_STAGES and value["job_type"] in JOB_TYPES
    assert 0 <= value["job_progress"] <= 100
    for item in value["job_result"] or []:
        check_image_result(item)
    return value


def check_validation_error(value: Any) -> list[dict[str, Any]]:
    """components.schemas.HTTPValidationError: {detail: [{loc, msg, type}]}, as FastAPI clients parse it."""
    assert isinstance(value, dict) and isinstance(value["detail"], list) and value["detail"], value
    for item in value["detail"]:
        assert {"loc", "msg", "type"} <= set(item) and isinstance(item["loc"], list) and isinstance(item["msg"], str)
    return value["detail"]
