"""`GET /outputs/{path}` and `GET /thumbs/{path}`: image files inside outputs/, nothing else.

Every lookup goes through OutputStore.resolve, so traversal (also percent-encoded), absolute paths,
hidden files, links out of the folder, folders (no listings) and the databases are all a plain 404.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from orchestrator.api.query import takes
from orchestrator.api.responses import error_response as _error
from orchestrator.common.query_params import KeyQuery

# Images are written once and never change under the same name.
_CACHE = "public, max-age=31536000, immutable"


@takes(KeyQuery)
async def output_file(request: Request) -> Response:
    outputs = request.app.state.services.outputs
    path = await run_in_threadpool(outputs.resolve, request.path_params["path"])
    if path is None:
        return _error(404, "no such image")
    return FileResponse(path, headers={"Cache-Control": _CACHE})


@takes(KeyQuery)
async def thumb_file(request: Request) -> Response:
    outputs = request.app.state.services.outputs
    try:
        path = await run_in_threadpool(outputs.thumbnail, request.path_params["path"])
    except (OSError, ValueError) as exc:  # an image Pillow cannot read: nothing to show, and nothing hidden
        return _error(404, f"no thumbnail for this image ({exc})")
    if path is None:
        return _error(404, "no such image")
    return FileResponse(path, media_type="image/webp", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        Route("/outputs/{path:path}", output_file, methods=["GET", "HEAD"]),
        Route("/thumbs/{path:path}", thumb_file, methods=["GET", "HEAD"]),
    ]
