# Songyang care portal. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 5000
TEST_SEED ?=
# Random order on every run (pytest-randomly), the seed printed; TEST_SEED=N repeats an order.
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -p randomly $(if $(TEST_SEED),--randomly-seed=$(TEST_SEED))
CATALOGUES := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

.PHONY: install run test test-sqlite test-postgres lint format bench translations chromium clean

install: $(STAMP) $(COMPILED)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ >/dev/null

run: install
	$(FLASK) portal init
	$(FLASK) content load
	$(FLASK) search catch-up
	$(FLASK) portal demo
	@echo "Serving on http://$(HOST):$(PORT) with the scheduler beside it (Ctrl-C stops both)"
	@$(FLASK) scheduler run & scheduler=$$!; \
	trap 'kill -TERM $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

test: install chromium
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	@echo "== tests on SQLite =="
	$(PYTEST)

test-postgres: install
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
	  echo "== tests on PostgreSQL ($(TEST_DATABASE_URL)) =="; \
	  TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(PYTEST) && \
	  { [ -z "$$POSTGRES_RUN_MARKER" ] || touch "$$POSTGRES_RUN_MARKER"; }; \
	else \
	  echo "No PostgreSQL answers at $(TEST_DATABASE_URL): the PostgreSQL run is skipped."; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

translations: install  # lists messages still lacking a zh_CN translation
	$(BIN)/python scripts/translate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache portal/translations/*/LC_MESSAGES/*.mo
