"""`@takes(SomeQuery)`: a route's query parameters, decoded before its handler runs.

Every route of the app is declared with it (tests walk the route table to check), so unknown or bad
parameters are refused the same way everywhere: 422 naming the parameter, in the route's error shape.
A WebSocket is refused at the handshake with the same answer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from orchestrator.api.responses import error_response
from orchestrator.common.query_params import Query, QueryError, parse_query

QUERY_STATUS = 422  # as for a bad body: the request is well-formed, its values are not
Refusal = Callable[[QueryError], Response]


def v1_refusal(exc: QueryError) -> Response:
    return error_response(QUERY_STATUS, exc.message, exc.field, exc.suggestions)


def takes(kind: type[Query], refuse: Refusal = v1_refusal) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """The handler is called with the connection and, if it has a second parameter, the decoded `kind`."""

    def wrap(handler: Callable[..., Awaitable[Any]]) -> Callable[[HTTPConnection], Awaitable[Any]]:
        wants = len(inspect.signature(handler).parameters) > 1

        @functools.wraps(handler)
        async def endpoint(conn: HTTPConnection) -> Any:
            try:
                params = parse_query(kind, conn.query_params.multi_items())
            except QueryError as exc:
                if isinstance(conn, WebSocket):
                    await _deny(conn, refuse(exc), exc.message)
                    return None
                return refuse(exc)
            return await (handler(conn, params) if wants else handler(conn))

        endpoint.query = kind  # type: ignore[attr-defined]  # read by the OpenAPI document and the tests
        return endpoint

    return wrap


def query_of(endpoint: Any) -> type[Query] | None:
    return getattr(endpoint, "query", None)


async def _deny(ws: WebSocket, response: Response, reason: str) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(response)
    else:  # a server without the denial extension: closing before accepting answers 403
        await ws.close(code=1008, reason=reason[:120])
