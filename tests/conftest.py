"""Test-wide settings: never reach a model hub, pin torch threads so outputs are bit-identical."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("REMGO_TEST_THREADS", "1")

# Tiny random-weight SDXL / SD 1.5 models, LoRA and VAE, built once per session on first use.
from tiny_models import tiny_models  # noqa: E402,F401
