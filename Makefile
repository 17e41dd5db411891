# Tiaodu 调度: `make run` starts the whole platform locally; `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test schema lint format clean bench haproxy

venv: $(STAMP)

$(PY):
	python3.11 -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(PY)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# The gateway's data plane is the distribution's HAProxy (docs/adr/0013): installed here when missing, as root on
# Debian/Ubuntu; anywhere else the message says what to install.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing HAProxy (the gateway's data plane) with apt-get"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy; \
	  else \
	    echo "make: the gateway needs HAProxy >= 2.4: install it as root (Debian/Ubuntu: apt-get install haproxy)" >&2; \
	    exit 1; \
	  fi; }

# `make run REPLICAS=scheduling=3,intake=2`: that many processes of those services, balanced by the gateway (0034).
run: venv haproxy
	TIAODU_REPLICAS='$(REPLICAS)' PYTHONPATH=. $(PY) -m shared.devstack

test: venv haproxy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=. $(PY) -m pytest -q --durations=15  # the slowest tests, named in every run (CI keeps the suite well under 20 min)

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

bench: $(BENCH_STAMP) haproxy
	PYTHONPATH=. $(PY) -m tests.benchmarks
