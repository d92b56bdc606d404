"""The worker refuses, up front, an image-input method its kernel does not declare; the test kernel the
orchestrator tests use declares them all and answers at the task's size."""

from __future__ import annotations

import hashlib
import io

import msgspec
import pytest
from PIL import Image

from bench.harness.worker_kernels import ColorKernel
from contract.events import FailureKind
from contract.task import GenerateTask
from inference_worker.kernel import KernelError, KernelOptions
from inference_worker.task_run import TaskRun


def _png(width: int, height: int) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, "PNG")
    data = buf.getvalue()
    return {"data": data, "sha256": hashlib.sha256(data).hexdigest(), "width": width, "height": height}


def _task(image_input: dict | None, width: int = 64, height: int = 64) -> GenerateTask:
    fields = {"task_id": "t", "base_model": {"name": "m", "path": "/m.safetensors"}, "width": width,
              "height": height, "seeds": [1, 2], "steps": 2}  # fmt: skip
    if image_input is not None:
        fields["image_input"] = image_input
    return msgspec.convert(fields, GenerateTask)


METHODS = {
    "vary": ({"method": "vary", "image": _png(40, 30), "denoise": 0.5}, (64, 64)),
    "upscale": ({"method": "upscale", "image": _png(40, 30)}, (101, 75)),
    "inpaint": (
        {
            "method": "inpaint",
            "image": _png(40, 30),
            "mask": _png(40, 30),
            "padding": {"right": 30, "bottom": 34},
        },
        (70, 64),
    ),  # fmt: skip
}


class TextOnlyKernel(ColorKernel):
    """A kernel from before image inputs: no `image_methods`."""

    image_methods = None


class VaryOnlyKernel(ColorKernel):
    def image_methods(self):
        return {"vary"}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_kernel_without_image_methods_refuses_every_method_before_loading(name):
    kernel = TextOnlyKernel(KernelOptions())
    image_input, (w, h) = METHODS[name]
    with pytest.raises(KernelError) as exc:
        TaskRun(_task(image_input, w, h), kernel, notify=lambda p: None).run()
    assert (exc.value.kind, exc.value.field) == (FailureKind.unsupported, "image_input")
    assert kernel.loaded_models() == []  # refused before load
    assert len(TaskRun(_task(None), kernel, notify=lambda p: None).run().images) == 2  # text to image runs


def test_a_kernel_refuses_the_methods_it_does_not_declare():
    kernel = VaryOnlyKernel(KernelOptions())
    image_input, (w, h) = METHODS["vary"]
    assert len(TaskRun(_task(image_input, w, h), kernel, notify=lambda p: None).run().images) == 2
    image_input, (w, h) = METHODS["upscale"]
    with pytest.raises(KernelError) as exc:
        TaskRun(_task(image_input, w, h), kernel, notify=lambda p: None).run()
    assert exc.value.field == "image_input" and "'upscale'" in exc.value.message


@pytest.mark.parametrize("name", sorted(METHODS))
def test_the_color_kernel_runs_every_method_at_the_tasks_size(name):
    image_input, (w, h) = METHODS[name]
    result = TaskRun(_task(image_input, w, h), ColorKernel(KernelOptions()), notify=lambda p: None).run()
    assert [(i.width, i.height) for i in result.images] == [(w, h)] * 2
    assert result.images[0].data != result.images[1].data  # the seed still shows
