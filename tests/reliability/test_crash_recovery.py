"""kill -9 a worker at random steps, and the orchestrator with 50 jobs queued: nothing is lost."""

from tests.reliability.crash_scenarios import kill_orchestrator_with_queue, kill_workers_mid_step


def test_workers_killed_at_random_steps(tmp_path) -> None:
    figures = kill_workers_mid_step(tmp_path, kills=3)
    assert figures["problems"] == []
    assert figures["kills"] >= 2, figures
    # One kill per job is within the retry budget: every job ends succeeded, with both images.
    assert figures["succeeded"] == figures["jobs"], figures["jobs_detail"]
    assert all(len(j["images"]) == 2 for j in figures["jobs_detail"].values())
    assert figures["not_back"] == 0 and figures["respawn_max_s"] < 10
    assert figures["retries"] >= figures["kills"]


def test_orchestrator_killed_with_fifty_queued(tmp_path) -> None:
    figures = kill_orchestrator_with_queue(tmp_path, queued=50)
    assert figures["queued_at_kill"] == 50
    assert figures["problems"] == [], figures["problems"]
    assert figures["succeeded"] == 51, {k: v["status"] for k, v in figures["jobs_detail"].items()}
    assert figures["resumed_attempts"] == 2  # the running job went back to the queue and ran again
    assert all(len(j["images"]) == 1 for j in figures["jobs_detail"].values())
