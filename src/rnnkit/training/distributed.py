"""Data-parallel training on torch.distributed: the launcher behind ``rnnkit train --nproc N`` and
the few collective steps the trainer needs.

Every worker builds the same model from the same seed, takes its own rows of each global batch
(``--batch-size`` is the global batch: rank r of W takes rows [r B/W, (r+1) B/W)), and
DistributedDataParallel averages the gradients, so a step on W workers is a step on the whole
batch. Batches are a pure function of (seed, step), so every worker knows every batch without
talking to the others: for file-based tasks this is a distributed sampler that reshuffles each
epoch. Rank 0 alone validates (and shares the result), logs, plots and writes checkpoints; the
checkpoint holds the unwrapped model, so it loads in one process.

Workers find each other through the environment torchrun sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist

from rnnkit.errors import ConfigError


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context() -> Context:
    """This process's place, from the variables torchrun sets (one process if unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    return Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group if torchrun started this process; returns the context and the
    device this worker uses (``cuda:LOCAL_RANK`` when training on CUDA)."""
    ctx = context()
    if not ctx.enabled:
        return ctx, device
    if device.type == "cuda":
        check_gpus(ctx.local_rank + 1)
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ctx, device


def check_gpus(workers: int) -> None:
    """Raise :class:`~rnnkit.errors.ConfigError` unless this machine has a GPU for each of
    ``workers`` CUDA workers (NCCL cannot share one GPU between two ranks)."""
    have = torch.cuda.device_count()
    if workers > have:
        raise ConfigError(
            f"CUDA data-parallel training needs one GPU per worker: {workers} workers on this "
            f"machine, {have} GPU(s) visible (fewer --nproc, or --device cpu)"
        )


def mean(values: dict[str, float], ctx: Context, device: torch.device) -> dict[str, float]:
    """Each value averaged over the workers (the logged training loss and gradient norm)."""
    if not ctx.enabled:
        return values
    names = list(values)
    t = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(names, (t / ctx.world_size).tolist(), strict=True))


def share(obj: Any, ctx: Context) -> Any:
    """Rank 0's ``obj`` on every worker (validation metrics, the decision to stop)."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


# -- the launcher ----------------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    """A worker process ended with an error; the message names its rank."""


# The exit status of a worker that stopped because another one vanished (the launcher then
# names the one that vanished, not the ones that noticed).
PEER_LOST = 3


def lost_peer(error: BaseException) -> bool:
    """Whether ``error`` is a collective failing because another worker is gone."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("Connection closed by peer", "Connection reset by peer", "NCCL error")
    )


def launch(argv: list[str], nproc: int, run_dir: str | None = None) -> None:
    """Run ``rnnkit <argv>`` in ``nproc`` worker processes on this machine (torch's elastic
    launcher, as ``torchrun --standalone --nproc-per-node nproc -m rnnkit ...``).

    Raises:
        WorkerFailed: a worker died or raised; names the first failed rank, how it ended, and
            (with ``run_dir``) that the last checkpoint there is intact.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id="rnnkit",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, like torchrun --standalone
        max_restarts=0,
        monitor_interval=0.5,
    )
    # The launcher's own log lines repeat what the message below says, less plainly.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, sys.executable)("-m", "rnnkit", *argv)
    except ChildFailedError as e:
        # The culprit: not one the launcher stopped (SIGTERM), not one that lost its peers.
        def innocence(item):
            rank, failure = item
            return (failure.exitcode in (-signal.SIGTERM, PEER_LOST), failure.timestamp, rank)

        rank, failure = min(e.failures.items(), key=innocence)
        raise WorkerFailed(_describe(rank, failure, nproc, run_dir)) from None
    except SignalException as e:  # the launcher itself was told to stop (kill, Ctrl-C)
        message = f"stopped by {signal.Signals(e.sigval).name}; the workers were stopped"
        raise WorkerFailed(message + _intact(run_dir)) from None


def _describe(rank: int, failure: Any, nproc: int, run_dir: str | None) -> str:
    code = failure.exitcode
    if code is not None and code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with status {code}"
    message = f"worker rank {rank} of {nproc} {how}; the other workers were stopped"
    return message + _intact(run_dir)


def _intact(run_dir: str | None) -> str:
    if run_dir is None:
        return ""
    return f"; the last checkpoint in {run_dir} is intact (--resume {run_dir})"
