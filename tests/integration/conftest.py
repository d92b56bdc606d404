"""Integration tests run the real orchestrator (uvicorn on loopback) with real worker processes."""

import pytest

from bench.harness.settings import server_settings
from tests.orchestrator.server_thread import ServerThread


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory, tiny_models):
    """A server whose one worker runs the diffusers kernel on the tiny models, for one test module."""
    settings = server_settings(tmp_path_factory.mktemp("tiny"), worker_kernel=None,
                               model_roots=[tiny_models.root], step_delay=0.0)
    with ServerThread(settings) as srv:
        yield srv

