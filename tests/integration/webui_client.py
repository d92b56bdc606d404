"""AUTOMATIC1111's Python client, as the A1111 tests point it at a test server."""

import httpx
import webuiapi

# The tiny SDXL of tests/tiny_models.py, as an A1111 client names it in `override_settings`.
TINY = {"sd_model_checkpoint": "tiny-sdxl"}


def webui(server, sampler: str = "Euler", steps: int = 2) -> webuiapi.WebUIApi:
    """AUTOMATIC1111's Python client pointed at `server`."""
    host, port = server.url.removeprefix("http://").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler=sampler, steps=steps)


def last_job(server) -> dict:
    """The newest job of `server`, in full (its normalized tasks included)."""
    jobs = httpx.get(f"{server.url}/v1/jobs").json()["jobs"]
    return httpx.get(f"{server.url}/v1/jobs/{jobs[0]['id']}").json()
