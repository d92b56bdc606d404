"""JSON responses in the one shape every route answers with, errors included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.views import ErrorBody, ErrorDetail

_enc = msgspec.json.Encoder()


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_enc.encode(value), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, field: str | None = None, suggestions: Iterable[str] = (),
                   headers: Mapping[str, str] | None = None) -> Response:
    body = ErrorBody(error=ErrorDetail(message=message, field=field, suggestions=list(suggestions)))
    return json_response(body, status, headers)


def services(request: Request) -> Any:
    return request.app.state.services


# The API key as a cookie, for browser pages (their EventSource and WebSocket cannot send a header).
API_KEY_COOKIE = "remgo_api_key"
COOKIE_SECONDS = 30 * 24 * 3600


def with_key_cookie(response: Response, key: str) -> Response:
    response.set_cookie(API_KEY_COOKIE, key, max_age=COOKIE_SECONDS, httponly=True, samesite="strict")
    return response
