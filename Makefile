# The documented entry points: `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
PYTEST_ARGS ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test lint format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "shipyard needs Python 3.11 or newer; '$(PYTHON)' is older (set PYTHON=python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed

## demo: set up .venv and run the whole lifecycle on the embedded defaults
demo: $(VENV)/.installed
	$(BIN)/shipyard demo $(DEMO_ARGS)

## lint: ruff (lint and format), the import layers, mypy
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

## test: lint, then the whole test suite
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
