# Tiaodu 调度: `make run` starts the whole platform locally; `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test schema lint format clean bench

venv: $(STAMP)

$(PY):
	python3.11 -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(PY)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

run: venv
	PYTHONPATH=. $(PY) -m shared.devstack

test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=. $(PY) -m pytest -q

schema: venv
	PYTHONPATH=. $(PY) -m shared.catalogue.export docs/events.schema.json

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff format .

# As root the embedded PostgreSQL keeps its data under TIAODU_PG_HOME (shared/devstack/pg_home.py): remove it too.
clean:
	id=$$(cat .run/pg/pgdata.id 2>/dev/null | tr -cd 0-9a-f); if [ -n "$$id" ]; then rm -rf "$${TIAODU_PG_HOME:-/var/lib/tiaodu-pg}/data/$$id"; fi
	rm -rf .run .run.old-*

# Every figure of issue 7 in one run on fresh servers (17 min on 2 cores); writes bench/results.json and results.md.
# Sizes are BENCH_* variables (tests/benchmarks/run.py), e.g. `make bench BENCH_EVENTS=100000` for a short run.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): pyproject.toml | $(PY)
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	touch $(STAMP) $@

bench: $(BENCH_STAMP)
	PYTHONPATH=. $(PY) -m tests.benchmarks
