# Every target a person runs. The Makefile owns its virtual environment so a
# fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve test test-unit test-integration lint fmt services mongo-venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/orderflow serve

test: test-unit test-integration

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test-integration: $(STAMP) mongo-venv
	$(BIN)/pytest tests/integration -q

# Starts the Kafka-protocol broker and the MongoDB wire server (and checks
# MariaDB, PostgreSQL and Redis) in the foreground; prints the variables to use.
services: $(STAMP)
	bash scripts/services.sh

# The Python >= 3.13 environment of the MongoDB wire server (the tests build it on demand).
mongo-venv:
	bash scripts/mongo-venv.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean:
	rm -rf $(VENV) .venv-mongo .pytest_cache .mypy_cache .ruff_cache
