"""Request-path figures: `POST /v1/jobs` submit latency while the disk is busy, against a real `remgo serve`.

Submissions go in batches of 10, loaded batches then as many idle ones, so whatever else the machine does
falls on both alike. The measured jobs never run while measured: they wait behind a job that keeps the
worker busy without a sound (or behind the load's job), so a window holds the submits and the load only.
Two loads, each through its own run of batches:
  - hashing: a 2 GiB checkpoint (a sparse file: no disk used, yet sha256 reads every byte) is added and
    the catalog rescanned; the batch's jobs name that very checkpoint. A batch counts only if
    `GET /v1/catalog` shows the file being hashed before and after it (one unbroken pass). Idle batches
    wait for the pass to end; the next loaded batch starts another (a new mtime makes the file new).
  - saving: an 8-image job of 1536×1536 noise JPEGs (about 2.5 MB each, written and fsynced) runs ahead of
    the batches (priority 50). They start once its first image is saved and go on until the seventh is;
    they count only if the job is still running after them (images were being made and saved all along).
    Idle batches, as many, wait for the job to end.
The workers run `NoiseKernel` (below) at nice 19, every thread and its session's scheduling group: their
image encoding stands in for a GPU's work and must not take the orchestrator's CPU on a small machine. The
images come beside the frame (the worker contract's attachments). Printed: p50 and p99 per condition (idle
pools the idle batches of both runs) and the ratio loaded / idle (target ≤ 1.5); how far hashing went during
the loaded batches (it gives way to requests: orchestrator/common/foreground.py); for scale, the time to
sha256 the 2 GiB file, which the first job naming it used to wait for. p99 of a few hundred submissions on a
shared 2-core machine moves from run to run: compare runs, not one figure.

    python bench/request_path.py [--submissions 500] [--big-gib 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

try:
    from _server import BenchKernel, Server  # run as a script: bench/ is on sys.path
except ImportError:  # loaded by a worker as its kernel file, with the repository on PYTHONPATH
    from bench._server import BenchKernel, Server

REPO = Path(__file__).resolve().parents[1]
BIG = "big.safetensors"
SMALL = "bench.safetensors"
BATCH = 10
HEAVY_SIDE = 1536
HEAVY_IMAGES = 8
HOLD = "hold while this file exists: "


class NoiseKernel(BenchKernel):
    """A kernel for timing only: random noise, so a JPEG file is as large as the pixels allow (1536×1536:
    about 2.5 MB, a real SDXL PNG's size), made in a few ms so that saves come fast."""

    name = "noise"

    def __init__(self, options) -> None:
        self.noise = os.urandom(HEAVY_SIDE * HEAVY_SIDE * 3)

    def generate_image(self, task, index, seed, steps):
        from PIL import Image

        if task.positive and task.positive[0].startswith(HOLD):  # keep the worker busy, and quiet
            while os.path.exists(task.positive[0][len(HOLD):]):
                time.sleep(0.005)
        for step in range(1, task.steps + 1):
            steps.step(step, task.steps)
        size = task.width * task.height * 3
        start = seed % (len(self.noise) - size + 1)
        return Image.frombytes("RGB", (task.width, task.height), self.noise[start:start + size])



def body(seed: int, model: str = SMALL, side: int = 256, images: int = 1) -> dict:
    return {"prompt": "bench", "base_model_name": model, "image_number": images, "image_seed": seed,
            "overwrite_width": side, "overwrite_height": side, "overwrite_step": 1, "style_selections": [],
            "loras": [], "output_format": "jpeg"}


class Load:
    """A load the batches alternate with: `start()` puts it on, `enough()` says whether the batches sent
    since have met it (another batch follows if not), `held()` whether it lasted through them, `stop()`
    waits until it is off. `busy_worker`: the load itself keeps the worker busy."""

    busy_worker = False

    def start(self) -> None: ...

    def enough(self) -> bool:
        return True

    def held(self) -> bool: ...

    def stop(self) -> None: ...


class Bench:
    """Measured jobs never run while they are measured: they queue behind a job that holds the worker
    without a sound (or behind the load's own job), so a window's only work is the submits and the load."""

    def __init__(self, server: Server, client, workdir: Path) -> None:
        self.server = server
        self.client = client
        self.flag = workdir / "hold"
        self.seed = 0

    def hold(self) -> None:
        self.flag.touch()
        self.seed += 1
        _, job_id = self.submit({**body(self.seed), "prompt": f"{HOLD}{self.flag}"}, "?priority=100")
        while self.get(f"/v1/jobs/{job_id}")["status"] != "running":
            time.sleep(0.005)

    def release(self) -> None:
        self.flag.unlink()
        self.drain()

    def get(self, path: str) -> dict:
        r = self.client.get(f"{self.server.url}{path}")
        r.raise_for_status()
        return r.json()

    def submit(self, payload: dict, query: str = "") -> tuple[float, str]:
        began = time.perf_counter()
        r = self.client.post(f"{self.server.url}/v1/jobs{query}", json=payload)
        elapsed = time.perf_counter() - began
        if r.status_code != 202:
            raise RuntimeError(f"submit answered {r.status_code}: {r.text[:300]}")
        return elapsed * 1000, r.json()["id"]

    def batch(self, model: str = SMALL) -> tuple[list[float], str]:
        times, job_id = [], ""
        for _ in range(BATCH):
            self.seed += 1
            ms, job_id = self.submit(body(self.seed, model))
            times.append(ms)
        return times, job_id

    def alternate(self, n: int, load: Load, model: str) -> tuple[list[float], list[float], str]:
        """`n` latencies (ms) under the load and as many idle ones, batch by batch; the last loaded job's id."""
        loaded: list[float] = []
        idle: list[float] = []
        last = ""
        while len(loaded) < n:
            if not load.busy_worker:
                self.hold()
            load.start()
            times, job_id = self.batch(model)
            while not load.enough():
                more, job_id = self.batch(model)
                times += more
            if load.held():
                loaded += times
                last = job_id
            load.stop()
            if load.busy_worker:
                self.drain()
                self.hold()
            for _ in range(len(times) // BATCH):
                idle += self.batch()[0]
            self.release()
        return loaded[:n], idle[:n], last

    def drain(self) -> None:
        while self.get("/health")["queue_depth"] or self.get("/v1/jobs?status=running")["jobs"]:
            time.sleep(0.05)


class Hashing(Load):
    def __init__(self, bench: Bench, big: Path) -> None:
        self.bench, self.big = bench, big
        self.passes = 0
        self.read_from = 0
        self.began = 0.0
        self.moved = 0  # bytes hashed while loaded batches were sent, and how long they took
        self.moved_s = 0.0

    def progress(self) -> dict:
        return self.bench.get("/v1/catalog")["hashing"]

    def current(self) -> str | None:
        return self.progress()["current"]

    def start(self) -> None:
        st = self.big.stat()  # a new mtime makes the file new to the hash cache: it is read again
        os.utime(self.big, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        self.bench.client.post(f"{self.bench.server.url}/v1/catalog/rescan").raise_for_status()
        self.passes += 1
        while (found := self.progress())["current"] != BIG:
            time.sleep(0.005)
        self.read_from, self.began = found["current_bytes"], time.perf_counter()

    def held(self) -> bool:
        found = self.progress()
        if found["current"] != BIG:  # nothing but start() begins another pass
            return False
        self.moved += found["current_bytes"] - self.read_from
        self.moved_s += time.perf_counter() - self.began
        return True

    def stop(self) -> None:
        while self.current() is not None:
            time.sleep(0.01)


class Saving(Load):
    busy_worker = True

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.job_id = ""
        self.saved_before = 0
        self.saved_during = 0

    def job(self) -> tuple[str, int]:
        job = self.bench.get(f"/v1/jobs/{self.job_id}")
        return job["status"], sum(i["status"] == "done" for i in job["images"])

    def start(self) -> None:
        self.bench.seed += 1
        _, self.job_id = self.bench.submit(body(self.bench.seed, SMALL, HEAVY_SIDE, HEAVY_IMAGES), "?priority=50")
        while (found := self.job())[0] in ("queued", "running") and found[1] == 0:  # its first image saved
            time.sleep(0.005)
        self.saved_before = found[1]

    def enough(self) -> bool:
        status, saved = self.job()
        return status != "running" or saved >= HEAVY_IMAGES - 1  # the last image is being made

    def held(self) -> bool:
        status, saved = self.job()
        if status != "running":
            return False
        self.saved_during += saved - self.saved_before
        return True

    def stop(self) -> None:
        while self.job()[0] in ("queued", "running"):
            time.sleep(0.01)


def percentiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=100, method="inclusive")[98]


def run(workdir: Path, submissions: int, big_gib: float) -> dict:
    import httpx

    server = Server(workdir, f"{Path(__file__).resolve()}:NoiseKernel", run_dir=workdir)
    big = server.catalog / "models" / "checkpoints" / BIG
    try:
        with httpx.Client(timeout=120) as client:
            server.wait_ready(client, nice_workers=True)
            bench = Bench(server, client, workdir)
            for _ in range(3):  # warm-up: imports, caches, the first normalizations
                bench.batch()
            bench.drain()
            with open(big, "wb") as fh:
                fh.truncate(int(big_gib * 2**30))
            hashing = Hashing(bench, big)
            hashed, idle_a, during = bench.alternate(submissions, hashing, BIG)
            made_during = bench.get(f"/v1/jobs/{during}")["normalized"]["images"][0]
            bench.drain()
            saving = Saving(bench)
            saved, idle_b, _ = bench.alternate(submissions, saving, SMALL)
            heavy = bench.get(f"/v1/jobs/{saving.job_id}")["images"][0]
    finally:
        server.stop()
    began = time.perf_counter()
    with open(big, "rb") as fh:
        digest = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return {"idle": idle_a + idle_b, "hashing": hashed, "saving": saved, "passes": hashing.passes,
            "hash_s": time.perf_counter() - began, "made_during": made_during,
            "moved_mib_s": hashing.moved / 2**20 / hashing.moved_s if hashing.moved_s else 0.0,
            "saved_during": saving.saved_during, "heavy": heavy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=500, help="measured submissions per load")
    parser.add_argument("--big-gib", type=float, default=2.0, help="size of the checkpoint being hashed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remgo-bench-") as tmp:
        found = run(Path(tmp), args.submissions, args.big_gib)
    idle50, idle99 = percentiles(found["idle"])
    rows = [(f"idle ({len(found['idle'])} submissions)", idle50, idle99),
            (f"while a {args.big_gib:g} GiB checkpoint is hashed", *percentiles(found["hashing"])),
            (f"while {HEAVY_IMAGES}-image jobs are saved", *percentiles(found["saving"]))]
    width = max(len(r[0]) for r in rows)
    print(f"POST /v1/jobs submit latency (ms), {args.submissions} submissions under each load")
    print(f"{'condition':<{width}}  {'p50':>7}  {'p99':>7}  {'p50/idle':>8}  {'p99/idle':>8}  both ≤ 1.5")
    for i, (name, p50, p99) in enumerate(rows):
        r50, r99 = p50 / idle50, p99 / idle99
        met = "" if i == 0 else ("yes" if max(r50, r99) <= 1.5 else "NO")
        print(f"{name:<{width}}  {p50:7.2f}  {p99:7.2f}  {r50:8.2f}  {r99:8.2f}  {met}")
    heavy = found["heavy"]
    print(f"  {found['passes']} hashing passes; jobs made during one carry base_model_hash = "
          f"{found['made_during']['base_model_hash']!r} (metadata: unknown)")
    print(f"  {found['saved_during']} image(s) ({heavy['width']}×{heavy['height']} noise JPEGs) saved during the "
          "loaded batches")
    print(f"  for scale: sha256 of the {args.big_gib:g} GiB file here takes {found['hash_s']:.2f} s "
          f"({args.big_gib * 1024 / found['hash_s']:.0f} MiB/s), which the first job naming it used to wait for; "
          f"during the loaded batches hashing went on at {found['moved_mib_s']:.0f} MiB/s, giving way to them")


if __name__ == "__main__":
    main()
