"""Test-wide settings: never reach a model hub, pin torch threads so outputs are bit-identical."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("REMGO_TEST_THREADS", "1")

# Tiny random-weight SDXL / SD 1.5 models, LoRA and VAE, built once per session on first use.
from tiny_models import tiny_models  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _nothing_left_running(request):
    """After each test, no job of it holds a module's shared server (a fixture named `color_server` or `server`) (see ServerThread.cancel_active)."""
    yield
    for name in ("color_server", "server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).cancel_active()
