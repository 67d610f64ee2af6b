# Developer entry points. `make serve` and `make test` are the two commands of the README.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR := layers/model/model
PORT ?= 3000

# Other parts of the build (deploy, front end) add their own targets and test prerequisites in mk/*.mk.
TEST_PREREQS :=
-include mk/*.mk

.PHONY: help install model serve test test-py lint typecheck check bench clean
.DEFAULT_GOAL := help

help:
	@echo "make serve   - set up .venv, train the demo model if needed, serve on http://127.0.0.1:$(PORT)"
	@echo "make test    - set up everything and run the whole test suite"
	@echo "make check   - ruff + mypy"
	@echo "make build   - sam validate --lint + sam build (no Docker), with package sizes"
	@echo "make local-api - the built function + layer behind SAM's API Gateway emulation on http://127.0.0.1:3000 (no Docker)"
	@echo "make bench   - benchmark against raw model.predict and a Flask baseline"

$(VENV)/.installed: requirements-dev.txt functions/predict/requirements.txt layers/model/requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

$(MODEL_DIR)/model.json: | $(VENV)/.installed
	$(VENV)/bin/sklambda train --model-dir $(MODEL_DIR)

model: $(MODEL_DIR)/model.json

serve: model
	$(VENV)/bin/sklambda serve --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check functions src tests bench deploy

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck

test: install model $(TEST_PREREQS)
	$(PY) -m pytest

bench: install model
	$(PY) -m bench.run

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache test-artifacts
