# Every target bootstraps .venv in the repo root on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sealbatch demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not postgres"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/clearing.py
	$(BIN)/python bench/stark.py --quiet
	$(BIN)/python bench/settlement.py --repeat 3
	$(BIN)/python bench/api.py
	$(BIN)/python bench/lab.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crypto auction settlement venue research

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
