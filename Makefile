# Task runner. `make reports` and `make test` do all the set-up on a fresh machine (Python 3.11+ and make).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := data/raw/demo/run.yaml

.PHONY: help install system-deps demo-data reports test lab bench clean

help:
	@echo "make reports    demo data + all five reports into reports/ (sets up .venv when missing)"
	@echo "make test       the whole test suite (sets up .venv when missing)"
	@echo "make lab        JupyterLab on the project, with clc_lib importable"
	@echo "make bench      benchmarks (not part of make test)"
	@echo "make system-deps  what the tests need besides Python: Chromium, PostgreSQL, Java (apt, as root or with sudo)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Chromium for the browser check of the HTML, a PostgreSQL server and Java (Spark) for the engine tests.
SYSTEM_PACKAGES := chromium fonts-liberation fonts-dejavu-core postgresql default-jre-headless
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if command -v chromium >/dev/null && command -v java >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "system packages present: chromium, java, postgresql"; \
	else \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

$(DEMO): $(STAMP) clc_lib/demo.py
	$(BIN)/clc demo-data

demo-data: $(DEMO)

reports: $(DEMO)
	$(BIN)/clc report --config $(DEMO)

test: $(DEMO)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=.

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) data/processed/* reports/* .pytest_cache
