# evalsite: `make run` starts the platform on the embedded defaults, `make test` runs every test.
# Both create the virtual environment on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint format worker clean-var browser-deps peers check-goldens

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject.toml: on this kind of machine pip takes the CPU build from disk.
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the web server (http://127.0.0.1:8000) and a real Celery worker on SQLite + filesystem broker.
run: install
	bin/run-dev

## Run the whole test suite (unit, database, worker, browser).
test: install browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

## Everything but the browser and worker tests, for a quick loop.
test-fast: install
	$(PY) -m pytest -m "not browser and not worker" $(PYTEST_ARGS)

## Debian's Chromium for the Playwright browser tests (Playwright cannot download browsers here).
browser-deps:
	@bin/ensure-chromium

worker: install
	$(PY) -m celery -A evalsite worker -Q gpu,cpu --concurrency 1 --loglevel INFO

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-var:
	rm -rf var

## Golden reference numbers (not part of `make test` or CI): `make peers` builds .peers-venv with
## the pinned reference packages, `make check-goldens` regenerates every golden file there into a
## temporary folder and fails on drift beyond each file's tolerance.
PEERS_VENV ?= .peers-venv
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp
GOLDENS_OUT ?= $(shell mktemp -d -t goldens.XXXXXX)

$(PEERS_STAMP): requirements-peers.txt
	@test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install --quiet --upgrade pip
	$(PEERS_PY) -m pip install --quiet -r requirements-peers.txt
	@touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

check-goldens: install peers
	bin/check-goldens $(PEERS_PY) $(PY) $(GOLDENS_OUT)
