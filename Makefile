# The README's commands. Everything a command needs, it installs itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall when the dependency list changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck unit peers bench clean

run: $(STAMP)
	$(BIN)/lemur serve

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

peers:
	scripts/install-peers.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# One worker more than cores: many tests wait on a server or a subprocess, not the CPU.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: $(TEST_STAMP) peers lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider --durations=25

# Benchmarks (not part of `make test`): make bench BENCH_ARGS="--quick" or e.g.
# BENCH_ARGS="--sizes 100000,1000000 --duration 30". See bench/README.md.
BENCH_ARGS ?=
bench: $(STAMP)
	command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; }
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) lemur-data .mypy_cache .ruff_cache
