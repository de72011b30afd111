"""Resource guards: refuse, before any work, a run that would not fit in memory.

Two checks, both against the memory the device has free (``MemAvailable`` on Linux for the CPU,
``torch.cuda.mem_get_info`` for a GPU):

1. :func:`check_model`, before the model exists: its parameters counted on the ``meta`` device
   (no memory touched), times weights, gradients and the optimizer's moments. A vocabulary or a
   hidden size far too large fails here, not in the allocator or the OOM killer.
2. :func:`check_step`, after: the tensors autograd saves for the backward pass of one training
   sequence, counted by a saved-tensor hook while a one-sequence forward runs, times the batch
   size. The forward stops as soon as the count passes what the whole batch may use, so a huge
   sequence length is found without allocating it.

The estimates are lower bounds (the backward pass needs gradient buffers on top), so a run they
refuse would not fit; ``--no-memory-check`` turns both off. Evaluation needs no guard of its own:
it runs without a graph in batches of ``eval_batch_size``.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.errors import ResourceError

# Moments per parameter each optimizer keeps at least (SGD's momentum buffer only with momentum).
_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 0}


def available_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` now; None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"


def check_model(build, optimizer: str, device: torch.device) -> None:
    """Refuse a model whose weights, gradients and optimizer state exceed the free memory.

    Args:
        build: a function building the model; it is called under ``torch.device("meta")``.
        optimizer: the optimizer's name (its moments count too).
        device: where training will run.
    """
    free = available_memory(device)
    if free is None:
        return
    try:
        with torch.device("meta"):
            model: nn.Module = build()
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta is not estimated
        return
    params = list(model.named_parameters())
    count = sum(p.numel() for _, p in params)
    need = sum(p.numel() * p.element_size() for _, p in params) * (2 + optimizer_slots(optimizer))
    if need <= free:
        return
    name, largest = max(params, key=lambda item: item[1].numel())
    raise ResourceError(
        f"model: {count:,} parameters need at least {gib(need)} for weights, gradients and "
        f"{optimizer} state, but {device.type} has {gib(free)} free; the largest is {name} "
        f"{tuple(largest.shape)} (lower --hidden, --embed or --max-vocab)"
    )


class _Full(Exception):
    """Raised inside the forward pass once the saved tensors pass the budget."""


@contextlib.contextmanager
def _rng_kept():
    """Leave every RNG as it was: the measurement must not change the run it measures."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        yield
    random.setstate(python)
    np.random.set_state(numpy)


def saved_bytes(forward, budget: float) -> int | None:
    """Bytes of the tensors autograd saves while ``forward()`` runs (each storage once), or
    None as soon as they pass ``budget`` (the forward is abandoned there)."""
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> Any:
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
            if total > budget:
                raise _Full
        return t

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward()
    except _Full:
        return None
    return total


def check_step(
    forward,
    *,
    batch_size: int,
    state_bytes: int,
    device: torch.device,
    sequence: str,
    scale: float = 1.0,
) -> None:
    """Refuse a training step whose saved activations, with the gradients and optimizer state
    still to be allocated, exceed the free memory.

    Args:
        forward: runs the model and its loss on a batch of ONE training sequence (every RNG
            is restored afterwards, so it may draw).
        batch_size: the sequences of a training step.
        state_bytes: gradients and optimizer moments, allocated at the first step.
        device: where training runs.
        sequence: the shape of one sequence, for the message (e.g. ``"100x2"``).
        scale: how many times longer a training sequence is than the one ``forward`` runs
            (a prefix: activations grow linearly with the length).
    """
    free = available_memory(device)
    if free is None:
        return
    budget = (free - state_bytes) / batch_size / scale
    with _rng_kept():
        per_sequence = saved_bytes(forward, budget) if budget > 0 else None
    if per_sequence is not None:
        return
    raise ResourceError(
        f"train.batch_size: one training step of {batch_size} sequences ({sequence} each) "
        f"would need more than the {gib(free)} free on {device.type} (one sequence's "
        f"activations pass {gib(max(budget * scale, 0))}, its 1/{batch_size} share after "
        f"{gib(state_bytes)} for gradients and optimizer state); lower --batch-size or "
        "--seq-len, shorten the inputs, or set --tbptt"
    )


def optimizer_slots(optimizer: str) -> int:
    """Moments the optimizer keeps per parameter."""
    return _SLOTS.get(optimizer, 2)
