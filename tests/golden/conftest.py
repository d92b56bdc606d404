"""Options of the golden suites: `--worker-cmd` picks the worker executable the conformance suite drives."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption(
        "--worker-cmd",
        action="store",
        default=None,
        help="worker command line for tests/golden/conformance (default: this project's `python -m inference_worker`)",
    )
