# Groundswell: every target sets up what it needs first (a .venv installed from pyproject.toml).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/data/dagster

.PHONY: run test lint format ui sandbox setup clean bench bench-push quality forget

setup: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

# Reinstall only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## run: the whole pipeline once, headless (starts the sandbox platforms when no keys are set);
##      ADVANCE_DAYS=7 then moves the sandbox on a week and runs again, to show movement;
##      DRY_RUN=1 stops after the sync plan; CONFIRM=1 sends a plan the guard rails stopped.
##      A run left behind by a killed `make run` is marked failed and its warehouse slot freed
##      first; while another live run holds the warehouse it says which, and gives up after
##      RUN_WAIT_SECONDS (default 1800). Ctrl-C stops it, marking its own run failed.
run: setup
	$(BIN)/python -m pipelines run $(if $(ADVANCE_DAYS),--advance-days $(ADVANCE_DAYS)) \
		$(if $(DRY_RUN),--dry-run) $(if $(CONFIRM),--confirm)

## forget: erase one person everywhere, by one of EMAIL=, PHONE= or PERSON_ID=,
##         e.g. make forget EMAIL=someone@example.org
##         (waits for the warehouse like `make run`, at most RUN_WAIT_SECONDS)
forget: setup
	@$(BIN)/python -m pipelines forget --email "$(EMAIL)" --phone "$(PHONE)" \
		--person-id "$(PERSON_ID)" $(if $(FORCE),--force)

## test: lint, then the whole test suite, spread over TEST_WORKERS processes (a file each
##       at a time, so a module's shared fixtures are built once); TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 3
test: setup lint
	$(BIN)/python -m pytest --durations=25 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

## lint: ruff, and the layer rules of DESIGN.md as import-linter contracts (pyproject.toml)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## ui: the Dagster UI on http://127.0.0.1:3000 (with the sandbox when no keys are set);
##     clears runs left behind by killed commands first; its daemon monitors runs (dagster.yaml)
ui: setup
	$(BIN)/python -m pipelines ui

## sandbox: the simulated platforms alone; prints .env lines to paste
sandbox: setup
	$(BIN)/python -m sandbox serve

## bench: extraction benchmark against the sandbox, beside Parsons (installs the bench extra)
bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/extract.py $(BENCH_ARGS)

## bench-push: the push benchmark (first push, an idle second push, a push after a day)
bench-push: setup
	$(BIN)/python bench/push.py $(BENCH_ARGS)

## quality: identity quality against the sandbox's ground truth, beside exact-email and Splink baselines
quality: setup
	$(BIN)/python bench/identity.py $(QUALITY_ARGS)

clean:
	rm -rf $(VENV) data/dagster
