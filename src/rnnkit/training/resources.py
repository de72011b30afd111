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
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import ResourceError

# Moments per parameter each optimizer keeps without momentum (a momentum buffer is one more).
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


def check_model(build, optimizer: str, device: torch.device, momentum: float = 0.0) -> None:
    """Refuse a model whose weights, gradients and optimizer state exceed the free memory.

    Args:
        build: a function building the model; it is called under ``torch.device("meta")``.
        optimizer: the optimizer's name (its moments count too), with its ``momentum``.
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
    size = sum(p.numel() * p.element_size() for _, p in params)
    need = size * (2 + optimizer_slots(optimizer, momentum))
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
    from rnnkit.training.checkpoint import rng_state, set_rng_state

    saved = rng_state()
    try:
        yield
    finally:
        set_rng_state(*saved)


def saved_bytes(forward, budget: float, *, exclude: set[int] = frozenset()) -> int | None:
    """Bytes of the tensors autograd saves while ``forward()`` runs (each storage once, none
    whose storage address is in ``exclude``: the parameters), or None as soon as they pass
    ``budget`` (the forward is abandoned there)."""
    seen: set[int] = set(exclude)
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
    except (_Full, torch.OutOfMemoryError):  # out of memory: over any budget the device has
        return None
    except RuntimeError as e:
        if "can't allocate memory" not in str(e):  # the CPU allocator's words
            raise
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
    exclude: set[int] = frozenset(),
    fixed: int = 0,
) -> None:
    """Refuse a training step whose saved activations, with the gradients and optimizer state
    still to be allocated, exceed the free memory.

    One sequence's activations are the difference between a batch of two copies of it and a
    batch of one: what does not grow with the batch (weights a matmul saves, their bfloat16
    copies under autocast) cancels out.

    Args:
        forward: ``forward(n)`` runs the model and its loss on a batch of ``n`` copies of the
            longest training sequence (every RNG is restored afterwards, so it may draw);
            ``n`` is 1 or 2, or only 1 where ``forward(2)`` raises NotImplementedError.
        batch_size: the sequences of a training step.
        state_bytes: gradients and optimizer moments, allocated at the first step.
        device: where training runs.
        sequence: the shape of one sequence, for the message (e.g. ``"100x2"``).
        scale: how many times longer a training sequence is than the one ``forward`` runs
            (a prefix: activations grow linearly with the length).
        exclude: storage addresses never counted (the model's parameters and buffers).
        fixed: the most ``forward(1)`` may save that does not grow with the batch (copies of
            the weights); allowed on top of one sequence's share before giving up.
    """
    free = available_memory(device)
    if free is None:
        return
    per_budget = (free - state_bytes) / batch_size / scale
    fits = per_budget > 0
    with _rng_kept():
        one = saved_bytes(lambda: forward(1), per_budget + fixed, exclude=exclude) if fits else None
        fits = one is not None
        if fits and batch_size > 1:  # one sequence a step: its measure is the whole answer
            try:
                two = saved_bytes(lambda: forward(2), one + per_budget, exclude=exclude)
            except NotImplementedError:  # a batch that cannot be copied: one sequence's all
                two = 2 * one
            fits = two is not None and two - one <= per_budget
    if fits:
        return
    raise ResourceError(
        f"train.batch_size: one training step of {batch_size} sequences ({sequence} each) "
        f"would need more than the {gib(free)} free on {device.type} (one sequence's "
        f"activations pass {gib(max(per_budget * scale, 0))}, its 1/{batch_size} share after "
        f"{gib(state_bytes)} for gradients and optimizer state); lower --batch-size or "
        "--seq-len, shorten the inputs, or set --tbptt"
    )


def optimizer_slots(optimizer: str, momentum: float = 0.0) -> int:
    """Moments the optimizer keeps per parameter."""
    return _SLOTS.get(optimizer, 2) + (optimizer in ("sgd", "rmsprop") and momentum > 0)
