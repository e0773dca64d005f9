# The two commands of the README: `make run` (the board) and `make test` (the whole suite).
# Both set everything up on a fresh machine first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The test matrix needs python3.11 and python3.13. pyenv may have them installed without putting
# them on PATH (its shims then refuse to run them): add their folders, nox finds them there.
PYENV_ROOT ?= $(HOME)/.pyenv
MATRIX_PYTHONS := 3.11 3.13
PYENV_BINS := $(foreach v,$(MATRIX_PYTHONS),$(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(v).*/bin))))
empty :=
space := $(empty) $(empty)
export PATH := $(subst $(space),:,$(strip $(PYENV_BINS) $(PATH)))

.PHONY: run test install interpreters nchan browser services benchmark

run: install
	$(BIN)/python manage.py run_board

# Lint and types, the JS unit tests, then the whole suite on Python 3.11 + Django 5.2 and on
# Python 3.13 + Django 6.1 (noxfile.py). `$(BIN)/nox -s <session>` runs one part.
test: install interpreters nchan browser services
	$(BIN)/nox

# The comparative benchmark (writes BENCHMARKS.md); `$(BIN)/python -m benchmarks.run --quick`
# for a run of a few minutes.
benchmark: install nchan browser services
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.run

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

interpreters:
	@for v in $(MATRIX_PYTHONS); do \
		python$$v -c 'import sys' 2>/dev/null || { \
			echo "make test needs Python $$v for its test matrix (noxfile.py), and python$$v does not run."; \
			echo "Install it, e.g. 'pyenv install $$v' (found under $(PYENV_ROOT)/versions/ automatically)"; \
			echo "or 'apt-get install python$$v', so that python$$v is on PATH, then run make test again."; \
			exit 1; }; \
	done

# Nchan (Debian) for the benchmark smoke test; the Python peers come from benchmarks/requirements.txt.
nchan:
	@dpkg -s libnginx-mod-nchan >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light libnginx-mod-nchan; }

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

services:
	.ci/services
