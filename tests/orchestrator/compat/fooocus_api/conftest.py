"""Fooocus-API compatibility tests run the real orchestrator (uvicorn on loopback) with real worker processes."""

import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
