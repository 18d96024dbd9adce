# Every target a person runs. The Makefile owns its virtual environment so a
# fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve test test-unit test-integration test-browser test-faults test-fuzz lint fmt services mongo-venv clean bench wrk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/orderflow serve

test: test-unit test-integration test-browser test-faults test-fuzz

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test-integration: $(STAMP) mongo-venv wrk
	$(BIN)/pytest tests/integration -q

# The dashboard in headless Chromium (Debian's /usr/bin/chromium; apt-get install -y chromium).
.PHONY: test-browser
test-browser: $(STAMP)
	$(BIN)/pytest tests/browser -q

# Real faults (kill -9, a frozen broker, database and Redis outages, replays,
# races) against the production stack as OS processes; figures in .fault-results.json.
test-faults: $(STAMP)
	$(BIN)/pytest tests/faults -q -p no:cacheprovider

# Property-based fuzzing of every route from the OpenAPI document (schemathesis,
# in-process, memory backend); request counts in .fuzz-results.json.
test-fuzz: $(STAMP)
	$(BIN)/pytest tests/fuzz -q -p no:cacheprovider

# Starts the Kafka-protocol broker and the MongoDB wire server (and checks
# MariaDB, PostgreSQL and Redis) in the foreground; prints the variables to use.
services: $(STAMP)
	bash scripts/services.sh

# The Python >= 3.13 environment of the MongoDB wire server (the tests build it on demand).
mongo-venv:
	bash scripts/mongo-venv.sh

# The benchmark (docs/PERFORMANCE.md), tools/bench run from the repository
# root: BENCH_ARGS=--quick for a short run. wrk (Debian's package) is installed
# here when missing; the bench itself installs nothing.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

wrk:
	@command -v wrk >/dev/null || bash scripts/install-wrk.sh

bench: $(BENCH_STAMP) wrk
	$(BIN)/python -m tools.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests tools
	$(BIN)/ruff format src tests tools

clean:
	rm -rf $(VENV) .venv-mongo .pytest_cache .mypy_cache .ruff_cache
