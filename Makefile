# Every target bootstraps .venv in the repo root on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench lint clean contracts

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The Solidity toolchain (pinned solc, anvil) from the npm registry, when npm is there;
# without node the contract build tests skip and say why.
NODE_STAMP := contracts/node_modules/.installed
NODE_DEPS := $(if $(shell command -v npm 2>/dev/null),$(NODE_STAMP),)

$(NODE_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Regenerate the constraint evaluators from the AIRs' expressions and compile the contracts.
contracts: $(STAMP) $(NODE_STAMP)
	$(BIN)/python contracts/generate.py
	cd contracts && node build.js

demo: $(STAMP)
	$(BIN)/sealbatch demo

test: $(STAMP) $(NODE_DEPS)
	$(BIN)/python -m pytest -q -m "not slow and not postgres and not anvil"

test-all: $(STAMP) $(NODE_DEPS)
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
	@# mypy cannot follow the package-dir mapping: give it a sealbatch/ tree of links.
	rm -rf build/typecheck && mkdir -p build/typecheck/sealbatch
	cp sealbatch/__init__.py sealbatch/py.typed build/typecheck/sealbatch/
	for d in crypto auction settlement venue research; do ln -s ../../../$$d build/typecheck/sealbatch/$$d; done
	cd build/typecheck && MYPYPATH=. ../../$(BIN)/mypy --config-file ../../pyproject.toml -p sealbatch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache contracts/node_modules
