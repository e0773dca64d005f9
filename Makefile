# The two commands of the README: `make run` (the board) and `make test` (the whole suite).
# Both set everything up on a fresh machine first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install bench-install browser services benchmark

run: install
	$(BIN)/python manage.py run_board

test: install bench-install browser services
	$(BIN)/python -m pytest

# The comparative benchmark (writes BENCHMARKS.md); `.venv/bin/python benchmarks/run.py --quick`
# for a run of a few minutes.
benchmark: install bench-install browser services
	$(BIN)/python benchmarks/run.py

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# The benchmark's peers: django-eventstream, uvicorn, granian (PyPI) and Nchan (Debian).
bench-install: $(VENV)/.bench-installed
	@dpkg -s libnginx-mod-nchan >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light libnginx-mod-nchan; }

$(VENV)/.bench-installed: benchmarks/requirements.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

services:
	.ci/services
