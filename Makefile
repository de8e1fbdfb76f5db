# The two commands of the README:
#   make run    set up .venv on first use, execute every notebook headless (cpu profile) into runs/cpu/
#   make test   set up .venv on first use, run the whole test suite (unit tests, docstring examples, every notebook at the smoke profile)
# Variables: PROFILE=smoke|cpu|paper for `make run`, PYTEST_ARGS for `make test`, PYTHON for the interpreter.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= cpu
PYTEST_ARGS ?=

.PHONY: run test unit setup figures clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ralib)"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m ralib.run --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# the fast unit suite alone, without executing notebooks
unit: $(STAMP)
	$(PY) -m pytest -m "not notebooks" $(PYTEST_ARGS)

# copy the figures of the reference cpu run into figures/ for the README
figures: $(STAMP)
	$(PY) -c "from ralib.run import publish_figures; print(len(publish_figures('cpu')), 'figures copied')"

clean-venv:
	rm -rf $(VENV)
