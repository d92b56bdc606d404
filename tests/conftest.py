"""Test-wide settings: never reach a model hub, pin torch threads so outputs are bit-identical."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("REMGO_TEST_THREADS", "1")
