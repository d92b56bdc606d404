"""Input images given as http(s) URLs (Fooocus-API fetches any URL it is sent): fetched here only from the
hosts of the `fooocus_api_url_hosts` setting (empty by default), and never from this machine or a private
network (the webhooks' SSRF rule, jobs/webhooks.url_problem, resolved just before the fetch). No redirects
are followed, and the file is read up to the input size limit, then checked as every input image is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool

from contract.image_input import MAX_INPUT_BYTES
from orchestrator.compat.fooocus_api.errors import Refused
from orchestrator.jobs.webhooks import url_problem
from orchestrator.store.input_checks import InputRefused
from orchestrator.store.inputs import InputStore

TIMEOUT = 20.0  # Fooocus-API's own
HINT = "add its host to the fooocus_api_url_hosts setting to fetch it, or send the file itself (base64)"
Check = Callable[[str, bool], Awaitable[str | None]]


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value[:8].lower().startswith(("http://", "https://"))


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == a.lower() or (a.startswith("*.") and host.endswith(a[1:].lower())) for a in allowed)


async def fetch(url: str, field: str, allowed: list[str], *, check: Check = url_problem,
                transport: httpx.AsyncBaseTransport | None = None) -> bytes:
    """The file at `url`; Refused naming `field` when the URL may not be fetched or gives no image file."""
    host = urlsplit(url).hostname or ""
    if not host_allowed(host, allowed):
        raise Refused(field, f"image URLs are not fetched from {host or 'this URL'!r}; {HINT}")
    problem = await check(url, False)
    if problem is not None:
        raise Refused(field, f"the image URL is not fetched: {problem}")
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport, follow_redirects=False) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise Refused(field, f"fetching the image URL answered HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_INPUT_BYTES:
                        raise Refused(field, f"the image at the URL is larger than {MAX_INPUT_BYTES} bytes")
                return bytes(data)
    except httpx.HTTPError as exc:
        raise Refused(field, f"the image URL could not be fetched: {type(exc).__name__}: {exc}") from None


async def replace_urls(document: dict[str, Any], fields: tuple[str, ...], allowed: list[str], store: InputStore,
                       **options: Any) -> bool:
    """Each URL in `fields` of the document fetched, stored and named by `{"upload_id"}`; whether any was."""
    replaced = False
    for name in fields:
        url = document.get(name)
        if not is_url(url):
            continue
        data = await fetch(url, f"$.{name}", allowed, **options)
        try:
            found = await run_in_threadpool(store.put, data, f"$.{name}")
        except InputRefused as exc:
            raise Refused(exc.field, exc.message) from None
        document[name] = {"upload_id": found.sha256}
        replaced = True
    return replaced


async def replace_prompt_urls(document: dict[str, Any], allowed: list[str], store: InputStore, **options: Any) -> bool:
    """The same for each image prompt's `cn_img` (`image_prompts[i].cn_img`); whether any was."""
    replaced = False
    prompts = document.get("image_prompts")
    for i, prompt in enumerate(prompts if isinstance(prompts, list) else []):
        url = prompt.get("cn_img") if isinstance(prompt, dict) else None
        if not is_url(url):
            continue
        field = f"$.image_prompts[{i}].cn_img"
        data = await fetch(url, field, allowed, **options)
        try:
            found = await run_in_threadpool(store.put, data, field)
        except InputRefused as exc:
            raise Refused(exc.field, exc.message) from None
        prompt["cn_img"] = {"upload_id": found.sha256}
        replaced = True
    return replaced
