"""Load: many queued jobs, SSE subscribers on single jobs and on all jobs, status pollers, two rounds.

No event may be lost, doubled or delivered to the wrong stream, and nothing may be left subscribed or
growing afterwards. Latency figures are printed, not asserted (bench/reliability.py runs 1,000 jobs
and 100 subscribers and compares p99 with its target).
"""

from bench.scenarios.load import measure_load


def test_jobs_subscribers_and_pollers_together(tmp_path) -> None:
    figures = measure_load(tmp_path, jobs=150, job_subscribers=15, all_subscribers=5, pollers=2, rounds=2)
    for result in figures["rounds"]:
        assert result["problems"] == []
        assert result["succeeded"] == result["jobs"] and result["status_polls"] > 0
        print({k: v for k, v in result.items() if k != "problems"})
    assert figures["events_lost"] == 0
    assert figures["subscribers_left"] == 0  # every stream that ended unsubscribed
    first, *_, last = figures["rss_mb"]
    assert last - figures["rss_mb"][1] < 25, figures["rss_mb"]  # no growth per round beyond caches
