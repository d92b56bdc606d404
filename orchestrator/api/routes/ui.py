"""The web page: `GET /` and its static files under `/ui/`, plus the few server settings the page reads.

GET /              the single-page UI (orchestrator/ui/index.html)
GET /ui/{name}     its scripts and styles; only files that ship in orchestrator/ui/, nothing else
GET /v1/ui/config  {default_preset, previews, api_keys}: what the page cannot learn from /v1/catalog

The page and its files hold no data, so they stay reachable when API keys are on (PUBLIC_PATHS): the
page then asks for a key and sends it with every /v1 call.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.query import takes
from orchestrator.api.responses import error_response, json_response, services
from orchestrator.common.query_params import NoQuery

UI_DIR = Path(__file__).resolve().parents[2] / "ui"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# Served by name only: a fixed set read once, so no path from a URL ever reaches the file system.
ASSETS = {p.name: p for p in sorted(UI_DIR.iterdir()) if p.suffix in _TYPES and p.name != "index.html"}
PUBLIC_PATHS = frozenset({"/", *(f"/ui/{name}" for name in ASSETS)})
# Revalidate every time (FileResponse sends an ETag), so an upgraded server never runs a stale script.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


@takes(NoQuery)
async def index(request: Request) -> Response:
    """The web UI."""
    return FileResponse(UI_DIR / "index.html", media_type=_TYPES[".html"], headers=_HEADERS)


@takes(NoQuery)
async def asset(request: Request) -> Response:
    """A script or stylesheet of the web UI."""
    path = ASSETS.get(request.path_params["name"])
    if path is None:
        return error_response(404, "no such file", "name")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


@takes(NoQuery)
async def ui_config(request: Request) -> Response:
    """Server settings the web UI needs: the preset applied when a request names none, previews, keys."""
    settings = services(request).settings
    return json_response({"default_preset": settings.default_preset, "previews": settings.preview_enabled,
                          "api_keys": bool(settings.api_keys)})


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/ui/{name}", asset, methods=["GET", "HEAD"]),
        Route("/v1/ui/config", ui_config, methods=["GET"]),
    ]
