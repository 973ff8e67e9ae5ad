# Task runner. `make reports` and `make test` do all the set-up on a fresh machine (Python 3.11+ and make).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := data/raw/demo/run.yaml

.PHONY: help install system-deps demo-data reports test test-fast lab bench clean \
	i18n-extract i18n-update i18n-compile i18n-check

help:
	@echo "make reports    demo data + all five reports into reports/ (sets up .venv when missing)"
	@echo "make test       the whole test suite (sets up .venv and the system packages when missing)"
	@echo "make test-fast  the unit tests in about two minutes: the whole suite without the tests marked slow"
	@echo "make lab        JupyterLab on the project, with clc_lib importable (PORT=8899 for another port)"
	@echo "make bench      benchmarks (not part of make test)"
	@echo "make system-deps  what the tests need besides Python: Chromium, PostgreSQL, Java, Noto CJK fonts (apt, as root or with sudo)"
	@echo "make i18n-extract i18n-update  collect the report text into clc_lib/locale/clc.pot and merge it into the catalogs"
	@echo "make i18n-compile  compile the catalogs (.po -> .mo); make i18n-check fails on missing, untranslated or fuzzy messages"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# Notebooks saved from Lab are committed without outputs: git runs them through nbstripout.
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git config filter.nbstripout.clean "'$(CURDIR)/$(BIN)/python' -m nbstripout --keep-id" && \
		git config filter.nbstripout.smudge cat && \
		git config diff.ipynb.textconv "'$(CURDIR)/$(BIN)/python' -m nbstripout --keep-id -t" && \
		echo "git strips notebook outputs on commit (nbstripout filter, see .gitattributes)"; \
	fi
	touch $(STAMP)

install: $(STAMP)

# Chromium for the browser check of the HTML, a PostgreSQL server and Java (Spark) for the engine tests,
# Noto CJK for the charts and pages in Chinese.
# Installed with apt as root, or with sudo; otherwise one line says what to install, and make stops.
SYSTEM_PACKAGES := chromium fonts-liberation fonts-dejavu-core fonts-noto-cjk postgresql default-jre-headless
APT_INSTALL := apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES)
system-deps:
	@if command -v chromium >/dev/null && command -v java >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
			&& fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then \
		echo "system packages present: chromium, java, postgresql, Noto CJK fonts"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "The tests need Chromium, a PostgreSQL server, Java and the Noto CJK fonts; install them with your package manager (Debian names: $(SYSTEM_PACKAGES))." >&2; exit 1; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(APT_INSTALL); \
	elif command -v sudo >/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive $(APT_INSTALL); \
	else \
		echo "The tests need system packages and there is no sudo; as root run: apt-get install $(SYSTEM_PACKAGES)" >&2; exit 1; \
	fi

$(DEMO): $(STAMP) clc_lib/demo.py clc_lib/demo_model.py
	$(BIN)/clc demo-data

demo-data: $(DEMO)

reports: $(DEMO)
	$(BIN)/clc report --config $(DEMO)

test: system-deps $(DEMO)
	$(BIN)/python -m pytest

# Leaves out the tests marked slow (Spark, PostgreSQL, Chromium, whole report or notebook runs, long
# fits), so it needs no system packages; `make test` stays the whole suite and the CI command.
test-fast: $(DEMO)
	$(BIN)/python -m pytest -m "not slow"

# PORT=8899 picks the port; as root (e.g. in a container) Jupyter needs --allow-root.
LAB_OPTIONS := $(if $(PORT),--port=$(PORT)) $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_OPTIONS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/run_all.py

# Report languages (docs/languages.md): the English text is extracted from clc_lib, its templates and
# the notebooks named in babel.cfg; the Chinese catalogs are updated from it, translated, then compiled.
LOCALE := clc_lib/locale
i18n-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o $(LOCALE)/clc.pot --project=clc --copyright-holder="the clc authors" \
		-k N_ --add-comments=Translators: \
		--no-location --sort-output --width=100 .

i18n-update: $(STAMP)
	$(BIN)/pybabel update -i $(LOCALE)/clc.pot -d $(LOCALE) -D clc --width=100

i18n-compile: $(STAMP)
	$(BIN)/python -m clc_lib.i18n_extract --compile

i18n-check: $(STAMP)
	$(BIN)/python -m clc_lib.i18n_extract --check

clean:
	rm -rf $(VENV) data/processed/* reports/* .pytest_cache
