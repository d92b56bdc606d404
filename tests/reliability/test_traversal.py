"""Traversal on every route that takes a path or a name: `..`, absolute, percent-encoded (once and
twice), backslashes, NUL, hidden files and links out of outputs/ — nothing outside is ever served or read.

Requests go out on a raw socket, so `..` reaches the server exactly as written (HTTP clients tidy it).
"""

import io
import json
import os
import socket
from urllib.parse import urlsplit

import httpx
from PIL import Image, PngImagePlugin

from bench.harness.settings import SMALL
from bench.scenarios.route_fuzz import fuzz_settings
from tests.orchestrator.server_thread import ServerThread

MARKER = b"TOPSECRET-7c1f"


def _secret_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("secret", MARKER.decode())
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte; (status, whole response)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def _evil_paths(secret_dir: str) -> list[str]:
    rel = os.path.relpath(secret_dir, "/")
    return [
        "../secret/secret.png", "../../secret/secret.png", "..%2fsecret%2fsecret.png", "..%2Fsecret%2Fsecret.png",
        "%2e%2e/%2e%2e/secret/secret.png", "%2e%2e%2f%2e%2e%2fsecret%2fsecret.png",
        "%252e%252e%252fsecret%252fsecret.png", "..%5csecret%5csecret.png", "..\\secret\\secret.png",
        f"/{rel}/secret.png", f"%2f{rel.replace('/', '%2f')}%2fsecret.png", f"//{rel}/secret.png",
        "2024-01-01/link.png", "2024-01-01/dirlink/secret.png", "2024-01-01/../../secret/secret.png",
        "2024-01-01/%2e%2e/%2e%2e/secret/secret.png", "history.db", "history.db-wal", ".thumbs",
        "2024-01-01/.hidden.png", "secret.png%00.png", "%00", ".", "..", "...", "2024-01-01/",
        "..;/secret/secret.png", "%c0%ae%c0%ae/secret/secret.png", "/etc/passwd", "%2fetc%2fpasswd",
    ]


PREFIXES = ("/outputs/", "/thumbs/", "/images/", "/ui/", "/v1/presets/", "/presets/", "/v1/history/",
            "/v1/jobs/", "/status/")
SUFFIXES = {"/v1/history/": ("", "/file", "/thumb")}
# Fields of a generation request that name something on disk, and how each carries the evil name.
NAME_FIELDS = {
    "base_model_name": lambda n: n, "refiner_model_name": lambda n: n, "vae_name": lambda n: n,
    "loras": lambda n: [[True, n, 1.0]], "style_selections": lambda n: [n], "preset": lambda n: n,
}


def test_no_route_serves_anything_outside_its_folder(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "secret.png").write_bytes(_secret_png())
    (secret / "secret.json").write_text(json.dumps({"default_prompt": MARKER.decode()}))
    (secret / "secret.safetensors").write_bytes(MARKER)
    (secret / "secret.txt").write_text(MARKER.decode() + "\n")
    settings = fuzz_settings(tmp_path)
    day = tmp_path / "outputs" / "2024-01-01"
    day.mkdir(parents=True)
    (day / "link.png").symlink_to(secret / "secret.png")
    (day / "dirlink").symlink_to(secret, target_is_directory=True)
    (day / ".hidden.png").write_bytes(_secret_png())
    with ServerThread(settings) as srv, srv.client() as client:
        client.post("/v1/jobs?id=made&wait=true", json=SMALL).raise_for_status()
        made = client.get("/v1/jobs/made").json()["images"][0]["url"]
        assert raw_get(srv.url, made)[0] == 200  # the ordinary way in works
        checked = 0
        for prefix in PREFIXES:
            for evil in _evil_paths(str(secret)):
                for suffix in SUFFIXES.get(prefix, ("",)):
                    status, raw = raw_get(srv.url, prefix + evil + suffix)
                    assert MARKER not in raw and b"root:" not in raw, (prefix, evil, suffix, raw[:300])
                    # A trailing slash is redirected to the same route without it (starlette's redirect_slashes).
                    same_route = status == 307 and f"location: http://127.0.0.1{prefix}".encode() in raw
                    assert 400 <= status < 500 or same_route, (prefix, evil, suffix, status, raw[:300])
                    checked += 1
        assert checked > 300
        for name in ("../secret/secret.safetensors", str(secret / "secret.safetensors"), "..%2fsecret",
                     "..\\secret\\secret", "models/../../secret/secret", "checkpoints/../../../secret/secret.json"):
            for field, shape in NAME_FIELDS.items():
                r = client.post("/v1/jobs", json={**SMALL, field: shape(name)})
                assert r.status_code == 422 and r.json()["error"]["field"].startswith(f"$.{field}"), (field, r.text)
                assert MARKER not in r.content
        for prompt in ("__../secret/secret__", f"__{secret}/secret__", "__secret__", "<lora:../secret/secret:1>",
                       "embedding:../secret/secret"):
            r = client.post("/v1/jobs?wait=true", json={**SMALL, "prompt": prompt})
            assert MARKER not in r.content, prompt
            if r.status_code == 200:
                assert MARKER not in httpx.get(f"{srv.url}/v1/jobs/{r.json()['id']}").content
            else:
                assert r.status_code == 422 and r.json()["error"]["field"], (prompt, r.text)
