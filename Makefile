# Two commands do all set-up on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0   # installed first: a CPU build; a bare `torch` would pull a multi-GB CUDA build

.PHONY: demo test install install-dev wheel lint bench docs clean

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

## dist/taskdistill_rl-VERSION-py3-none-any.whl, to install on any machine while the package is not on PyPI.
wheel:
	$(PYTHON) -m pip wheel --no-deps . -w dist/

## The main job on the embedded default: distil 1D and 2D ND cart-pole, print the evaluation table.
DEMO := runs/demo
demo: $(VENV)/.core
	$(BIN)/taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims=1 --time-budget 60 --target-return 495 --out $(DEMO)/cp1d --overwrite
	$(BIN)/taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims=2 --time-budget 150 --out $(DEMO)/cp2d --overwrite
	$(BIN)/taskdistill evaluate $(DEMO)/cp1d/distilled.pt $(DEMO)/cp2d/distilled.pt --n-learners 100 --episodes 100 --out $(DEMO) --overwrite

## Tests (pytest exits non-zero, 5, when it collects nothing: make fails then too) and the docs build.
test: $(VENV)/.dev
	$(BIN)/python -m pytest --durations=15
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d $$(mktemp -d)

lint: $(VENV)/.dev
	$(BIN)/ruff format --check taskdistill_rl tests benchmarks examples
	$(BIN)/ruff check taskdistill_rl tests benchmarks examples

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_env_throughput.py

docs: $(VENV)/.dev
	$(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) site build dist *.egg-info
