# vaultgate — the two quickstart commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= .data
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test system-packages install dev lint typecheck bench bench-check bench-startup bench-scanner bench-leaver bench-stages soak screenshots clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## make run: set up a data dir (once), register a provider, print a member key, serve.
run: install
	$(BIN)/vaultgate quickstart --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

## make test: the whole suite (SQLite and PostgreSQL, in-process and Redis).
test: dev system-packages
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2

## Debian packages the tests drive for real: nginx (docker-compose's proxy, tests/deploy) and
## chromium (the console's browser tests, tests/console: Playwright drives /usr/bin/chromium).
system-packages:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests

typecheck: dev
	$(BIN)/mypy

## make bench: gateway overhead against the upstream stub (not run by CI).
bench: dev
	bash bench/run.sh

## make bench-startup: a fresh `vaultgate serve` STARTUP_RUNS times (5): seconds to ready and RSS at ready,
## after the first requests and after each plane is reached; with the import and memory breakdown (bench/startup.py).
bench-startup: dev
	$(BIN)/python bench/startup.py --breakdown

## make bench-check: the data plane's instructions per request (valgrind's callgrind, JSON and SSE) against
## bench/budget.json; exits 1 when a mode is over budget + tolerance. Not part of make test.
## `$(BIN)/python bench/check.py --update` rewrites the budget: a deliberate act, committed with its reason.
bench-check: dev
	$(BIN)/python bench/check.py

## make bench-leaver: the leaver scenario (SCIM deactivation on one replica, a stream on the other) run
## LEAVER_RUNS times (20) on PostgreSQL: p50/p95/max of the stream ending and the keys refused (bench/leaver.py).
bench-leaver: dev
	$(BIN)/python bench/leaver.py

## make bench-stages: where the real server's CPU per request goes, by component (py-spy samples under wrk,
## JSON then SSE; bench/stages.py). Installs py-spy into .venv (a measurement tool, not a dependency).
bench-stages: dev
	$(BIN)/pip install -q py-spy
	$(BIN)/python bench/stages.py --mode json
	$(BIN)/python bench/stages.py --mode sse

## make soak: mixed JSON and streamed load with a rotation and a revocation halfway; drift of
## latency, RSS and file descriptors (SOAK_SECONDS=600, SOAK_RATE=40, ...: bench/soak.py).
soak: dev
	$(BIN)/python bench/soak.py

## make screenshots: refresh docs/screenshots/ (the console's pages, as the browser tests see them).
screenshots: dev system-packages
	VAULTGATE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:randomly tests/console/test_console_pages.py -k sqlite

clean:
	rm -rf $(VENV) build dist src/*.egg-info
