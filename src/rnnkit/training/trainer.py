"""The training loop: a plain class configured by a frozen :class:`RunConfig`.

One step: draw the step's batch from the task, forward (optionally under bf16 autocast, or in
truncated-BPTT chunks), backward, measure the global gradient norm, clip, optimizer step,
schedule step, log. Every ``eval_every`` steps: validate, step a plateau schedule, write the
last checkpoint (and the best), check early stopping and the task's target. At the end:
test metrics, ``summary.json`` and the loss-curve PNG.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

import rnnkit
from rnnkit.tasks import build_task, registry
from rnnkit.tasks.base import StepContext, Task
from rnnkit.training import checkpoint as ckpt
from rnnkit.training import distributed, resources, stopping, threads
from rnnkit.training.config import ConfigError, RunConfig, load_file, save
from rnnkit.training.log import MetricsLog, read_metrics
from rnnkit.training.optim import build_optimizer, build_scheduler

# load_run and format_summary are used through this module too (rnnkit.load_run, the CLI).
from rnnkit.training.runs import default_run_dir, format_summary, load_run, same_model  # noqa: F401

# The memory guard measures sequences of plain tensors on their first this many steps.
MEASURED_STEPS = 512


@dataclass
class Run:
    """A finished (or stopped) training run.

    Attributes:
        run_dir: where everything was written.
        config: the resolved config.
        summary: the contents of ``summary.json`` (final validation and test metrics, steps,
            wall time, parameter count, when the target was reached, why training stopped).
        model: the trained model with the best checkpoint's weights, in eval mode.
        task: the task it was trained on.

    In data-parallel training only rank 0 evaluates and reports: on the other workers
    ``summary`` and ``history`` are empty and ``model`` holds the last step's weights.
    """

    run_dir: Path
    config: RunConfig
    summary: dict[str, Any]
    model: nn.Module
    task: Task
    history: list[dict[str, float]] = field(default_factory=list, repr=False)

    @property
    def metrics(self) -> dict[str, float]:
        """Final test metrics by name."""
        return self.summary["test"]


def build_model(config: RunConfig, task: Task, *, initialize: bool = True) -> nn.Module:
    """The model ``config.model`` describes for ``task`` (its ``build_model`` hook), initialized
    as configured (draws from torch's global RNG: seed it first)."""
    if config.model.hidden == "auto":
        config = config.replace(hidden=type(task).hidden_size(config))
    return task.build_model(config, initialize=initialize)


def _repeat(x: Any, copies: int) -> Any:
    """A batch of ``copies`` copies of the one-row batch ``x`` (a tensor or a tuple of them,
    batch first); NotImplementedError for other batches (trees)."""
    if copies == 1:
        return x
    if isinstance(x, Tensor):
        return x.expand(copies, *x.shape[1:]).contiguous()
    if isinstance(x, tuple) and all(v is None or isinstance(v, Tensor) for v in x):
        parts = [v if v is None else _repeat(v, copies) for v in x]
        return type(x)(*parts) if hasattr(x, "_fields") else tuple(parts)
    raise NotImplementedError(f"cannot copy a {type(x).__name__} batch")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} asked for, but torch sees no CUDA device")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def global_norm(params: list[nn.Parameter]) -> float:
    """The L2 norm of all gradients together (0.0 when there are none)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in grads])
    ).item()


def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    *,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    **decoding: Any,
) -> dict[str, float]:
    """Score ``model`` on the task's fixed ``split`` ("valid" or "test"); ``decoding``
    (``beam``, ``length_penalty``) applies to sequence-to-sequence tasks."""
    return task.evaluate(model, split, batch_size=batch_size, device=device, bf16=bf16, **decoding)


class Trainer:
    """Train the model a :class:`RunConfig` describes; see the module docstring.

    Args:
        config: the resolved config.
        resume: continue the run in ``config.train.out`` from its last checkpoint.

    Example::

        >>> cfg = RunConfig().replace(steps=50, seq_len=20, quiet=True, out="/tmp/r")
        >>> run = Trainer(cfg).fit()  # doctest: +SKIP
        >>> run.summary["test"]["mse"]  # doctest: +SKIP
    """

    def __init__(self, config: RunConfig, *, resume: bool = False) -> None:
        task_cls = registry.task_class(config.task.name)
        # The run records the model it trains and its size, not 'auto'.
        config = config.replace(model=task_cls.model_name(config),
                                hidden=task_cls.hidden_size(config))  # fmt: skip
        t = config.train
        out = t.out or default_run_dir(config)
        config = config.replace(out=str(out))
        self.config = config
        self.run_dir = Path(out)
        if not resume and (self.run_dir / "checkpoints").exists():
            raise ConfigError(
                f"train.out: {self.run_dir} already holds a run; resume it with --resume "
                f"{self.run_dir} or choose another --out"
            )
        # Ranks on this host and DataLoader workers share its CPUs (torchrun also sets
        # OMP_NUM_THREADS, which 'auto' keeps).
        local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        # A switch of thread count changes float rounding: --deterministic keeps one count.
        self.threads = threads.apply_policy(t.threads, processes=local_ranks * (1 + t.workers),
                                            adaptive=not t.deterministic)  # fmt: skip
        # Under torchrun: join the workers (gloo or NCCL) and take this worker's GPU.
        self.dist, self.device = distributed.setup(resolve_device(t.device))
        if t.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        saved = None
        self.started_over = False
        if (
            resume
            and not ckpt.complete_dirs(self.run_dir)
            and not (self.run_dir / "checkpoints" / "last.json").is_file()
        ):
            # Killed before its first checkpoint: with a fixed seed, starting over is exact.
            resume = False
            self.started_over = True
            if not config.train.quiet:
                print(f"{self.run_dir}: no checkpoint yet; starting the run over", file=sys.stderr)
        if resume:
            # The task's own state (a vocabulary) comes from the checkpoint, not the data.
            self._resume_from = ckpt.checkpoint_dir(self.run_dir, "last")
            self._resume_state = ckpt.read_state(self._resume_from)
            same_model(config, self._resume_state, self._resume_from)
            saved = self._resume_state.get("task")
        task_cls.check(config)
        # A task may fill in fields its files fix (an embeddings file's dimension); the saved
        # config records them, so a loaded run needs the files no more.
        if not resume:
            config = task_cls.resolve_config(config)
            self.config = config
        self.task = build_task(config.task, saved)
        self.task.load()
        if t.steps == "auto":  # the task's length for its data; the run records the number
            config = config.replace(steps=self.task.default_steps(t.batch_size))
            self.config, t = config, config.train
        self._check_metric(config, self.task)
        seed_everything(t.seed)
        if t.memory_check:
            resources.check_model(
                lambda: build_model(config, self.task, initialize=False),
                config.optim.optimizer,
                self.device,
                config.optim.momentum,
            )
        # Resuming loads every weight (and the RNG state) from the checkpoint: no initialization.
        self.model = build_model(config, self.task, initialize=not resume).to(self.device)
        # The module the training steps call: under torch.distributed, DDP around the model,
        # averaging gradients over the workers. Evaluation and checkpoints use the model itself.
        self.net: nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model)
            # Same initial weights everywhere (one seed), then a different dropout stream each.
            torch.manual_seed(t.seed + self.dist.rank)
            W = self.dist.world_size
            if t.batch_size % W:
                raise ConfigError(
                    f"train.batch_size: {t.batch_size} does not split evenly over {W} workers "
                    "(it is the global batch; each worker takes batch_size / workers rows)"
                )
            if t.tbptt:
                raise ConfigError("train.tbptt: not with several workers (its chunks bypass DDP)")
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config.optim)
        self.main_metric = t.early_stopping or next(iter(self.task.metrics))
        self.direction = (
            "min" if self.main_metric == "loss" else self.task.metrics[self.main_metric]
        )
        self.scheduler = build_scheduler(
            self.optimizer, config.optim, total_steps=t.steps, mode=self.direction
        )
        self.step = 0
        self.elapsed = 0.0
        self.best: dict[str, Any] = {"step": None, "value": None, "metrics": None}
        self.bad_evals = 0
        self.reached: dict[str, Any] | None = None
        self.nonfinite = 0  # non-finite steps in a row
        self.skipped = 0  # non-finite steps in all
        self._improved = False
        self.flow_history = None  # rank 0 with train.grad_flow_every: RUN_DIR/grad_flow.jsonl
        if resume:
            self._restore()
        if t.memory_check and not t.tbptt:
            self._check_memory()

    # -- set-up ---------------------------------------------------------------------------------
    @staticmethod
    def _check_metric(config: RunConfig, task: Task) -> None:
        t = config.train
        allowed = ["loss", *task.metrics]
        if t.early_stopping is not None and t.early_stopping not in allowed:
            raise ConfigError(
                f"train.early_stopping: task {task.name!r} has no metric {t.early_stopping!r}; "
                f"allowed: {', '.join(allowed)}"
            )

    def _restore(self) -> None:
        state = ckpt.load_training_state(
            self._resume_from, model=self.model, optimizer=self.optimizer,
            scheduler=self.scheduler, state=self._resume_state,
        )  # fmt: skip
        self.step = state["step"]
        self.elapsed = state["elapsed_s"]
        self.best = state["best"]
        self.bad_evals = state["bad_evals"]
        self.reached = state["reached"]
        self.skipped = state.get("skipped", 0)
        self.nonfinite = state.get("nonfinite", 0)
        if self.best["step"] is not None:
            ckpt.point_best(self.run_dir, self.best["step"])
        if state["carry"] and not self.dist.enabled:  # see _save_checkpoint
            self.task.load_carried(state["carry"], self.device)

    def _check_memory(self) -> None:
        """Refuse a training step that would not fit: see :mod:`rnnkit.training.resources`."""
        t, o = self.config.train, self.config.optim
        x, y = self.task.longest_example(t.seed)
        steps = self.task.steps_of(x)
        sequence = "x".join(str(n) for n in steps.shape[1:])
        T, scale = steps.shape[1], 1.0
        if isinstance(x, Tensor) and T > MEASURED_STEPS:
            # Activations grow linearly with the length, and a long forward pass is slow (the
            # fused kernel runs it whole before the guard sees anything): measure a prefix.
            # Copies: a view would keep (and be counted with) the whole sequence's storage.
            if y.dim() >= 2 and y.shape[1] == T:
                y = y[:, :MEASURED_STEPS].clone()
            x, scale = x[:, :MEASURED_STEPS].clone(), T / MEASURED_STEPS
        x, y = x.to(self.device), y.to(self.device)

        def forward(copies: int) -> None:
            xs, ys = _repeat(x, copies), _repeat(y, copies)
            with self._autocast():
                self.task.loss(self.task.forward(self.model, xs), ys)

        weights = [*self.model.parameters(), *self.model.buffers()]
        size = sum(p.numel() * p.element_size() for p in self.params)
        slots = 1 + resources.optimizer_slots(o.optimizer, o.momentum)
        # Each GPU holds its worker's rows; CPU workers share one machine's memory.
        workers = self.dist.world_size
        on_gpu = self.device.type == "cuda"
        self.model.eval()  # no dropout masks drawn, no batch-norm statistics updated
        try:
            resources.check_step(
                forward,
                batch_size=t.batch_size // workers if on_gpu else t.batch_size,
                state_bytes=size * slots if on_gpu else size * slots * workers,
                device=self.device,
                sequence=sequence,
                scale=scale,
                exclude={w.untyped_storage().data_ptr() for w in weights},
                fixed=size,
            )
        finally:
            self.model.train()

    # -- one step -------------------------------------------------------------------------------
    def _autocast(self):
        bf16 = self.config.train.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)

    def _forward_backward(self, x: Any, y: Any) -> float:
        """Accumulate gradients of the step's loss (the task's training step); returns it."""
        t = self.config.train
        ctx = StepContext(
            self.model, self.step, t.steps, t.batch_size, t.tbptt, t.precision, self.device
        )
        return self.task.train_step(self.net, x, y, ctx)

    def train_step(self, x: Any, y: Tensor) -> dict[str, float]:
        """One optimizer step on batch ``(x, y)``; returns the step's logged numbers."""
        o = self.config.optim
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        every = self.config.train.grad_flow_every
        probe = None
        # x is a Tensor or a task's tuple of inputs (Seq2SeqInputs); both move with .to().
        if every and self.step % every == 0:
            from rnnkit.diagnostics import recording

            with recording() as probe:
                loss = self._forward_backward(x.to(self.device), y.to(self.device))
            if self.flow_history is not None:
                self.flow_history.write(self.step, probe, self.model)
        else:
            loss = self._forward_backward(x.to(self.device), y.to(self.device))
        norm = global_norm(self.params)
        row = {"lr": self.optimizer.param_groups[0]["lr"], "loss": loss, "grad_norm": norm}
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self.nonfinite += 1
            self.skipped += 1
            row["grad_norm_clipped"] = float("nan")
            limit = self.config.train.max_nonfinite
            if self.nonfinite >= limit:
                raise FloatingPointError(
                    f"step {self.step}: non-finite loss or gradient in {limit} steps "
                    f"in a row (last loss {loss}, gradient norm {norm}); lower optim.lr or set "
                    f"optim.clip; the last checkpoint in {self.run_dir} is intact"
                )
            if not self.config.train.quiet and self.dist.is_main:
                from tqdm.auto import tqdm

                tqdm.write(
                    f"step {self.step}: non-finite loss ({loss}) or gradient norm ({norm}); "
                    f"update skipped ({self.nonfinite} in a row, training stops at {limit})",
                    file=sys.stderr,
                )
            # State carried between batches came out of the same forward pass: carried on,
            # it would make every following step non-finite too.
            self.task.forget_carried()
            return row  # skip the update; the step counter still advances
        self.nonfinite = 0
        if o.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, o.clip)
        if o.clip_value > 0:
            torch.nn.utils.clip_grad_value_(self.params, o.clip_value)
        row["grad_norm_clipped"] = global_norm(self.params) if (o.clip or o.clip_value) else norm
        self.optimizer.step()
        if not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
        return row

    # -- the loop -------------------------------------------------------------------------------
    def fit(self) -> Run:
        """Train until ``steps``, early stopping, the target or ``max_time``; return the run."""
        from tqdm.auto import tqdm

        cfg, t = self.config, self.config.train
        main = self.dist.is_main  # only rank 0 writes: logs, plots, checkpoints
        log = None
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save(cfg, self.run_dir / "config.yaml")
            metric_names = ["loss", *self.task.metrics]
            columns = ["step", "time_s", "lr", "loss", "grad_norm", "grad_norm_clipped"]
            columns += [f"valid_{m}" for m in metric_names]
            log = MetricsLog(
                self.run_dir,
                columns,
                tensorboard=t.tensorboard,
                # Starting over: events a killed first attempt wrote are purged from step 0.
                resume_step=self.step if self.step or self.started_over else None,
            )
            if t.grad_flow_every:
                from rnnkit.diagnostics.history import FlowHistory

                self.flow_history = FlowHistory(
                    self.run_dir, self.step if self.step or self.started_over else None
                )
        if main and not t.quiet:
            print(f"threads: {self.threads.describe()}", file=sys.stderr)
        bar = tqdm(
            total=t.steps, initial=self.step, disable=t.quiet or not main, unit="step",
            desc=f"{self.task.name} {self.task.label(cfg)}", dynamic_ncols=True,
            # In a log file rather than a terminal, redraw every 10 s instead of 10 times a second.
            mininterval=0.1 if sys.stderr.isatty() else 10.0,
        )  # fmt: skip
        stop = "completed" if self.step >= t.steps else None
        start = time.perf_counter() - self.elapsed
        last_valid: dict[str, float] = {}
        signals = stopping.StopSignals(enabled=not self.dist.enabled)
        batches = None
        try:
            # DataLoader workers ignore the signals this process handles (see _quiet_worker);
            # blocked while they fork, a signal cannot reach one before it ignores them.
            with stopping.signals_blocked():
                batches = iter(self._batches(ignore=signals.handled))
            while stop is None:
                x, y = next(batches)
                self.step += 1
                began = time.perf_counter()
                row = {"step": self.step, **self.train_step(x, y)}
                self.threads.step_done(time.perf_counter() - began)
                row["time_s"] = time.perf_counter() - start
                # Averaged over the workers, so every worker takes the same decisions below.
                row = distributed.mean(row, self.dist, self.device)
                row["step"] = self.step
                self.elapsed = row["time_s"]
                row["time_s"] = round(self.elapsed, 3)
                if self.step >= t.steps:
                    stop = "completed"
                elif t.max_time is not None and self.elapsed >= t.max_time:
                    stop = "max_time"
                evaluating = self.step % t.eval_every == 0 or stop is not None
                if evaluating:
                    last_valid = self._validate()
                    row.update({f"valid_{k}": v for k, v in last_valid.items()})
                    if stop is None:
                        stop = self._should_stop()
                if log is not None:
                    log.write(row)
                if evaluating and main:
                    # Rows first, then the checkpoint: a run killed at any moment resumes with
                    # every row up to its checkpoint on disk (later rows are dropped on resume).
                    log.flush()
                    self._save_checkpoint(last_valid)
                if signals.received is not None and stop is None:
                    self._stop_for(signals.received, log, last_valid, saved=evaluating)
                bar.update(1)
                if self.step % 10 == 0 or stop is not None:
                    post = {"loss": f"{row['loss']:.4g}"}
                    if last_valid:
                        post[f"valid {self.main_metric}"] = f"{last_valid[self.main_metric]:.4g}"
                    bar.set_postfix(post, refresh=False)
        finally:
            # The workers are stopped here, not left to the iterator's garbage collection: one
            # still running at interpreter exit hangs it (see _stop_workers). A second signal
            # meanwhile stops the run when this is done, not halfway.
            with signals.held():
                try:
                    stopping.stop_workers(batches)
                finally:
                    signals.restore()
                    bar.close()
                    if log is not None:
                        log.close()
        if not main:
            # The others are done; rank 0 evaluates the best checkpoint and reports.
            return Run(self.run_dir, self.config, {}, self.model, self.task, [])
        return self._finish(stop)

    def _stop_for(self, name: str, log, last_valid: dict[str, float], *, saved: bool):
        """A scheduler's SIGTERM or a Ctrl-C: checkpoint the last step done (unless its
        evaluation just did), then stop with a message saying how to continue."""
        if not saved and log is not None:
            log.flush()
            self._improved = False
            self._save_checkpoint(last_valid)
        raise KeyboardInterrupt(
            f"stopped by {name} after step {self.step}, checkpointed; continue with "
            f"rnnkit train --resume {self.run_dir}"
        )

    def _batches(self, ignore: tuple[int, ...] = ()):
        """The training batches from step ``self.step + 1`` on: this worker's rows of each
        step's global batch (all of it in one process), made here or, with ``train.workers``,
        ahead of time by a DataLoader's processes, which ignore SIGINT and the signals
        ``ignore``."""
        t, rank, world = self.config.train, self.dist.rank, self.dist.world_size
        part = functools.partial(self.task.train_batch_part, batch_size=t.batch_size, seed=t.seed,
                                 rank=rank, world=world)  # fmt: skip
        return stopping.step_batches(part, range(self.step + 1, t.steps + 1), workers=t.workers,
                                     seed=t.seed, ignore=ignore)  # fmt: skip

    def _validate(self) -> dict[str, float]:
        metrics = None
        if self.dist.is_main:  # the others wait for its numbers, so all decide alike
            metrics = evaluate(
                self.model,
                self.task,
                "valid",
                batch_size=self.config.train.eval_batch_size,
                device=self.device,
                bf16=self.config.train.precision == "bf16",
            )
        metrics = distributed.share(metrics, self.dist)
        value = metrics[self.main_metric]
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(value)
        best = self.best["value"]
        improved = best is None or (value < best if self.direction == "min" else value > best)
        if improved:
            self.best = {"step": self.step, "value": value, "metrics": metrics}
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        self._improved = improved
        if self.reached is None and self.task.reached(metrics):
            self.reached = {"step": self.step, "time_s": round(self.elapsed, 3)}
        return metrics

    def _should_stop(self) -> str | None:
        t = self.config.train
        if t.stop_at_target and self.reached is not None:
            return "target"
        if t.early_stopping is not None and self.bad_evals >= t.early_stopping_patience:
            return "early_stopping"
        return None

    def _save_checkpoint(self, metrics: dict[str, float]) -> None:
        state = {
            "elapsed_s": self.elapsed,
            "metrics": metrics,
            "best": self.best,
            "bad_evals": self.bad_evals,
            "reached": self.reached,
            "skipped": self.skipped,
            "nonfinite": self.nonfinite,
            "config": self.config.to_dict(),
            "task": self.task.state_dict(),
        }
        ckpt.save_checkpoint(
            self.run_dir,
            step=self.step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state=state,
            best=self._improved,
            # With several workers each carries its own streams' state and only rank 0 saves,
            # so none is saved: a resumed run restarts them from zeros.
            carry={} if self.dist.enabled else self.task.carried(),
            keep=self.config.train.keep_checkpoints,
        )

    def _path(self) -> str:
        """The execution path the model's recurrent part takes on a training batch."""
        t = self.config.train
        x, _ = self.task.train_batch(0, t.batch_size, t.seed)
        return self.model.resolve_path(x.to(self.device))

    def _path_reason(self) -> str:
        """Why the recurrent layer (the first, if several) took the path it last took."""
        from rnnkit.layers import Recurrent

        for module in self.model.modules():
            if isinstance(module, Recurrent) and module.last_choice is not None:
                return module.last_choice.reason
        return ""

    def _finish(self, stop: str) -> Run:
        best_dir = ckpt.checkpoint_dir(self.run_dir, "best")
        ckpt.load_model_weights(self.model, best_dir / "model.safetensors")
        self.model.eval()
        t = self.config.train
        kwargs = dict(
            batch_size=t.eval_batch_size,
            device=self.device,
            bf16=t.precision == "bf16",
            final=True,  # a task that decodes may search wider now (its beam)
        )
        valid = evaluate(self.model, self.task, "valid", **kwargs)
        test = evaluate(self.model, self.task, "test", **kwargs)
        target = None
        if self.task.target is not None:
            name, threshold = self.task.target
            target = {"metric": name, "threshold": threshold, "reached": self.reached}
        summary = {
            "task": self.task.name,
            "description": self.task.describe(),
            "cell": self.task.label(self.config),
            "steps": self.step,
            "stopped": stop,
            "wall_time_s": round(self.elapsed, 3),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "best_step": self.best["step"],
            "skipped_steps": self.skipped,
            "valid": valid,
            "test": test,
            "baseline": self.task.baseline,
            "baseline_label": self.task.baseline_label,
            "target": target,
            "path": self._path(),
            "path_reason": self._path_reason(),
            "threads": self.threads.describe(),
            "thread_switches": self.threads.switches,
            "device": str(self.device),
            "versions": {"rnnkit": rnnkit.__version__, "torch": torch.__version__},
        }
        # Task reports (figures, a backtest) may add to the summary, and lines for people.
        summary.update(self.task.report(self.model, self.run_dir, device=self.device) or {})
        summary["details"] = self.task.summary_lines(summary)
        ckpt.atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        from rnnkit.report.plots import plot_runs  # matplotlib loads only when needed

        if t.grad_flow_every:
            from rnnkit.diagnostics.history import plot as plot_flow

            plot_flow(self.run_dir)
        history = read_metrics(self.run_dir)
        better = self.task.metrics[next(iter(self.task.metrics))]
        main = next(iter(self.task.metrics))
        plot_runs(
            {self.task.label(self.config): history},
            self.run_dir / "loss.png",
            metric=main,
            title=self.task.describe(),
            baseline=self.task.baseline.get(main),
            target=self.task.target[1] if self.task.target else None,
            log_scale=better == "min",
        )
        if not t.quiet:
            print(format_summary(summary, self.run_dir))
        return Run(self.run_dir, self.config, summary, self.model, self.task, history)


def train(config: RunConfig | str | Path | None = None, *, resume=None, **overrides) -> Run:
    """Train a model; the Python face of ``rnnkit train``.

    Args:
        config: a :class:`RunConfig`, a YAML/TOML file, or None for the defaults.
        resume: a run directory to continue from its last checkpoint (its saved config is
            the base; ``overrides`` such as ``steps=`` apply on top).
        **overrides: flat config fields, e.g. ``task="copy", cell="gru", lr=2e-3``.

    Returns:
        the :class:`Run`, with ``summary`` (metrics by name) and the trained model.
    """
    if resume is not None:
        if config is not None:
            raise ConfigError("resume: continues the run's own config; pass overrides, not config")
        base = load_file(Path(resume) / "config.yaml")
        overrides = {**overrides, "out": str(resume)}
        return Trainer(base.replace(**overrides), resume=True).fit()
    if config is None:
        config = RunConfig()
    elif not isinstance(config, RunConfig):
        config = load_file(config)
    return Trainer(config.replace(**overrides)).fit()
