"""Decoding rules of the contract structs: constraints, unknown fields and the version they carry."""

from __future__ import annotations

import msgspec
import pytest

from contract import CONTRACT_VERSION, GenerateRequest, GenerateTask, Progress, TaskResult
from contract.events import Failure, FailureKind

TASK = {
    "task_id": "job-1-0",
    "base_model": {"name": "base.safetensors", "path": "/models/base.safetensors"},
    "width": 1152,
    "height": 896,
    "seeds": [1, 2],
}


def decode_task(**changes) -> GenerateTask:
    return msgspec.json.decode(msgspec.json.encode({**TASK, **changes}), type=GenerateTask)


def test_a_minimal_task_takes_the_documented_defaults():
    task = decode_task()
    assert task.contract_version == CONTRACT_VERSION
    assert (task.steps, task.sampler.value, task.scheduler.value, task.guidance_scale) == (
        30,
        "dpmpp_2m_sde_gpu",
        "karras",
        4.0,
    )
    assert (task.adm.positive, task.adm.negative, task.adm.end) == (1.0, 1.0, 0.0)  # neutral
    assert task.freeu.enabled is False and task.refiner is None and task.image_metadata == []


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"width": 1004}, "$.width"),  # not a multiple of 8
        ({"height": 32}, "$.height"),
        ({"seeds": []}, "$.seeds"),
        ({"seeds": [-1]}, "$.seeds[0]"),
        ({"steps": 0}, "$.steps"),
        ({"sampler": "euler_fast"}, "$.sampler"),
        ({"task_id": ""}, "$.task_id"),
        ({"loras": [{"name": "a", "path": "/a", "weight": 3}]}, "$.loras[0].weight"),
        ({"adm": {"positive": 0}}, "$.adm.positive"),
        ({"preview": {"quality": 101}}, "$.preview.quality"),
        ({"surprise": 1}, "$"),  # unknown field
    ],
)
def test_task_violations_name_the_field(changes, path):
    with pytest.raises(msgspec.ValidationError) as caught:
        decode_task(**changes)
    message = str(caught.value)
    assert message.endswith(f"`{path}`") if path != "$" else "unknown field `surprise`" in message


def test_image_metadata_is_one_entry_per_seed_or_none():
    assert len(decode_task(image_metadata=[{"parameters": "a"}, {"parameters": "b"}]).image_metadata) == 2
    with pytest.raises(msgspec.ValidationError, match="one entry per seed"):
        decode_task(image_metadata=[{"parameters": "a"}])


def test_request_refuses_unknown_fields_and_keeps_lora_forms():
    with pytest.raises(msgspec.ValidationError, match="unknown field `steps`"):
        msgspec.json.decode(b'{"prompt": "x", "steps": 10}', type=GenerateRequest)
    request = msgspec.json.decode(
        b'{"loras": [[true, "a.safetensors", 0.5], {"name": "b", "weight": -1}]}', type=GenerateRequest
    )
    assert request.loras[0] == (True, "a.safetensors", 0.5) and request.loras[1].weight == -1.0
    assert msgspec.json.encode(GenerateRequest()) == b"{}"  # nothing given, nothing written


def test_failure_can_carry_partial_results():
    partial = TaskResult(task_id="t", images=[], stopped=True)
    failure = Failure(kind=FailureKind.out_of_memory, message="oom", task_id="t", partial=partial)
    assert msgspec.json.decode(msgspec.json.encode(failure), type=Failure).partial == partial


def test_progress_preview_is_base64_in_json():
    progress = Progress(task_id="t", image_index=0, images_total=1, step=1, steps_total=4, preview=b"\xff\xd8")
    assert b'"preview":"/9g="' in msgspec.json.encode(progress)
