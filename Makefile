# cosmos_remote — the commands a newcomer copies: `make demo`, `make test`.
# Everything is installed from PyPI into .venv from the pinned, hashed requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# Extra tools the tests need, each in its own environment under .venv/tools (added by mk/*.mk).
TEST_TOOLS :=
-include mk/*.mk

.PHONY: venv demo test e2e lint types unit bench soak docs screenshots lock clean

venv: $(STAMP)

# uv installs the lock (hash-checked) and byte-compiles it: these machines set PYTHONDONTWRITEBYTECODE=1, and dbt
# parses ~60% slower without .pyc files.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --require-hashes -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Re-resolve the pins (needs network to PyPI). Commit the result.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header --no-annotate -o requirements.lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

demo: venv
	$(BIN)/python -m cosmos_remote.demo

lint: venv
	$(BIN)/ruff check cosmos_remote tests benchmarks examples
	$(BIN)/ruff format --check cosmos_remote tests benchmarks examples

types: venv
	$(BIN)/mypy

unit: venv $(TEST_TOOLS)
	$(BIN)/python -m pytest tests -m "not e2e"

# The long end-to-end suite: real clusters (the example DAG with its UI, a wide DAG with API faults) and the
# Cosmos-idiom DAGs under dag.test(). CI runs it after `make test`.
e2e: venv $(TEST_TOOLS) cluster-services
	$(BIN)/python -m pytest tests -m e2e

test: lint types unit

bench: venv
	$(BIN)/python -m benchmarks $(BENCH)

soak: venv
	$(BIN)/python -m benchmarks soak

docs: venv
	$(BIN)/mkdocs build --strict

# The pictures of docs/ui.md, from a real run of the example DAG on a local cluster (needs Debian's chromium).
screenshots: venv chromium
	$(BIN)/python docs/_screenshots.py

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache
