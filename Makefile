# The documented entry points: `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
PYTEST_ARGS ?=
# two test processes, one per core, each file's tests together (its fixtures set up once)
PYTEST_JOBS ?= -n 2 --dist loadfile
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

BENCH_VENV := .bench-venv
SERVE_VENV := .bench-serve-venv
DRIFT_VENV := .bench-drift-venv
NANNYML_VENV := .bench-nannyml-venv
BENCH_ARGS ?=

.PHONY: demo test lint bench bench-score bench-serve bench-shadow bench-loop bench-overload bench-drift bench-cbpe bench-power bench-scale scale-demo format clean

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
	$(BIN)/pytest $(PYTEST_JOBS) $(PYTEST_ARGS)

## bench: a separate venv with the competitors (pandera, Great Expectations), then the benchmarks
$(BENCH_VENV)/.installed: pyproject.toml benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check --quiet install --upgrade pip
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -e . -r benchmarks/requirements.txt
	@touch $@

bench: $(BENCH_VENV)/.installed bench-drift bench-serve
	$(BENCH_VENV)/bin/python benchmarks/bench_validate.py $(BENCH_ARGS)

## bench-serve: a venv with MLflow, BentoML and FastAPI, then the serving benchmark (wrk from Debian's packages; about 35 minutes)
$(SERVE_VENV)/.installed: pyproject.toml benchmarks/requirements-serve.txt
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip --disable-pip-version-check --quiet install --upgrade pip
	$(SERVE_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -e . -r benchmarks/requirements-serve.txt
	@touch $@

bench-serve: $(SERVE_VENV)/.installed
	@command -v wrk >/dev/null || { echo "the serving benchmark needs wrk: apt-get install wrk"; exit 1; }
	$(SERVE_VENV)/bin/python benchmarks/bench_serve.py $(BENCH_ARGS)

## bench-score: shipyard score of 1 M and 10 M rows against the floor and mlflow models predict (MLflow from the serving venv)
bench-score: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/python benchmarks/bench_score.py $(BENCH_ARGS)

## bench-shadow: the champion's latency with a challenger in shadow and without, one run (about 4 minutes)
bench-shadow: $(SERVE_VENV)/.installed
	@command -v wrk >/dev/null || { echo "the shadow benchmark needs wrk: apt-get install wrk"; exit 1; }
	$(SERVE_VENV)/bin/python benchmarks/bench_shadow.py $(BENCH_ARGS)

## scale-demo: three `shipyard serve` replicas behind nginx on PostgreSQL and S3 (moto), under
## load: a promotion, a kill -9, a restart, then the prediction log and monitoring (about a minute)
scale-demo: $(VENV)/.installed-dev
	@command -v nginx >/dev/null || { echo "the scale-out demo needs nginx: apt-get install nginx"; exit 1; }
	$(BIN)/python scripts/scale_demo.py

## bench-scale: throughput through nginx with 1, 2 and 3 replicas, and one replica without it (about 4 minutes)
bench-scale: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { echo "the scale benchmark needs wrk: apt-get install wrk"; exit 1; }
	@command -v nginx >/dev/null || { echo "the scale benchmark needs nginx: apt-get install nginx"; exit 1; }
	$(BIN)/python benchmarks/bench_scale.py $(BENCH_ARGS)

## bench-loop: the whole retraining loop on the demo's data (retrain, evaluate, shadow 2,000 requests, promote), in seconds (about 2 minutes)
bench-loop: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_loop.py $(BENCH_ARGS)

## bench-overload: each server at 1x, 2x and 4x its capacity, open loop, beside the code before
## issue #13 (a git archive of 49a4932 in OVERLOAD_BASELINE); about 15 minutes
OVERLOAD_BASELINE ?= /tmp/shipyard-49a4932
bench-overload: $(SERVE_VENV)/.installed
	@test -d $(OVERLOAD_BASELINE)/src/shipyard || { mkdir -p $(OVERLOAD_BASELINE) && git archive 49a4932 | tar -x -C $(OVERLOAD_BASELINE); }
	$(SERVE_VENV)/bin/python benchmarks/bench_overload.py --baseline $(OVERLOAD_BASELINE) $(BENCH_ARGS)

## bench-drift: a venv with Evidently, then the drift benchmark (about 10 minutes at 1M rows a side)
$(DRIFT_VENV)/.installed: pyproject.toml benchmarks/requirements-drift.txt
	$(PYTHON) -m venv $(DRIFT_VENV)
	$(DRIFT_VENV)/bin/python -m pip --disable-pip-version-check --quiet install --upgrade pip
	$(DRIFT_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -e . -r benchmarks/requirements-drift.txt
	@touch $@

bench-drift: $(DRIFT_VENV)/.installed
	$(DRIFT_VENV)/bin/python benchmarks/bench_drift.py $(BENCH_ARGS)

## bench-cbpe: performance estimated without labels beside NannyML's CBPE (NannyML's venv below; about 2 minutes)
bench-cbpe: $(NANNYML_VENV)/.installed
	$(NANNYML_VENV)/bin/python benchmarks/bench_cbpe.py $(BENCH_ARGS)

## bench-power: detection rate against shift size and false alarms at 1k, 10k and 100k rows,
## shipyard beside Evidently (its venv above) and NannyML (a venv of its own); about 20 minutes
$(NANNYML_VENV)/.installed: pyproject.toml benchmarks/requirements-nannyml.txt
	$(PYTHON) -m venv $(NANNYML_VENV)
	$(NANNYML_VENV)/bin/python -m pip --disable-pip-version-check --quiet install --upgrade pip
	$(NANNYML_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -e . -r benchmarks/requirements-nannyml.txt
	@touch $@

bench-power: $(DRIFT_VENV)/.installed $(NANNYML_VENV)/.installed
	$(DRIFT_VENV)/bin/python benchmarks/bench_power.py $(BENCH_ARGS)

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(SERVE_VENV) $(DRIFT_VENV) $(NANNYML_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis benchmarks/.cache
