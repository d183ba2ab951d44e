# relscore: every step a newcomer needs is behind `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup demo test lint unit integration stack-up stack-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## The demo: local Kafka + Redis, a worker, scripted customers, a readable summary.
demo: setup
	$(BIN)/relscore demo

## The whole test suite: lint, types, unit, property and integration tests on the real stack.
test: setup lint
	$(BIN)/python -m pytest -q tests

lint: setup
	$(BIN)/ruff check scorers streams tests
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q tests/unit

integration: setup
	$(BIN)/python -m pytest -q tests/integration

stack-up: setup
	$(BIN)/relscore stack up

stack-down: setup
	$(BIN)/relscore stack down

clean:
	-$(BIN)/relscore stack down --wipe
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache .hypothesis
