# Control Tower. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
# Python 3.12: the routing engine (osrm-bindings) ships wheels for 3.12 and newer only. python3.12 on
# the PATH when it runs, else pyenv's (its shim does not resolve while pyenv's global version is another).
PY ?= $(shell python3.12 -c '' >/dev/null 2>&1 && echo python3.12 || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
SANDBOX_PORT ?= 8100
TEST_DB ?= postgres://postgres@127.0.0.1:5432/controltower
TEST_REDIS ?= redis://127.0.0.1:6379/0
# The suite is kept under 20 minutes on 2 cores: it runs on both (pytest-xdist, a file per worker at a
# time, each worker with its own test database) and lists its slowest tests at the end.
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=25

.PHONY: demo test up lock install install-test services chromium migrate bench clean

# Every dependency is pinned in requirements.lock (made by `make lock`); installs never resolve anew.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PY)" && command -v $(PY) >/dev/null || { echo "Python 3.12 is needed (python3.12 not found, nor in ~/.pyenv/versions)"; exit 1; }
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || { rm -rf $(VENV); $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# An upgrade is a deliberate commit: change pyproject.toml (or pass UPGRADE=--upgrade), run this, test, commit the lock.
lock:
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.12 $(UPGRADE) -o requirements.lock

install: $(STAMP)

# The embedded default: SQLite, in-memory channel layer, tasks in-process. Needs only Python.
demo: $(STAMP)
	@env -u DATABASE_URL -u REDIS_URL bash -c '\
	  $(BIN)/python manage.py migrate -v0 && \
	  $(BIN)/python manage.py seed_demo --speed $${SPEED:-60} --sandbox-url http://127.0.0.1:$(SANDBOX_PORT) \
	      --public-url http://127.0.0.1:$(PORT) && \
	  CT_PORT=$(PORT) CT_SANDBOX_PORT=$(SANDBOX_PORT) OUTBOUND_ALLOWED_NETWORKS=127.0.0.1/32 PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/honcho -f Procfile.demo start'

# Real mode: PostgreSQL, Redis, daphne, a Celery worker and beat (DATABASE_URL/REDIS_URL from .env or the environment).
up: $(STAMP)
	$(BIN)/python manage.py migrate -v0
	$(BIN)/honcho -f Procfile start

services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --maxmemory-policy noeviction --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; echo "PostgreSQL or Redis did not start"; exit 1

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

test: $(STAMP) services chromium
	DATABASE_URL=$(TEST_DB) REDIS_URL=$(TEST_REDIS) SECRET_KEY=test-only-$$RANDOM-not-a-deployment-key-0123456789abcdef \
	  CELERY_TASK_ALWAYS_EAGER=true $(BIN)/python -m pytest $(PYTEST_ARGS)

# Planning benchmarks (track A with plain PyVRP alongside, track B, the exception track; checker
# figures) and the carrier-outage benchmark
# (needs PostgreSQL and Redis), customer e-mails on a disrupted demo afternoon, and the Performance page on 90 days x
# 100,000 orders. Results: bench/results/
bench: $(STAMP) services
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.exceptions
	$(BIN)/python -m bench.outage
	$(BIN)/python -m bench.messages
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.scorecards
	$(BIN)/python -m bench.onboarding

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
