# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch==2.13.0 (a local CPU build) and rnnkit, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-adding bench-seq2seq lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BENCH_ENV) $(BIN)/rnnkit demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Huge pages and a malloc that keeps freed memory: page faults dominate timings on this VM
# otherwise (see BENCHMARKS.md). Both sides of every ratio run in the same process.
BENCH_ENV := THP_MEM_ALLOC_ENABLE=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736

bench: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_core.py

# Steps and time to solve the adding problem at T=100 and 200 (~30 min; T=400 and 1000 in
# BENCHMARKS.md).
bench-adding: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_adding.py --lengths 100 200 --reference

# Reversal by length with and without attention, then date normalization (~25 min). Multi30k
# needs the shared data: see BENCHMARKS.md.
bench-seq2seq: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_seq2seq.py reversal --steps 2000
	$(BENCH_ENV) $(BIN)/python benchmarks/bench_seq2seq.py dates --steps 2000

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts

clean:
	rm -rf $(VENV) build src/*.egg-info
