"""What a browser on this machine may not do to remgo on behalf of another website (docs/security.md).

remgo listens on localhost without keys by default; any page the user visits can still send requests to
it. Three checks, for every request whatever the route, keys or no keys:

- **Host** must be a name this server answers to: a localhost name, the address it is bound to, or one of
  `allowed_hosts`. A page served from an attacker's name that later resolves to 127.0.0.1 (DNS rebinding)
  sends its own name, and gets 400.
- **Origin**, when a browser sends one on a request that changes state (anything but GET, HEAD and
  OPTIONS) or opens a WebSocket, must be this server's own origin, or one of `cors_origins`, or — when
  none are configured — a localhost origin (RemGo's frontend on its dev server): 403 otherwise. Requests without Origin
  (curl, SDKs, scripts) are not browsers acting for a website and pass.
- **Content-Type** of a request body must be JSON (415 otherwise): a form or `text/plain` is what a
  "simple" cross-site request can send without a CORS preflight. Two routes take image files and so more:
  `POST /v1/uploads` the file itself (`image/png|jpeg|webp`) or `multipart/form-data`, `POST /v1/jobs`
  `multipart/form-data` (the JSON in a part, files beside it). A multipart form is a "simple" request:
  there the Origin check above is what stops another website (browsers send Origin on every cross-site
  POST), and with API keys the cookie (SameSite=Strict) is never sent cross-site.

Bodies are limited to `max_body_bytes` (app.py's BodyLimitMiddleware), but the image routes may carry three
input images inline (base64 is 4/3 of the file): `body_limit` gives those IMAGE_BODY_LIMIT.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.image_input import MAX_INPUT_BYTES
from orchestrator.api.responses import error_response

LOCAL_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MULTIPART = "multipart/form-data"
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
# The body types besides JSON a POST to these paths may have (the Fooocus-API routes that take image files:
# its v1 forms, and its v2 JSON with the images inline, which needs the larger body limit only).
_FOOOCUS_API_FORMS = ("/v1/generation/image-upscale-vary", "/v1/generation/image-inpaint-outpaint",
                      "/v1/generation/image-prompt")
_FOOOCUS_API_JSON = ("/v2/generation/image-upscale-vary", "/v2/generation/image-inpaint-outpaint",
                     "/v2/generation/image-prompt", "/v2/generation/text-to-image-with-ip")
OTHER_BODY_TYPES = {"/v1/jobs": (MULTIPART,), "/v1/uploads": (*IMAGE_MEDIA_TYPES, MULTIPART),
                    **dict.fromkeys(_FOOOCUS_API_FORMS, (MULTIPART,)), **dict.fromkeys(_FOOOCUS_API_JSON, ()),
                    # AUTOMATIC1111's face: JSON bodies carrying base64 images
                    "/sdapi/v1/img2img": (), "/sdapi/v1/extra-single-image": (), "/sdapi/v1/png-info": ()}
# Three input images inline as base64 (4 characters per 3 bytes of MAX_INPUT_BYTES), and 1 MiB for the rest.
IMAGE_BODY_LIMIT = -(-MAX_INPUT_BYTES // 3) * 4 * 3 + 2**20


def host_name(host_header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_patterns(bind_host: str, allowed_hosts: Iterable[str]) -> list[str] | None:
    """The names a request's Host may carry; None for any (bound to every interface and no list given:
    the names the machine has on its networks are not known here)."""
    allowed = [h.lower() for h in allowed_hosts]
    if bind_host in WILDCARD_BINDS and not allowed:
        return None
    if "*" in allowed:
        return None
    names = [*LOCAL_HOSTS, *allowed]
    if bind_host not in WILDCARD_BINDS:
        names.append(bind_host.strip("[]").lower())
    return names


def host_allowed(name: str, patterns: list[str] | None) -> bool:
    if patterns is None:
        return True
    return any(name == p or (p.startswith("*.") and name.endswith(p[1:])) for p in patterns)


def origin_allowed(origin: str, own_origins: set[str], cors_origins: list[str]) -> bool:
    """The server's own origin always; then the configured `cors_origins` ("*": any), or, when none are
    configured, any localhost origin. As for CORS: a list given replaces the localhost default, so a page
    may send only what it may also read."""
    if origin in own_origins:
        return True
    if cors_origins:
        return "*" in cors_origins or origin in cors_origins
    return LOCAL_ORIGIN.match(origin) is not None


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = media_type(content_type)
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _body_type_allowed(method: str, path: str, content_type: str) -> bool:
    return _is_json(content_type) or (method == "POST" and media_type(content_type) in OTHER_BODY_TYPES.get(path, ()))


def body_limit(method: str, path: str, default: int) -> int:
    """The most bytes a request body may have: `default` (max_body_bytes), or IMAGE_BODY_LIMIT for a POST
    to a route that takes image files when that is larger."""
    return max(default, IMAGE_BODY_LIMIT) if method == "POST" and path in OTHER_BODY_TYPES else default


class RequestGuard:
    def __init__(self, app: ASGIApp, *, bind_host: str, allowed_hosts: list[str], cors_origins: list[str]) -> None:
        self.app = app
        self.hosts = host_patterns(bind_host, allowed_hosts)
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(scope, headers)
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": problem[1]})  # answered 403
        else:
            await error_response(problem[0], problem[1], problem[2])(scope, receive, send)

    def _problem(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        if not host_allowed(host_name(host), self.hosts):
            return (400, f"Host {host!r} is not a name this server answers to; add it to allowed_hosts "
                         "if it is yours", "Host")
        websocket = scope["type"] == "websocket"
        if not websocket and scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
            own = {f"{scheme}://{host}".lower()}
            if not origin_allowed(origin.lower(), own, self.cors_origins):
                return (403, f"requests from the origin {origin} are not allowed; add it to cors_origins "
                             "if it is a frontend you trust", "Origin")
        return None


class JsonBodyGuard:
    """415 for a request body that is not JSON (or, on the image routes, one of OTHER_BODY_TYPES). Inside
    the API-key check, so an unauthenticated request is told about its key first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            if _has_body(headers) and not _body_type_allowed(scope["method"], scope["path"],
                                                             headers.get("content-type", "")):
                given = headers.get("content-type") or "none"
                others = OTHER_BODY_TYPES.get(scope["path"], ()) if scope["method"] == "POST" else ()
                wanted = "JSON (Content-Type: application/json)" + "".join(f", or {t}" for t in others)
                response = error_response(415, f"the body must be {wanted}, got {given}", "Content-Type")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers
