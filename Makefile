# Every target bootstraps .venv in the repo root on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench lint clean contracts
.PHONY: explorer test-browser explorer-assets explorer-check screenshots

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

# A live venue with seeded traders; the batch explorer at http://127.0.0.1:8000/ (Ctrl-C stops).
explorer: $(STAMP)
	$(BIN)/sealbatch demo --serve

# The explorer's front-end packages: installed at the versions pinned in
# venue/explorer/package-lock.json and copied into venue/explorer/static/vendor/
# (committed, so the venue needs neither npm nor a network to serve the page).
NPM_CI := npm ci --ignore-scripts --no-audit --no-fund --prefix venue/explorer
explorer-assets: $(STAMP)
	$(NPM_CI)
	$(BIN)/python -m sealbatch.venue.explorer.assets vendor

# The committed copies are byte for byte what the lock file installs.
explorer-check: $(STAMP)
	$(NPM_CI)
	$(BIN)/python -m sealbatch.venue.explorer.assets check

# docs/explorer-*.png from a live venue in headless Chromium.
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

# One pytest worker per core (at most 4: each worker holds its own proofs in memory).
PYTEST_WORKERS = -n auto --maxprocesses 4 --dist loadscope

test: $(STAMP) $(NODE_DEPS)
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS) -m "not slow and not postgres and not anvil and not browser"

test-all: $(STAMP) $(NODE_DEPS)
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS)

# The explorer in headless Chromium (needs Debian's chromium; .ci/run installs it).
test-browser: $(STAMP)
	$(BIN)/python -m pytest -q -m browser

bench: $(STAMP)
	$(BIN)/python bench/clearing.py
	$(BIN)/python bench/stark.py --quiet
	$(BIN)/python bench/settlement.py --repeat 3
	$(BIN)/python bench/api.py
	$(BIN)/python bench/lab.py
	$(BIN)/python bench/gas.py --min-log 12 --max-log 12

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
