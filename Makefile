# Two commands do all set-up on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0   # installed first: a CPU build; a bare `torch` would pull a multi-GB CUDA build

.PHONY: demo test install install-dev lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.core

install: $(VENV)/.core
install-dev: $(VENV)/.dev

## The main job on the embedded default.
demo: $(VENV)/.core
	$(BIN)/taskdistill baseline --env NDCartPole-v0 --env-kwargs n_dims=2 --algo random --episodes 1000 --out runs/demo-random-2d

## Tests (pytest exits non-zero, 5, when it collects nothing: make fails then too) and the docs build.
test: $(VENV)/.dev
	$(BIN)/python -m pytest --durations=15
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d $$(mktemp -d)

lint: $(VENV)/.dev
	$(BIN)/ruff format --check taskdistill_rl tests benchmarks examples
	$(BIN)/ruff check taskdistill_rl tests benchmarks examples

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_env_throughput.py

docs: $(VENV)/.dev
	$(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) site build *.egg-info
