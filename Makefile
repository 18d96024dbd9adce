# Every target a person runs. The Makefile owns its virtual environment so a
# fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every runtime, dev and bench dependency pinned for Python 3.11 (`make lock`).
LOCK   := requirements/dev.lock

.PHONY: install lock schemas serve test test-unit test-integration test-browser test-faults test-fuzz coverage lint fmt services mongo-venv clean bench wrk

# The pinned set first, then the project itself without resolving anything
# again; re-run whenever the lock or pyproject.toml changes.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the lock from pyproject.toml (after changing a dependency there).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --universal \
		--python-version 3.11 --quiet --output-file $(LOCK)

# `make serve PORT=4001 HOST=0.0.0.0` to listen elsewhere.
HOST ?= 127.0.0.1
PORT ?= 4000
serve: $(STAMP)
	$(BIN)/orderflow serve --host $(HOST) --port $(PORT)

# Each suite writes its own coverage data (.coverage.<suite>); `make test`
# combines them and prints the total (configuration: [tool.coverage] in
# pyproject.toml). The floor applies to the total only, well under it.
COV = --cov --cov-report=
COVERAGE_FLOOR = 60

test: test-unit test-integration test-browser test-faults test-fuzz
	$(MAKE) --no-print-directory coverage

coverage: $(STAMP)
	$(BIN)/coverage combine --quiet $(wildcard .coverage.unit .coverage.integration .coverage.browser .coverage.faults .coverage.fuzz)
	$(BIN)/coverage report --fail-under=$(COVERAGE_FLOOR)

test-unit: $(STAMP)
	COVERAGE_FILE=.coverage.unit $(BIN)/pytest tests/unit -q $(COV)

# Two processes (pytest-xdist): most of these tests wait on servers, and each
# process starts its own broker and MongoDB stand-in and claims its own Redis
# database, so they do not share state.
test-integration: $(STAMP) mongo-venv wrk
	COVERAGE_FILE=.coverage.integration $(BIN)/pytest tests/integration -q -n 2 $(COV)

# The dashboard in headless Chromium (Debian's /usr/bin/chromium; apt-get install -y chromium).
.PHONY: test-browser
test-browser: $(STAMP)
	COVERAGE_FILE=.coverage.browser $(BIN)/pytest tests/browser -q $(COV)

# Real faults (kill -9, a frozen broker, database and Redis outages, replays,
# races) against the production stack as OS processes; figures in .fault-results.json.
test-faults: $(STAMP)
	COVERAGE_FILE=.coverage.faults $(BIN)/pytest tests/faults -q -p no:cacheprovider $(COV)

# Property-based fuzzing of every route from the OpenAPI document (schemathesis,
# in-process, memory backend); request counts in .fuzz-results.json.
test-fuzz: $(STAMP)
	COVERAGE_FILE=.coverage.fuzz $(BIN)/pytest tests/fuzz -q -p no:cacheprovider $(COV)

# Starts the Kafka-protocol broker and the MongoDB wire server (and checks
# MariaDB, PostgreSQL and Redis) in the foreground; prints the variables to
# export: ORDERFLOW_TEST_* for the tests, ORDERFLOW_* for orderflow itself.
services: $(STAMP)
	bash scripts/services.sh

# The Python >= 3.13 environment of the MongoDB wire server (the tests build it on demand).
mongo-venv:
	bash scripts/mongo-venv.sh

# The benchmark (docs/PERFORMANCE.md), tools/bench run from the repository
# root: BENCH_ARGS=--quick for a short run. wrk (Debian's package) is installed
# here when missing; the bench itself installs nothing.
wrk:
	@command -v wrk >/dev/null || bash scripts/install-wrk.sh

# docs/events/*.json and the tables of docs/EVENTS.md, from the event models
# (a unit test fails when the committed ones differ).
schemas: $(STAMP)
	$(BIN)/python -m tools.schemas

bench: $(STAMP) wrk
	$(BIN)/python -m tools.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests tools
	$(BIN)/ruff format src tests tools

clean:
	rm -rf $(VENV) .venv-mongo .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
