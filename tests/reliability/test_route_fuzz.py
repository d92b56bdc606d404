"""Property-based fuzzing of every route in the OpenAPI document: zero 5xx, every 4xx a JSON error,
every 400/413/422 naming the field. (bench/reliability.py runs the same with thousands of cases.)"""

import os

from hypothesis import HealthCheck, given, settings

from bench.scenarios.route_fuzz import calls, fuzz_target, problem, send

EXAMPLES = int(os.environ.get("REMGO_FUZZ_EXAMPLES", "1000"))


def test_no_route_answers_5xx_or_an_unnamed_4xx(tmp_path) -> None:
    with fuzz_target(tmp_path) as (client, ops, components, known):
        assert len(ops) >= 40  # every route of the app is in the document

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(calls(ops, components, known))
        def check(call) -> None:
            status, kind, body = send(client, call)
            assert problem(status, kind, body) is None, (call, problem(status, kind, body))

        check()
        assert client.get("/health").status_code == 200
