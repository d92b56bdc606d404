"""Scripts that print measured figures (`make bench` runs each `bench/[!_]*.py`), and the harness and
scenarios they share with the tests. Nothing here imports `tests/` (an import-linter contract)."""
