"""Shared test setup: a fixed seed before every test and one CPU thread (the suite is tiny and
must not compete with benchmarks running beside it; OMP_NUM_THREADS=1, which subprocesses and
the trainer's `--threads auto` keep). Execution paths follow the fixed rules
(RNNKIT_MEASURE_PATHS=0), so that which path runs does not depend on this machine's timings;
tests/layers/test_paths.py turns measuring on."""

import os

os.environ["RNNKIT_MEASURE_PATHS"] = "0"  # before rnnkit is imported; subprocesses inherit it
# One thread in every process the suite starts too: `--threads auto` keeps OMP_NUM_THREADS.
os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
