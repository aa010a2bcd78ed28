# Every target isolates itself from the machine's pip configuration.
export PIP_CONFIG_FILE := /dev/null
unexport PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_NO_INDEX
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit lint typecheck selfcheck docs pytest demo test-online bench clean lock

install: $(STAMP)

# The environment comes from lockbuild's own lock (requirements-dev.in compiled by
# lockbuild for CPython 3.11 on linux x86_64; `make lock` recompiles it).
DEV_LOCK := requirements-dev.txt
DEV_BUILD := requirements-dev-build.txt

$(STAMP): pyproject.toml $(DEV_LOCK) $(DEV_BUILD)
	$(PYTHON) -m venv $(VENV)
	# The locked pip first: it takes --build-constraint (the venv's own pip may be older).
	$(BIN)/python -m pip install -q --no-deps $$(grep '^pip==' $(DEV_LOCK))
	$(BIN)/python -m pip install -q --no-deps --build-constraint $(DEV_BUILD) -r $(DEV_LOCK)
	# lockbuild itself, built by the locked setuptools already in the venv.
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	# Wheels the hermetic tests serve from their fixture index (real setuptools for the
	# legacy-sdist test, a current pip for the new-pip sync route), at the locked versions.
	$(BIN)/python -m pip download -q --no-deps --only-binary :all: -d $(VENV)/wheelhouse \
		$$(grep -E '^(setuptools|pip)==' $(DEV_LOCK))
	touch $(STAMP)

# Recompile the development lock (existing pins are kept where still valid; pass
# LOCK_ARGS='-U' or LOCK_ARGS='-P NAME' to move them).
lock: install
	$(BIN)/lockbuild compile $(LOCK_ARGS) requirements-dev.in

# The development lock is up to date with requirements-dev.in (no network).
selfcheck: install
	$(BIN)/lockbuild check requirements-dev.in

lint: install
	$(BIN)/ruff check lockbuild tests
	$(BIN)/ruff format --check lockbuild tests

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q -n 2

# The reference site (docs/, mkdocs.yml), built strictly: a broken link fails (not with
# --quiet: it hides the warnings strict mode counts). Offline: mkdocs' own theme.
docs: install
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

test: lint typecheck selfcheck docs pytest

# The unit layer alone, tests/unit (pure code, in-memory fakes, tables of inputs): under
# a minute. Everything there is marked unit and nothing elsewhere is (tests/conftest.py).
test-unit: install
	$(BIN)/pytest -q -p no:xdist tests/unit

demo: install
	bash examples/abi/demo.sh

test-online: install
	$(BIN)/pytest -q -m online -p no:xdist -o addopts=''

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmark against pip-compile and uv (not part of `make test`; needs the network once):
#   make bench [BENCH_SETS=a,b,c,trio,jupyter,ha] [BENCH_INDEX=loopback|public|both]
#              [BENCH_REPEAT=3] [BENCH_COLD_REPEAT=2] [BENCH_GROWTH_SIZES=100,300,600]
#              [BENCH_MIRROR_STORE=DIR] [BENCH_LOCKBUILD_REF=HEAD]
#   (a second run on the same BENCH_MIRROR_STORE can skip the recording passes:
#    BENCH_ARGS=--skip-recording)
# Every tool is measured on a loopback copy of the public index (bench/mirror.py), filled
# by one cold run of each tool per set and then served locally; CPU (user + system of the
# process tree) is reported beside wall time. The default run (all six sets) takes about an
# hour on a quiet machine, most of it set ha. `python bench/run.py --help` lists the rest.
# Writes bench/RESULTS.md, bench/results.json and bench/growth.png; matplotlib for the plot
# lives in its own venv so the project's venv stays as `make install` made it.
BENCH_VENV := bench/.venv
BENCH_SETS ?= a,b,c,trio,jupyter,ha

$(BENCH_VENV)/.installed:
	$(BIN)/python -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check matplotlib
	touch $@

bench: install $(BENCH_VENV)/.installed
	BENCH_COMMAND='make bench BENCH_SETS=$(BENCH_SETS) $(BENCH_ARGS)' $(BIN)/python bench/run.py \
		--sets $(BENCH_SETS) --plot-python $(BENCH_VENV)/bin/python $(BENCH_ARGS)
