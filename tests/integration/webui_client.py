"""AUTOMATIC1111's Python client, as the A1111 tests point it at a test server."""

import webuiapi

# The tiny SDXL of tests/tiny_models.py, as an A1111 client names it in `override_settings`.
TINY = {"sd_model_checkpoint": "tiny-sdxl"}


def webui(server, sampler: str = "Euler", steps: int = 2) -> webuiapi.WebUIApi:
    """AUTOMATIC1111's Python client pointed at `server`."""
    host, port = server.url.removeprefix("http://").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler=sampler, steps=steps)
