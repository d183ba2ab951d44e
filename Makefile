# relscore: every step a newcomer needs is behind `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# The package's docstring examples run with the tests (pytest --doctest-modules).
DOCTESTS = --doctest-modules scorers streams
# scorers/ compiled with mypyc; the pure-Python package stays the reference.
COMPILED = .compiled

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint unit integration compiled wheel stack-up stack-down clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP) ## the virtualenv with relscore and its dev tools (.venv)

demo: setup ## local Kafka + Redis, a worker, simulated customers, a readable summary
	$(BIN)/relscore demo

test: setup lint compiled ## the whole suite: lint, types, doctests, unit, property, integration, fault; the offline tests again on the compiled build
	$(BIN)/python -m pytest -q $(DOCTESTS) tests
	RELSCORE_TEST_COMPILED=1 $(BIN)/python -m pytest -q -m "not pure_only" tests/unit

lint: setup ## ruff and mypy (strict)
	$(BIN)/ruff check scorers streams tests bench
	$(BIN)/mypy

unit: setup compiled ## the offline tests alone (no Kafka, no Redis): doctests and tests/unit, then tests/unit on the compiled build
	$(BIN)/python -m pytest -q $(DOCTESTS) tests/unit
	RELSCORE_TEST_COMPILED=1 $(BIN)/python -m pytest -q -m "not pure_only" tests/unit

$(COMPILED)/.built: $(STAMP) $(wildcard scorers/*.py) scorers/default.toml
	rm -rf $(COMPILED)
	mkdir -p $(COMPILED)
	cp -r scorers $(COMPILED)/scorers
	cd $(COMPILED) && ../$(BIN)/mypyc scorers > mypyc.log 2>&1 || { cat mypyc.log; exit 1; }
	touch $@

compiled: $(COMPILED)/.built ## scorers/ compiled with mypyc into .compiled/ (PYTHONPATH=.compiled runs on it)

integration: setup ## the tests on the real local stack (tests/integration)
	$(BIN)/python -m pytest -q tests/integration

wheel: setup ## build the wheel into dist/ (what the Docker image installs)
	rm -rf build
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

stack-up: setup ## start the local Kafka and Redis (relscore stack up)
	$(BIN)/relscore stack up

stack-down: setup ## stop them (relscore stack down)
	$(BIN)/relscore stack down

clean: ## stop the stack, delete its data, the venv and the caches
	-$(BIN)/relscore stack down --wipe
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist $(COMPILED)
