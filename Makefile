# Every target isolates itself from the machine's pip configuration.
export PIP_CONFIG_FILE := /dev/null
unexport PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_NO_INDEX
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo test-online bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# Wheels the hermetic tests serve from their fixture index (real setuptools for the
	# legacy-sdist test, a current pip for the new-pip sync route).
	$(BIN)/python -m pip download -q --no-deps --only-binary :all: -d $(VENV)/wheelhouse setuptools pip
	touch $(STAMP)

lint: install
	$(BIN)/ruff check lockbuild tests
	$(BIN)/ruff format --check lockbuild tests

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q -n 2

test: lint typecheck pytest

demo: install
	bash examples/abi/demo.sh

test-online: install
	$(BIN)/pytest -q -m online -p no:xdist -o addopts=''

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
