"""A small synchronous client of the public /v1 API, for the `remgo` commands and for scripts.

    client = RemgoClient("http://127.0.0.1:8888", api_key=None)
    job = client.submit({"prompt": "a red fox in snow", "image_number": 2})
    for kind, event in client.events(job["id"]): ...

Every failure is a `ClientError`: `ServerUnreachable` when nothing answers at the URL, `ApiError` when the
server refuses (its status, message, the field it names and its suggestions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8888"


class ClientError(Exception):
    pass


class ServerUnreachable(ClientError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no remgo server answers at {url} ({reason}); start one with `remgo serve` "
                         "(or `make run`), or point --server at a running one")
        self.url = url


class ApiError(ClientError):
    def __init__(self, status: int, message: str, field: str | None = None,
                 suggestions: list[str] | None = None) -> None:
        self.status = status
        self.message = message
        self.field = field
        self.suggestions = suggestions or []
        where = f"{field}: " if field else ""
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"the server refused ({status}): {where}{message}{hint}")


def _error(response: httpx.Response) -> ApiError:
    try:
        detail = response.json().get("error") or {}
    except (ValueError, AttributeError):
        detail = {}
    message = detail.get("message") or response.text.strip()[:300] or response.reason_phrase
    return ApiError(response.status_code, message, detail.get("field"), detail.get("suggestions"))


class RemgoClient:
    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemgoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(self.base_url, str(exc) or type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"{method} {self.base_url}{path} failed: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    # ----- service -------------------------------------------------------------------------------

    def health(self) -> dict:
        return self._json("GET", "/health")

    # ----- jobs ----------------------------------------------------------------------------------

    def submit(self, request: Mapping[str, Any], *, job_id: str | None = None, priority: int | None = None) -> dict:
        params = {k: v for k, v in (("id", job_id), ("priority", priority)) if v is not None}
        return self._json("POST", "/v1/jobs", json=dict(request), params=params)

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> dict:
        params = {k: v for k, v in (("status", status), ("limit", limit), ("cursor", cursor)) if v is not None}
        return self._json("GET", "/v1/jobs", params=params)

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    def skip(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{job_id}/skip")

    def events(self, job_id: str) -> Iterator[tuple[str, dict]]:
        """The job's events (type, data) from its SSE stream: its state now, then each one until it ends."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)  # keepalives come every 15 s
        try:
            with self._http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                kind, data = "message", []
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        yield kind, json.loads("\n".join(data))
                        kind, data = "message", []
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ServerUnreachable(self.base_url, str(exc)) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"the event stream of job {job_id} broke: {exc}") from None

    def download(self, url: str) -> bytes:
        """A file the server names by URL (an image's `url`), as bytes."""
        return self._send("GET", url).content

    # ----- catalog and history -------------------------------------------------------------------

    def catalog(self) -> dict:
        return self._json("GET", "/v1/catalog")

    def models(self, kind: str = "checkpoints") -> dict:
        return self._json("GET", "/v1/models", params={"kind": kind})

    def styles(self) -> list[dict]:
        return self._json("GET", "/v1/styles")

    def rescan(self) -> dict:
        """Have the server read its catalog folders again (new models, styles, presets)."""
        return self._json("POST", "/v1/catalog/rescan")

    def history(self, **filters: Any) -> dict:
        """One page of history; filters: q, model, since, until, starred, limit, cursor."""
        params = {k: ("true" if v is True else v) for k, v in filters.items() if v is not None and v is not False}
        return self._json("GET", "/v1/history", params=params)
