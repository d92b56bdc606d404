"""Integration tests run the real orchestrator (uvicorn on loopback) with real worker processes."""

import pytest

from tests.tiny_models import tiny_models  # noqa: F401 - the session fixture, for the end-to-end test


@pytest.fixture
def anyio_backend():
    return "asyncio"
