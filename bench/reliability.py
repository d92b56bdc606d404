"""Reliability figures: the long versions of tests/reliability, on loopback, printed as one table.

  1. worker crash: kill -9 a worker at a random step of a running job (--kills, default 20)
  2. orchestrator crash: kill -9 with 50 jobs queued and one running, then at random moments of the
     drain (--orchestrator-kills, default 5); the index must match the files on disk exactly
  3. hung worker: a kernel that stops reporting, watchdog 1 s: time until the retried job is done
  4. protocol abuse: each broken worker (garbage, half / huge / endless lines, exit at start …): time
     until /v1/workers reports it failed, and whether the reason is named
  5. bad input: property-based requests to every route of the OpenAPI document (--fuzz-cases, default 5000)
  6. load: --load-jobs (1000) jobs, --subscribers (100) SSE streams, 4 status pollers in their own
     processes, --rounds (2): p50/p99 status latency (target p99 <= 50 ms), events lost, memory per round

    python bench/reliability.py [--quick]        (--quick: small counts, about a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness.in_process import poll, running  # noqa: E402
from bench.harness.settings import SMALL, kernel_spec, server_settings  # noqa: E402
from bench.scenarios.crash import kill_orchestrator_with_queue, kill_workers_mid_step  # noqa: E402
from bench.scenarios.load import measure_load  # noqa: E402
from bench.scenarios.protocol import SLOW_START_FAILURES, START_FAILURES, failed_start  # noqa: E402
from bench.scenarios.route_fuzz import fuzz_target, run_cases  # noqa: E402

STATUS_P99_TARGET_MS = 50.0
ROWS: list[tuple[str, str, str, str]] = []


def row(scenario: str, measure: str, value: object, verdict: str = "") -> None:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    ROWS.append((scenario, measure, text, verdict))
    print(f"  {scenario:<14} {measure:<44} {text:>12}  {verdict}", flush=True)


def ok(good: bool) -> str:
    """A promise (nothing lost, no 5xx …): a FAIL makes the script exit 1."""
    return "ok" if good else "FAIL"


def target(good: bool) -> str:
    """A speed or memory target: reported, never an exit status (timings depend on the machine)."""
    return "ok" if good else "over target"


def worker_crash(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        f = kill_workers_mid_step(Path(tmp), kills=kills)
    row("worker crash", "kill -9 at a random step", f["kills"])
    row("worker crash", "jobs succeeded / failed with a reason", f"{f['succeeded']}/{f['failed']}",
        ok(f["succeeded"] + f["failed"] - f["failed_without_reason"] == f["jobs"]))
    row("worker crash", "worker back in /v1/workers, median s", f["respawn_median_s"] or float("nan"))
    row("worker crash", "worker back in /v1/workers, max s (target < 5)", f["respawn_max_s"] or float("nan"),
        target((f["respawn_max_s"] or 99) < 5))
    row("worker crash", "workers that never came back", f["not_back"],
        ok(f["not_back"] == 0))
    row("worker crash", "orphan files / index mismatches", len(f["problems"]), ok(not f["problems"]))


def orchestrator_crash(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        f = kill_orchestrator_with_queue(Path(tmp), queued=50, kills=kills)
    row("orch. crash", "kill -9 (first with 50 queued, 1 running)", f["kills"], ok(f["queued_at_kill"] == 50))
    row("orch. crash", "jobs succeeded after restarts", f"{f['succeeded']}/{f['jobs']}", ok(f["other"] == 0))
    row("orch. crash", "drain after the last restart, s", f["drain_s"])
    row("orch. crash", "files on disk / rows in the index", f"{f['files']}/{f['indexed']}",
        ok(f["files"] == f["indexed"] and not f["problems"]))


async def hung_worker() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "marks").mkdir()
        base = server_settings(tmp_path, watchdog_seconds=1.0, preview_enabled=False)
        fields = {f: getattr(base, f) for f in base.__struct_fields__}
        settings = type(base)(**{**fields, "worker_kernel": kernel_spec("HangOnceKernel"),
                                 "worker_env": {**base.worker_env, "REMGO_TEST_MARK_DIR": str(tmp_path / "marks")}})
        async with running(settings) as srv:
            began = time.monotonic()
            await srv.client.post("/v1/jobs?id=hung", json={**SMALL, "overwrite_step": 4})
            job = await poll(srv.client, "hung", "succeeded", timeout=60)
            seconds = time.monotonic() - began
    row("hung worker", "watchdog 1 s: hang → killed → retried → done, s", seconds, ok(len(job["images"]) == 1))


async def protocol_abuse() -> None:
    expected = {**START_FAILURES, **SLOW_START_FAILURES}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, words in expected.items():
            found = await failed_start(Path(tmp) / mode, mode, timeout=60)
            named = found["worker"]["state"] == "failed" and words in (found["worker"]["error"] or "")
            good = named and found["health"] == 200 and found["job_status"] == "queued"
            row("protocol", f"{mode}: reported failed, s", found["reported_s"], ok(good))


def fuzz(cases: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, fuzz_target(Path(tmp)) as (client, ops, components, known):
        began = time.monotonic()
        f = run_cases(client, ops, components, known, cases=cases, rng_seed=int(time.time()))
        seconds = time.monotonic() - began
    server_errors = sum(n for s, n in f["statuses"].items() if s >= 500)
    row("bad input", f"cases over {len(ops)} operations", f["cases"])
    row("bad input", "answers by status", " ".join(f"{s}:{n}" for s, n in f["statuses"].items()))
    row("bad input", "5xx answers", server_errors, ok(server_errors == 0))
    unnamed = len(f["problems"]) - server_errors
    row("bad input", "4xx without a JSON error naming the field", unnamed, ok(unnamed == 0))
    row("bad input", "cases per second", f["cases"] / seconds)
    for call, problem in f["problems"][:5]:
        print(f"    {call.method} {call.path} {call.query} {call.body!r:.120}: {problem}")


def load(jobs: int, subscribers: int, rounds: int) -> None:
    all_subscribers = max(1, subscribers // 10)
    with tempfile.TemporaryDirectory() as tmp:
        f = measure_load(Path(tmp), jobs=jobs, job_subscribers=subscribers - all_subscribers,
                         all_subscribers=all_subscribers, pollers=4, rounds=rounds, step_delay=0.05)
    for n, r in enumerate(f["rounds"]):
        row("load", f"round {n}: jobs / subscribers / peak queue", f"{r['jobs']}/{r['subscribers']}/{r['peak_queue']}")
        row("load", f"round {n}: status polls", r["status_polls"])
        row("load", f"round {n}: status p50 ms", r["status_p50_ms"])
        row("load", f"round {n}: status p99 ms (target <= {STATUS_P99_TARGET_MS:g})", r["status_p99_ms"],
            target(r["status_p99_ms"] <= STATUS_P99_TARGET_MS))
        row("load", f"round {n}: events per all-jobs subscriber", r["events_per_all_subscriber"])
        row("load", f"round {n}: events lost / misdelivered / doubled", len(r["problems"]), ok(not r["problems"]))
        for problem in r["problems"][:3]:
            print(f"    {problem}")
    rss = f["rss_mb"]
    row("load", "orchestrator RSS MB: warm, after each round", " ".join(f"{m:.1f}" for m in rss))
    row("load", "RSS growth of the last round / first round, MB",
        f"{rss[-1] - rss[-2]:.1f} / {rss[1] - rss[0]:.1f}", target(rss[-1] - rss[-2] <= max(5.0, rss[1] - rss[0])))
    row("load", "subscriptions left open / events lost (metrics)",
        f"{f['subscribers_left']:g}/{f['events_lost']:g}", ok(f["subscribers_left"] == 0 and f["events_lost"] == 0))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small counts (about a minute)")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--orchestrator-kills", type=int, default=5)
    p.add_argument("--fuzz-cases", type=int, default=5000)
    p.add_argument("--load-jobs", type=int, default=1000)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    if args.quick:
        args.kills, args.orchestrator_kills, args.fuzz_cases = 3, 2, 300
        args.load_jobs, args.subscribers = 150, 20
    logging.disable(logging.CRITICAL)  # the scenarios provoke failures on purpose; the table says what matters
    print(f"  {'scenario':<14} {'measure':<44} {'value':>12}  verdict")
    worker_crash(args.kills)
    orchestrator_crash(args.orchestrator_kills)
    asyncio.run(hung_worker())
    asyncio.run(protocol_abuse())
    fuzz(args.fuzz_cases)
    load(args.load_jobs, args.subscribers, args.rounds)
    failed = [r for r in ROWS if r[3] == "FAIL"]
    print(f"\n{len(ROWS)} figures, {len(failed)} outside their promise")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
