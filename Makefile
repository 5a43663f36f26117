# `make run`: set up .venv and run the quick demo; `make test`: set up and run the whole test suite
# (`make test-quick`: without the slow end-to-end searches; `make lint`: ruff's checks and formatting).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DISTRIBUTIONS := -e 'kernel[plot]' -e plugins/nas -e plugins/networks -e plugins/hpo -e plugins/ada

.PHONY: install run test test-quick lint
install: $(VENV)/.installed

$(VENV)/.installed: constraints.txt requirements-dev.txt pyproject.toml kernel/pyproject.toml plugins/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned, so that no later install can swap in another build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt $(DISTRIBUTIONS) -r requirements-dev.txt
	touch $@

run: install
	$(BIN)/hbk run

test: install
	$(BIN)/pytest

test-quick: install
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

