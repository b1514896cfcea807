# Two commands do all the set-up on a fresh machine (no network needed beyond the package index):
#   make demo   - create .venv, install recpilot, run `recpilot demo`
#   make test   - create .venv, install recpilot with its test extras, lint, type-check, run the tests
PYTHON ?= python3
VENV ?= .venv
# llama-cpp-python (the local-llm extra) compiles from source: build it for the portable x86-64
# instruction set, not -march=native, whose AVX-512/AMX kernels crashed (SIGSEGV/GPF in libggml-cpu) on
# some CPUs. Set CMAKE_ARGS yourself to override.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
PIP = $(VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

.PHONY: demo test install install-test browser lint typecheck bench

install: $(VENV)/bin/python
	$(PIP) .

install-test: $(VENV)/bin/python
	$(PIP) -e ".[test]"

demo: install
	$(VENV)/bin/recpilot demo

browser:
	bash scripts/install-browser.sh

test: install-test browser
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -m "not slow" -q

lint:
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck:
	$(VENV)/bin/mypy

bench:
	$(VENV)/bin/python benchmarks/compare_peers.py
