# Groundswell: every target sets up what it needs first (a .venv installed from pyproject.toml).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/data/dagster

.PHONY: run test lint format ui sandbox setup clean bench bench-push quality forget browser servers restore status serve

setup: $(STAMP)

# Reinstall only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

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

## restore: bring back a warehouse backup: FROM=latest, a file name in BACKUP_DIR, or a path;
##          the warehouse it replaces is kept aside, and everyone forgotten since stays erased
restore: setup
	@$(BIN)/python -m pipelines.restore --from "$(FROM)"

## status: the last run and its result, the next scheduled run, each source's last landing,
##         the checks that failed, the last backup and any push waiting for confirmation
status: setup
	@$(BIN)/python -m pipelines.status

## portal: the organiser portal on http://127.0.0.1:8000 (PORTAL_HOST, PORTAL_PORT; it reads
##         the snapshot each run publishes, so it never waits for a run); Ctrl-C stops it
portal: setup
	$(BIN)/python -m portal serve

## invite: a single-use link (valid 7 days) for EMAIL=... to set a password; an organiser's
##         teams come from teams.yaml; ROLE=hq for HQ; AGAIN=1 for an address already active
invite: setup
	@$(BIN)/python -m portal invite "$(EMAIL)" $(if $(ROLE),--role $(ROLE)) $(if $(AGAIN),--again)

## revoke: end EMAIL=...'s access at once: every session signed out, the account deactivated
revoke: setup
	@$(BIN)/python -m portal revoke "$(EMAIL)"

.PHONY: portal invite revoke

## test: lint, then the whole test suite, spread over TEST_WORKERS processes (a file each
##       at a time, so a module's shared fixtures are built once); TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 4
test: setup lint browser servers
	$(BIN)/python -m pytest --durations=25 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

## browser: Debian's chromium for the portal's browser tests, installed when it is missing and
##          the machine allows (root with apt-get); otherwise those tests say skipped and why
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq chromium >/dev/null 2>&1 || \
				{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
				echo "could not install chromium: the browser tests will be skipped"; \
		else echo "chromium is missing and cannot be installed here: the browser tests will be skipped"; fi; }

## servers: Debian's PostgreSQL server (the tests of Dagster's history in PostgreSQL) and Caddy
##          (the check of deploy/Caddyfile), installed when missing and the machine allows
##          (root with apt-get); otherwise those tests say skipped and why
servers:
	@missing=""; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="postgresql"; \
	command -v caddy >/dev/null 2>&1 || missing="$$missing caddy"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's$$missing for the service tests"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq $$missing >/dev/null 2>&1 || \
				{ apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; } || \
				echo "could not install$$missing: the tests that need it will be skipped"; \
		else echo "$$missing missing and cannot be installed here: the tests that need it will be skipped"; fi; \
	fi

## lint: ruff, and the layer rules of DESIGN.md as import-linter contracts (pyproject.toml)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## serve: the production mode: the Dagster UI (DAGSTER_HOST:DAGSTER_PORT, 127.0.0.1:3000), its
##        daemon (the nightly schedule, sensors, the run queue) and the portal (127.0.0.1:8000)
##        under one supervisor; logs in LOG_DIR (data/logs); SIGTERM or Ctrl-C stops it all,
##        marking a run in progress failed. deploy/groundswell.service runs it under systemd.
serve: setup
	$(BIN)/python -m pipelines.serve

## ui: the Dagster UI on http://127.0.0.1:3000 (with the sandbox when no keys are set);
##     clears runs left behind by killed commands first; its daemon monitors runs (dagster.yaml);
##     refused while `make serve` serves the same data (one daemon per DAGSTER_HOME)
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
