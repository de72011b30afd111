"""Stopping cleanly: SIGTERM and Ctrl-C checkpoint the step a run is on and stop it, also with
DataLoader workers making batches ahead of the loop (which must neither die of the signal nor
outlive the run); and the training batches, made here or by those workers."""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from collections.abc import Callable
from typing import Any

import torch


class StopSignals:
    """While training in one process, SIGTERM and SIGINT (Ctrl-C) ask the loop to checkpoint
    the step it is on and stop (a second one stops at once, or once the DataLoader workers are
    stopped: see held). Under torchrun the launcher
    handles signals: workers are stopped, and resume from the last evaluation's checkpoint."""

    def __init__(self, *, enabled: bool) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}
        self._holding = False
        self._second: str | None = None
        if not enabled or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            # Ignored (a background job's SIGINT) stays ignored; None: set outside Python,
            # which signal.signal could not put back.
            if previous is not signal.SIG_IGN and previous is not None:
                self._previous[sig] = signal.signal(sig, self._handle)

    @property
    def handled(self) -> tuple[int, ...]:
        return tuple(self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
        elif self._holding:
            self._second = name
        else:
            raise KeyboardInterrupt(f"stopped by a second {name}")

    @contextlib.contextmanager
    def held(self):
        """A second signal within the block stops the run when the block is done, not in
        the middle of it."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._second is not None:
            raise KeyboardInterrupt(f"stopped by a second {self._second}")

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


_STOPS = {signal.SIGTERM, signal.SIGINT}


@contextlib.contextmanager
def signals_blocked():
    """SIGTERM and SIGINT held pending in this thread (and in processes forked in the block,
    which inherit its mask) until the block is done."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _quiet_worker(worker_id: int, ignore: tuple[int, ...] = ()) -> None:
    """A DataLoader worker leaves Ctrl-C (SIGINT, sent to the whole foreground group) and the
    signals ``ignore`` (those the training process handles: a scheduler's SIGTERM, often sent
    to the whole process group) to the training process, which checkpoints, stops its
    workers itself (_stop_workers) and exits. Left to torch's handler (run before this), a
    SIGTERM not from the parent kills the worker, and the parent's SIGCHLD handler raises
    "DataLoader worker ... is killed by signal" at whatever line it is on. A worker that dies
    any other way (an out-of-memory kill) is still reported that way, an error."""
    for sig in {signal.SIGINT, *ignore}:
        signal.signal(sig, signal.SIG_IGN)
    # Forked with them blocked (_signals_blocked): ignored now, a pending one is dropped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def stop_workers(batches) -> None:
    """Stop the DataLoader workers of the iterator ``batches``, if it has any. Waiting for
    garbage collection is not enough: at interpreter exit torch's shutdown does nothing and
    multiprocessing SIGTERMs (ignored, see _quiet_worker) and joins the workers, which wait
    for their parent's next index forever. torch's shutdown tells them to stop; one still
    alive after it (busy beyond its 10 s of joins) is killed."""
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is None:  # made in this process: nothing to stop
        return
    try:
        shutdown()
    finally:
        for worker in batches._workers:
            if worker.is_alive():
                worker.kill()
                worker.join()


def _as_made(batch):
    """A DataLoader's collate_fn that leaves the task's batch as the task made it."""
    return batch


class _StepBatches(torch.utils.data.Dataset):
    """Item i: the batch of the i-th step of ``steps``, made by ``part(step)``."""

    def __init__(self, part, steps: range) -> None:
        self.part, self.steps = part, steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int):
        return self.part(self.steps[i])


def step_batches(part: Callable[[int], Any], steps: range, *, workers: int, seed: int,
                 ignore: tuple[int, ...] = ()):  # fmt: skip
    """The batches ``part(step)`` of ``steps``, in order: made here (``workers`` 0) or ahead of
    time by a DataLoader's ``workers`` processes, which ignore SIGINT and the signals
    ``ignore`` (see _quiet_worker); ``seed`` seeds their generator."""
    if not workers:
        return (part(s) for s in steps)
    from torch.utils.data import DataLoader

    return DataLoader(_StepBatches(part, steps), batch_size=None, num_workers=workers,
                      collate_fn=_as_made, prefetch_factor=4,
                      worker_init_fn=functools.partial(_quiet_worker, ignore=ignore),
                      # Its own generator: seeding the workers would otherwise draw from the
                      # global RNG, so dropout (and a resumed run) would differ.
                      generator=torch.Generator().manual_seed(seed))  # fmt: skip
