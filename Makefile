# Two entry points, each bootstrapping its own virtual environment in .venv:
#   make run    the main job: the fault-scenario catalogue on an embedded 3-broker cluster
#   make test   ruff, mypy --strict and the whole pytest suite under the Hypothesis `ci` profile
# The suite's KafkaJS tests need Node.js (>= 18); `make pytest` installs KafkaJS with `npm ci`.
PYTHON ?= python3
NPM ?= npm
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HYPOTHESIS_PROFILE ?= ci
JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.installed-stamp

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# KafkaJS at the version package-lock.json pins (npm ci installs exactly the lock file).
$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

run: $(STAMP)
	$(BIN)/reflog scenarios

lint: $(STAMP)
	$(BIN)/ruff check reflog faults tests
	$(BIN)/ruff format --check reflog faults tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict

pytest: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest --hypothesis-profile=$(HYPOTHESIS_PROFILE)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/reflog bench --json bench-results.json --plots bench-plots

clean:
	rm -rf $(VENV) $(JS_DIR)/node_modules .mypy_cache .pytest_cache .ruff_cache .hypothesis
