# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch==2.13.0 (a local CPU build) and rnnkit, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	THP_MEM_ALLOC_ENABLE=1 $(BIN)/python benchmarks/bench_core.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info
