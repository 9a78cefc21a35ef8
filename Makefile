# The two README commands: `make run` and `make test`. Both set up everything they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha1sum | cut -c1-12)

.PHONY: run test lint format bench services clean

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Plugboard needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	# httpbin (the test upstream) pins an old greenlet it does not use; its real needs are in dev.txt.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/test-nodeps.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo
	@echo "Serving http://127.0.0.1:8000 (web, Celery worker and beat). Ctrl-C stops them all."
	$(BIN)/honcho -f Procfile.dev start

services: $(STAMP)
	$(BIN)/python scripts/ensure_test_services.py

test: services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python scripts/ensure_test_services.py --bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var staticfiles .cache .pytest_cache .ruff_cache
