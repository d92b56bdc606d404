# remgo — the README's two commands are `make run` and `make test`; each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

LOCK := requirements.lock
LOCK_TOOLS := build/lock-tools
PIP_TOOLS := pip-tools==7.6.2
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: setup lock run test bench lint schema clean

setup: $(STAMP)

# Installs come from $(LOCK) only: every package, the project's build tools and torch itself pinned to an
# exact version and sha256, installed with --no-deps, so no resolver runs and nothing newer can slip in
# on a later day. torch is pinned as 2.13.0+cpu (the CPU build); pip finds it in the wheel folder or
# extra index of the machine's pip configuration, e.g.
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make setup
# and no range can pull a multi-GB CUDA build. The project itself is installed last, editable, without
# build isolation (its setuptools and wheel come from the lock too). `pip check` proves the set is whole.
$(STAMP): $(LOCK) pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "$(LOCK) is for Python 3.11; set PY=python3.11")'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	touch $(STAMP)

# Refreshes $(LOCK) from pyproject.toml's ranges (all extras and the build requirements) with pip-tools'
# pip-compile: it resolves with pip itself, so it sees the same torch CPU wheel `make setup` installs and
# hashes it like any other file (uv does not read pip's configuration and would need the wheel folder
# named here). Pins already in the lock are kept; `make lock LOCK_FLAGS=--upgrade` moves every one to
# the newest release the ranges allow. Run it with Python 3.11 on Linux x86_64: the lock is exact for that platform.
# Index locations stay out of the lock: they belong to the machine, not the project.
lock:
	test -x $(LOCK_TOOLS)/bin/pip-compile || { $(PY) -m venv $(LOCK_TOOLS) && \
	  $(LOCK_TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check '$(PIP_TOOLS)'; }
	CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_TOOLS)/bin/pip-compile --quiet $(LOCK_FLAGS) \
	  --generate-hashes --allow-unsafe --strip-extras --all-build-deps --extra dev --extra cluster \
	  --no-emit-index-url --no-emit-trusted-host --no-emit-find-links \
	  --output-file $(LOCK) pyproject.toml

# No --host/--port here: `remgo serve` reads REMGO_HOST / REMGO_PORT, then remgo.toml, then its defaults
# (127.0.0.1:8888), so `REMGO_PORT=18888 make run` and `REMGO_PORT=18888 remgo serve` agree. (A make
# variable named HOST would also catch the HOST that zsh sets to the machine's name.)
run: setup
	$(BIN)/remgo serve

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
