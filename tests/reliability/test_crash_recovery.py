"""kill -9 a worker at random steps, and the orchestrator with 50 jobs queued: nothing is lost."""

import time

from bench.harness.orchestrator_process import OrchestratorProcess
from bench.harness.settings import SMALL, server_settings
from bench.harness.worker_kernels import HOLD
from bench.scenarios.crash import kill_orchestrator_with_queue, kill_workers_mid_step


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


def test_a_job_running_at_three_crashes_fails_instead_of_looping(tmp_path) -> None:
    """A job that is running each time the server dies (as if it made the server die) resumes twice, then
    fails with the reason on the third restart; the job queued behind it then runs."""
    settings = server_settings(tmp_path, step_delay=0.02)
    orch = OrchestratorProcess(settings, tmp_path).start()
    try:
        crashy = orch.client.post("/v1/jobs?id=crashy", json={**SMALL, "prompt": f"until it dies {HOLD}",
                                                              "overwrite_step": 20}).json()["id"]
        after = orch.client.post("/v1/jobs?id=after", json=SMALL).json()["id"]
        for crash in range(3):
            deadline = time.monotonic() + 60
            while orch.client.get(f"/v1/jobs/{crashy}").json()["status"] != "running":
                assert time.monotonic() < deadline, f"crash {crash}: the job never ran again"
                time.sleep(0.05)
            orch.kill9()
            orch.reap_workers()
            orch.start()
        job = orch.client.get(f"/v1/jobs/{crashy}").json()
        assert job["status"] == "failed" and job["error"]["message"].startswith("failed on 3 restarts"), job
        deadline = time.monotonic() + 60
        while orch.client.get(f"/v1/jobs/{after}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the next job did not run"
            time.sleep(0.05)
    finally:
        orch.close()
