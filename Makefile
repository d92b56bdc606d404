# remgo — the README's two commands are `make run` and `make test`; each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8888
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup run test bench lint schema clean

setup: $(STAMP)

# torch first and alone, pinned, so no range pulls a multi-GB CUDA build; then the project, its test
# tools and the Ray backend (so its cluster tests run too).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,cluster]'
	touch $(STAMP)

run: setup
	$(BIN)/remgo serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	@for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: setup
	$(BIN)/ruff check .

schema: setup
	$(BIN)/python -m contract.schema docs/contract.schema.json

clean:
	rm -rf $(VENV)
