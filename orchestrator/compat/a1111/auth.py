"""Who may call `/sdapi/…`: A1111's `--api-auth` (HTTP Basic, `a1111_api_auth = ["user:pass"]`) and remgo's
API keys (`Authorization: Bearer <key>`), either one. With neither configured the routes are open, as
A1111's are without `--api-auth`. app.py lets these paths past its own key check: this one covers them.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.responses import json_response

PREFIX = "/sdapi/"


class A1111Auth:
    def __init__(self, app: ASGIApp, *, credentials: list[str], api_keys: list[str]) -> None:
        self.app = app
        self.credentials = [c.encode() for c in credentials]
        self.keys = [k.encode() for k in api_keys]

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name != b"authorization":
                continue
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            if scheme.lower() == b"basic" and self.credentials:
                try:
                    pair = base64.b64decode(token, validate=True)
                except (binascii.Error, ValueError):
                    return False
                return any(hmac.compare_digest(pair, c) for c in self.credentials)
            if scheme.lower() == b"bearer" and self.keys:
                return any(hmac.compare_digest(token, k) for k in self.keys)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] == "http" and scope["path"].startswith(PREFIX) and (self.credentials or self.keys)
        if not guarded or scope.get("method") == "OPTIONS" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        challenge = "Basic" if self.credentials else "Bearer"
        response = json_response({"detail": "Incorrect username or password", "error": "a valid login is "
                                  "required: HTTP Basic (a1111_api_auth) or Authorization: Bearer <API key>",
                                  "field": "Authorization"}, 401, {"WWW-Authenticate": challenge})
        await response(scope, receive, send)
