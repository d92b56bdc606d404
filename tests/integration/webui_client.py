"""AUTOMATIC1111's Python client, as the A1111 tests point it at a test server."""

import webuiapi


def webui(server, sampler: str = "Euler", steps: int = 2) -> webuiapi.WebUIApi:
    """AUTOMATIC1111's Python client pointed at `server`."""
    host, port = server.url.removeprefix("http://").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler=sampler, steps=steps)
