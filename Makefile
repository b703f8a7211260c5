# Two entry points, each bootstrapping its own virtual environment in .venv:
#   make run    the main job: the fault-scenario catalogue on an embedded 3-broker cluster
#   make test   ruff, mypy --strict and the whole pytest suite under the Hypothesis `ci` profile
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HYPOTHESIS_PROFILE ?= ci

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/reflog scenarios

lint: $(STAMP)
	$(BIN)/ruff check reflog faults tests
	$(BIN)/ruff format --check reflog faults tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict

pytest: $(STAMP)
	$(BIN)/pytest --hypothesis-profile=$(HYPOTHESIS_PROFILE)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/reflog bench --json bench-results.json --plots bench-plots

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
