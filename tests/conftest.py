"""Shared test setup: a fixed seed before every test and one CPU thread (the suite is tiny and
must not compete with benchmarks running beside it)."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
