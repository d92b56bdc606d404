"""What the input-image browser tests share: test pictures, mouse strokes over the mask painter, and the
jobs a page submits as the server recorded them."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from tests.orchestrator.server_thread import wait_job
from tests.ui.conftest import set_fields


def png_file(path, width: int, height: int, seed: int = 0):
    """A PNG of random pixels (no two files alike: an upload id is the file's hash)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "PNG")
    return path


def small_job(page, prompt: str) -> None:
    page.fill("#gen-form [name=prompt]", prompt)
    set_fields(page, image_number=1, overwrite_step=2)


def submitted(server, before: set[str]) -> dict:
    """The one job submitted since `before` (ids; the page uploads first, so it may take a moment), once it
    has ended."""
    deadline = time.monotonic() + 10
    with server.client() as client:
        while True:
            jobs = client.get("/v1/jobs", params={"limit": 20}).json()["jobs"]
            new = [j for j in jobs if j["id"] not in before]
            if new or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(new) == 1, f"expected one new job, got {len(new)}"
        return wait_job(client, new[0]["id"], {"succeeded", "failed", "cancelled"})


def job_ids(server) -> set[str]:
    with server.client() as client:
        return {j["id"] for j in client.get("/v1/jobs", params={"limit": 20}).json()["jobs"]}


def upload_bytes(server, ref: dict) -> bytes:
    with server.client() as client:
        response = client.get(f"/v1/uploads/{ref['upload_id']}")
        assert response.status_code == 200
        return response.content


def distance_to_segment(width: int, height: int, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Each pixel centre's distance to the segment a–b, in pixels."""
    y, x = np.mgrid[0:height, 0:width] + 0.5
    (ax, ay), (bx, by) = a, b
    t = np.clip(((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    return np.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay)))


def drag(page, a: tuple[float, float], b: tuple[float, float], image_width: int) -> None:
    """A mouse stroke from a to b, in image pixels, over the painter (drawn scaled on screen)."""
    box = page.locator("#mask-canvas").bounding_box()
    scale = box["width"] / image_width
    page.mouse.move(box["x"] + a[0] * scale, box["y"] + a[1] * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + b[0] * scale, box["y"] + b[1] * scale, steps=12)
    page.mouse.up()
