"""The training loop: a plain class configured by a frozen :class:`RunConfig`.

One step: draw the step's batch from the task, forward (optionally under bf16 autocast, or in
truncated-BPTT chunks), backward, measure the global gradient norm, clip, optimizer step,
schedule step, log. Every ``eval_every`` steps: validate, step a plateau schedule, write the
last checkpoint (and the best), check early stopping and the task's target. At the end:
test metrics, ``summary.json`` and the loss-curve PNG.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

import rnnkit
from rnnkit.cells.base import LSTMState, detach
from rnnkit.init import initialize
from rnnkit.models import SequenceModel
from rnnkit.seq2seq.schedule import teacher_forcing_ratio
from rnnkit.tasks import Task, build_task
from rnnkit.training import checkpoint as ckpt
from rnnkit.training import distributed, resources, threads
from rnnkit.training.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
    TrainConfig,
    load_file,
    save,
)
from rnnkit.training.log import MetricsLog, read_metrics
from rnnkit.training.optim import build_optimizer, build_scheduler

# The memory guard measures sequences of plain tensors on their first this many steps.
MEASURED_STEPS = 512

SEQ2SEQ_TASKS = ("reverse", "sort", "dates", "translate")
TREE_TASKS = ("trees", "listops")
# Sequence tasks whose inputs are token ids (B, T) with lengths: the model embeds them first
# (--embed, --embeddings).
TOKEN_TASKS = ("classify", "tag")
# Fields that only sequence-to-sequence tasks read: an error elsewhere unless at the default.
SEQ2SEQ_FIELDS = {
    "model": ("attention", "input_feeding", "tie_embeddings"),
    "train": ("teacher_forcing", "sampling_schedule", "beam", "length_penalty"),
}


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
    """The model ``config.model`` describes, sized for ``task``, initialized as configured
    (draws from torch's global RNG: seed it first): a :class:`SequenceModel`, or a
    :class:`~rnnkit.seq2seq.Seq2Seq` for a sequence-to-sequence task. ``initialize=False``
    skips the configured initialization (weights about to be loaded need none, and chrono
    would read the training data for its T_max)."""
    m = config.model
    options: dict[str, Any] = {}
    if m.cell == "rnn":
        options["nonlinearity"] = m.nonlinearity
    if m.cell == "lstm":
        options.update(peephole=m.peephole, norm=None if m.norm == "none" else m.norm)
        if m.proj_size is not None:
            options["proj_size"] = m.proj_size
    if m.cell in ("mingru", "minlstm"):
        options.update(mode=m.scan, chunk_size=m.chunk_size, block=m.block)
    # The recurrent part, the same for both kinds of model.
    runner = dict(
        cell=m.cell,
        hidden_size=m.hidden,
        num_layers=m.layers,
        bidirectional=m.bidirectional,
        dropout=m.dropout,
        residual=m.residual,
        path=m.path,
        **options,
    )
    # The runner's regularizers, passed only when set (every model takes them then).
    regularizers = dict(variational=m.variational, weight_drop=m.weight_drop, zoneout=m.zoneout)
    runner.update({k: v for k, v in regularizers.items() if v})
    if task.output == "lm":
        return _language_model(config, task, runner, initialize=initialize)
    if config.task.name in TREE_TASKS:
        return _tree_model(config, task, runner, initialize=initialize)
    if config.task.name == "forecast":
        return _forecaster(config, task, runner, initialize=initialize)
    if config.task.name == "tag":
        return _tagger(config, task, runner, initialize=initialize)
    if task.output == "seq2seq":
        from rnnkit.seq2seq import Seq2Seq

        model = Seq2Seq(
            len(task.src_codec),
            len(task.tgt_codec),
            embed_size=m.embed or m.hidden,
            attention=m.attention,
            input_feeding=m.input_feeding,
            tie_embeddings=m.tie_embeddings,
            **runner,
        )
        if initialize:
            _initialize(config, task, [model.encoder, model.decoder])
        return model
    tokens = config.task.name in TOKEN_TASKS
    model = SequenceModel(
        (m.embed or m.hidden) if tokens else task.input_size,
        task.output_size,
        head="step" if task.output == "tagging" else "sequence",
        pooling=m.pooling,
        vocab_size=len(task.vocab) if tokens else None,
        **runner,
    )
    if initialize:
        _initialize(config, task, [model.encoder])
        if tokens:
            _load_embeddings(config, task, model.embed)
    return model


def _language_model(config: RunConfig, task: Task, runner: dict, *, initialize: bool):
    """An AWD-style language model (``rnnkit.models.language``)."""
    from rnnkit.models.language import LanguageModel

    m = config.model
    for name in ("bidirectional", "residual"):
        del runner[name]
    runner["variational"] = m.variational
    model = LanguageModel(len(task.codec), embed_size=m.embed or m.hidden,
                          tie_embeddings=m.tie_embeddings, embed_dropout=m.embed_dropout,
                          input_dropout=m.input_dropout, **runner)  # fmt: skip
    if initialize:
        _initialize(config, task, [model.rnn])
    return model


def _forecaster(config: RunConfig, task: Task, runner: dict, *, initialize: bool) -> nn.Module:
    """A direct multi-horizon forecaster (``--model sequence``) or an encoder-decoder one."""
    from rnnkit.models.forecast import DirectForecaster, Seq2SeqForecaster

    m = config.model
    sizes = (task.input_size, task.future_size, task.horizon, task.output_size // task.horizon)
    if m.name == "seq2seq":
        del runner["bidirectional"], runner["residual"]
        model = Seq2SeqForecaster(*sizes, attention=m.attention, **runner)
        runners = [model.encoder, model.decoder]
    else:
        model = DirectForecaster(*sizes, pooling=m.pooling, **runner)
        runners = [model.encoder]
    if initialize:
        _initialize(config, task, runners)
    return model


def _tree_model(config: RunConfig, task: Task, runner: dict, *, initialize: bool) -> nn.Module:
    """A Tree-LSTM classifier, or a sequence model over the leaves (``--model sequence``)."""
    from rnnkit.tree.model import LeafSequenceModel, TreeClassifier

    m = config.model
    embed = m.embed or m.hidden
    if m.name == "tree-lstm":
        # Binary parses have two ordered children; ListOps operators take up to 5 arguments.
        arity = 2 if config.task.tree_form == "binary" else 5
        model = TreeClassifier(
            len(task.vocab), task.output_size, embed_size=embed, hidden_size=m.hidden,
            cell=m.tree_cell, arity=arity, dropout=m.dropout,
        )  # fmt: skip
        table = model.encoder.embed
    else:
        inner = SequenceModel(
            embed, task.output_size, vocab_size=len(task.vocab), pooling=m.pooling, **runner
        )
        if initialize:
            _initialize(config, task, [inner.encoder])
        model, table = LeafSequenceModel(inner), inner.embed
    if initialize:
        _load_embeddings(config, task, table)
    return model


def _load_embeddings(config: RunConfig, task: Task, table: nn.Embedding) -> None:
    """Fill the token table from ``--embeddings FILE`` (if given) for ``task.vocab``."""
    path = config.model.embeddings
    if path is None:
        return
    from rnnkit.text.vectors import read_word_vectors

    weights, found = read_word_vectors(path, task.vocab)
    with torch.no_grad():
        table.weight.copy_(weights)
    if not config.train.quiet:
        print(f"embeddings: {found} of {len(task.vocab) - 4} words found in {path}")


def _tagger(config: RunConfig, task: Task, runner: dict, *, initialize: bool) -> nn.Module:
    """A tagger over token ids (``rnnkit.models.tagger``), with a CRF under ``--crf``."""
    from rnnkit.models.tagger import Tagger

    m = config.model
    model = Tagger(len(task.vocab), task.output_size, embed_size=m.embed or m.hidden, crf=m.crf,
                   **runner)  # fmt: skip
    if initialize:
        _initialize(config, task, [model.encoder])
        _load_embeddings(config, task, model.embed)
    return model


def _initialize(config: RunConfig, task: Task, runners: list[nn.Module]) -> None:
    for enc in runners:
        _initialize_runner(config, task, enc)


def _initialize_runner(config: RunConfig, task: Task, enc: nn.Module) -> None:
    m = config.model
    if m.init == "xavier":
        initialize(enc, input_weights="xavier_uniform", recurrent_weights="xavier_uniform")
    elif m.init == "orthogonal":
        initialize(enc, input_weights="xavier_uniform", recurrent_weights="orthogonal")
    elif m.init == "identity":
        initialize(enc, input_weights="xavier_uniform", recurrent_weights="identity")
    elif m.init == "chrono":
        # Chrono's T_max is the longest dependency: at most the whole sequence.
        t_max = max(2, task_span(task))
        initialize(enc, input_weights="keep", recurrent_weights="keep", bias="chrono", t_max=t_max)
    if m.forget_bias is not None:
        initialize(
            enc, input_weights="keep", recurrent_weights="keep", bias="keep",
            forget_bias=m.forget_bias,
        )  # fmt: skip


def task_span(task: Task) -> int:
    """The number of steps a task's sequences have (the longest dependency chrono covers)."""
    x, _ = task.train_batch(0, 1, 0)
    return _inputs(x).shape[1]


def _refuse(fields: dict[str, bool], why: str) -> None:
    """ConfigError for the first field set (True) in ``fields``: ``"<field>: <why>"``."""
    for name, used in fields.items():
        if used:
            raise ConfigError(f"{name}: {why}")


def model_label(config: RunConfig) -> str:
    """A short name of the model for people: the cell, or the Tree-LSTM and its cell."""
    m = config.model
    if m.name == "seq2seq":
        return f"seq2seq ({m.cell})"
    return m.cell if m.name == "sequence" else f"tree-lstm ({m.tree_cell})"


def _inputs(x: Any) -> Tensor:
    """The sequence tensor of a batch's inputs: the source ids of a sequence-to-sequence batch,
    the leaves of a batch of trees."""
    if isinstance(x, Tensor):
        return x
    return x[0] if isinstance(x, tuple) else x.flat


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


def _call(model: nn.Module, x: Any, **kwargs: Any) -> Tensor:
    """``model(x)``; a tuple of inputs is passed as separate arguments."""
    return model(*x, **kwargs) if isinstance(x, tuple) else model(x, **kwargs)


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
            _same_model(config, self._resume_state, self._resume_from)
            saved = self._resume_state.get("task")
        self._check(config)
        if config.model.embeddings is not None and not resume:
            # The file fixes the embedding size; the saved config records it, so a loaded run
            # needs no vectors file.
            from rnnkit.text.vectors import vector_size

            size = vector_size(config.model.embeddings)
            if config.model.embed not in (None, size):
                raise ConfigError(
                    f"model.embed: {config.model.embed} differs from the {size} dimensions of "
                    f"{config.model.embeddings}"
                )
            config = config.replace(embed=size)
            self.config = config
        self.task = build_task(config.task, saved)
        self.task.load()
        self._check_task(config, self.task)
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
        self.carry = None  # a language model's state, carried from batch to batch
        self._improved = False
        self.flow_history = None  # rank 0 with train.grad_flow_every: RUN_DIR/grad_flow.jsonl
        if resume:
            self._restore()
        if t.memory_check and not t.tbptt:
            self._check_memory()

    # -- set-up ---------------------------------------------------------------------------------
    @staticmethod
    def _check(config: RunConfig) -> None:
        """Fields that only some tasks use, before any data is read."""
        seq2seq = config.task.name in SEQ2SEQ_TASKS
        forecaster = config.task.name == "forecast" and config.model.name == "seq2seq"
        lm = config.task.name == "lm"
        defaults = {"model": ModelConfig(), "train": TrainConfig()}
        for section, names in SEQ2SEQ_FIELDS.items():
            for name in names:
                value = getattr(getattr(config, section), name)
                if forecaster and name == "attention":
                    continue  # the forecaster's decoder attends too
                if lm and name == "tie_embeddings":
                    continue  # a language model ties its input and output tables
                if not seq2seq and value != getattr(defaults[section], name):
                    raise ConfigError(
                        f"{section}.{name}: only for sequence-to-sequence tasks "
                        f"({', '.join(SEQ2SEQ_TASKS)}), got {value!r} with task "
                        f"{config.task.name!r}"
                    )
        m = config.model
        trees = config.task.name in TREE_TASKS
        if m.name == "tree-lstm" and not trees:
            raise ConfigError(
                f"model.name: 'tree-lstm' needs a tree task ({', '.join(TREE_TASKS)}), got task "
                f"{config.task.name!r}"
            )
        if config.task.tree_form == "operator" and m.name != "tree-lstm":
            raise ConfigError(
                "task.tree_form: 'operator' trees are for --model tree-lstm; a sequence model "
                "reads the binary form's leaves"
            )
        if m.name == "tree-lstm":
            sequence_only = {
                "model.layers": m.layers != 1,
                "model.bidirectional": m.bidirectional,
                "model.pooling": m.pooling != "last",
                "model.cell": m.cell != "lstm",
                "model.init": m.init != "default",
                "model.forget_bias": m.forget_bias is not None,
                "model.peephole": m.peephole,
                "model.norm": m.norm != "none",
                "model.proj_size": m.proj_size is not None,
                "model.residual": m.residual,
                "model.path": m.path != "auto",
                "train.tbptt": config.train.tbptt != 0,
            }
            _refuse(sequence_only, "not for --model tree-lstm (set --tree-cell childsum|nary "
                    "instead); leave it at its default")  # fmt: skip
        if m.name == "seq2seq" and config.task.name != "forecast":
            raise ConfigError(
                f"model.name: 'seq2seq' is the forecaster (task forecast); task "
                f"{config.task.name!r} picks its own model (leave --model at 'sequence')"
            )
        if forecaster:
            _refuse({"model.bidirectional": m.bidirectional, "model.pooling": m.pooling != "last",
                     "model.residual": m.residual},
                    "not for --model seq2seq (its encoder's final state starts the decoder); "
                    "leave it at its default")  # fmt: skip
        if config.task.name == "forecast" and config.train.tbptt:
            raise ConfigError("train.tbptt: not for task 'forecast' (windows are lookback "
                              "steps long; shorten --lookback instead)")  # fmt: skip
        if config.task.name == "ts-classify" and config.train.tbptt:
            raise ConfigError("train.tbptt: not for task 'ts-classify' (its series have their "
                              "own lengths, which truncated chunks would ignore)")  # fmt: skip
        if config.task.name in TOKEN_TASKS and config.train.tbptt:
            raise ConfigError(
                f"train.tbptt: not for task {config.task.name!r} (its texts have their own "
                "lengths, which truncated chunks would ignore)"
            )
        if m.crf and config.task.name != "tag":
            raise ConfigError(f"model.crf: only for task 'tag' (a CRF scores sequences of tags), "
                              f"got task {config.task.name!r}")  # fmt: skip
        if config.task.name == "tag" and m.pooling != "last":
            raise ConfigError(f"model.pooling: not for task 'tag' (one tag per token, nothing is "
                              f"pooled), got {m.pooling!r}; leave it at its default")  # fmt: skip
        if m.name != "tree-lstm" and m.tree_cell != "childsum":
            raise ConfigError(
                f"model.tree_cell: only for --model tree-lstm, got {m.tree_cell!r} with --model "
                f"{m.name}"
            )
        tokens = config.task.name in TOKEN_TASKS
        if m.embeddings is not None and not (trees or tokens):
            raise ConfigError(
                f"model.embeddings: only for tree tasks ({', '.join(TREE_TASKS)}) and "
                f"{', '.join(TOKEN_TASKS)} so far, got task {config.task.name!r}"
            )
        if lm:
            _refuse({"model.bidirectional": m.bidirectional, "model.residual": m.residual,
                     "model.pooling": m.pooling != "last", "train.tbptt": config.train.tbptt != 0},
                    "not for task 'lm' (a left-to-right model of every next token; --seq-len "
                    "sets its truncated-BPTT window)")  # fmt: skip
        else:
            _refuse({"model.embed_dropout": m.embed_dropout != 0,
                     "model.input_dropout": m.input_dropout != 0},
                    f"only for task 'lm', got it with task {config.task.name!r}")  # fmt: skip
        if m.embed is not None and not (seq2seq or trees or tokens or lm):
            raise ConfigError(
                f"model.embed: only for tasks that read tokens (sequence-to-sequence and tree "
                f"tasks, {', '.join(TOKEN_TASKS)}), got {m.embed!r} with task "
                f"{config.task.name!r}"
            )
        if seq2seq:
            unused = {
                "model.pooling": m.pooling != "last",
                "model.proj_size": m.proj_size is not None,
                "train.tbptt": config.train.tbptt != 0,
            }
            _refuse(unused, f"not for sequence-to-sequence tasks (task {config.task.name!r}); "
                    "leave it at its default")  # fmt: skip

    @staticmethod
    def _check_task(config: RunConfig, task: Task) -> None:
        t = config.train
        allowed = ["loss", *task.metrics]
        if t.early_stopping is not None and t.early_stopping not in allowed:
            raise ConfigError(
                f"train.early_stopping: task {task.name!r} has no metric {t.early_stopping!r}; "
                f"allowed: {', '.join(allowed)}"
            )
        if t.tbptt and task.output != "tagging" and config.model.pooling != "last":
            raise ConfigError(
                f"train.tbptt: with a sequence-level task ({task.name!r}) only the last chunk is "
                f"backpropagated, so pooling must be 'last', got {config.model.pooling!r}"
            )
        if t.tbptt and config.model.bidirectional:
            raise ConfigError("train.tbptt: not with a bidirectional model (it reads the future)")

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
        carry = state["carry"]
        if carry and not self.dist.enabled:  # see _carried
            h = carry["h"].to(self.device)
            self.carry = LSTMState(h, carry["c"].to(self.device)) if "c" in carry else h

    def _check_memory(self) -> None:
        """Refuse a training step that would not fit: see :mod:`rnnkit.training.resources`."""
        t, o = self.config.train, self.config.optim
        x, y = self.task.longest_example(t.seed)
        sequence = "x".join(str(n) for n in _inputs(x).shape[1:])
        T, scale = _inputs(x).shape[1], 1.0
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
                out = self.model(xs, None)[0] if self.task.output == "lm" else _call(self.model, xs)
                self.task.loss(out, ys)

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

    def _forward_backward(self, x: Any, y: Tensor) -> float:
        """Accumulate gradients of the step's loss; returns the loss."""
        t = self.config.train
        if self.task.output == "lm":
            # The state carries over from the previous batch (the streams continue), detached
            # so that gradients stop at the batch border; dropped when an epoch begins.
            if self.task.resets(self.step, t.batch_size):
                self.carry = None
            with self._autocast():
                logits, carry = self.net(x, self.carry)
                loss = self.task.loss(logits, y)
            loss.backward()
            self.carry = detach(carry)
            return loss.item()
        k = t.tbptt
        T = _inputs(x).shape[1] if k else 0
        if not k or k >= T:
            kwargs = {}
            if self.task.output == "seq2seq":
                kwargs["teacher_forcing"] = teacher_forcing_ratio(
                    self.step, t.steps, final=t.teacher_forcing, schedule=t.sampling_schedule
                )
            with self._autocast():
                loss = self.task.loss(_call(self.net, x, **kwargs), y)
            loss.backward()
            return loss.item()
        state = None
        if self.task.output == "tagging":
            # Each chunk's loss is backpropagated within the chunk only; the state crosses
            # chunk borders as a constant. The chunk losses are weighted to average over T.
            total = 0.0
            for xc, yc in zip(x.split(k, dim=1), y.split(k, dim=1), strict=True):
                with self._autocast():
                    out, state = self.model.encode(xc, state=state)
                    loss = self.task.loss(self.model.decode(out), yc) * (xc.shape[1] / T)
                loss.backward()
                total += loss.item()
                state = detach(state)
            return total
        # Sequence-level target: run the prefix without a graph, backpropagate the last k steps.
        with torch.no_grad(), self._autocast():
            _, state = self.model.encode(x[:, : T - k])
        with self._autocast():
            out, _ = self.model.encode(x[:, T - k :], state=detach(state))
            loss = self.task.loss(self.model.decode(out), y)
        loss.backward()
        return loss.item()

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
            # A language model's state came out of the same forward pass: carried on, it
            # would make every following step non-finite too.
            self.carry = None
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
            desc=f"{self.task.name} {model_label(cfg)}", dynamic_ncols=True,
            # In a log file rather than a terminal, redraw every 10 s instead of 10 times a second.
            mininterval=0.1 if sys.stderr.isatty() else 10.0,
        )  # fmt: skip
        stop = "completed" if self.step >= t.steps else None
        start = time.perf_counter() - self.elapsed
        last_valid: dict[str, float] = {}
        signals = _StopSignals(enabled=not self.dist.enabled)
        batches = None
        try:
            # DataLoader workers ignore the signals this process handles (see _quiet_worker);
            # blocked while they fork, a signal cannot reach one before it ignores them.
            with _signals_blocked():
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
                    _stop_workers(batches)
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
        steps = range(self.step + 1, t.steps + 1)
        if not t.workers:
            return (self.task.train_batch_part(s, t.batch_size, t.seed, rank, world) for s in steps)
        from torch.utils.data import DataLoader

        part = functools.partial(self.task.train_batch_part, batch_size=t.batch_size, seed=t.seed,
                                 rank=rank, world=world)  # fmt: skip
        return DataLoader(_StepBatches(part, steps), batch_size=None, num_workers=t.workers,
                          collate_fn=_as_made, prefetch_factor=4,
                          worker_init_fn=functools.partial(_quiet_worker, ignore=ignore),
                          # Its own generator: seeding the workers would otherwise draw from
                          # the global RNG, so dropout (and a resumed run) would differ.
                          generator=torch.Generator().manual_seed(t.seed))  # fmt: skip

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
            carry=self._carried(),
            keep=self.config.train.keep_checkpoints,
        )

    def _carried(self) -> dict[str, Tensor]:
        """The language model's carried state, for the checkpoint: ``{"c": ..., "h": ...}``
        (LSTM) or ``{"h": ...}``. With several workers each carries its own streams' state
        and only rank 0 saves, so none is saved: a resumed run restarts them from zeros."""
        if self.carry is None or self.dist.enabled:
            return {}
        if isinstance(self.carry, Tensor):
            return {"h": self.carry}
        return {"c": self.carry.c, "h": self.carry.h}

    def _path(self) -> str:
        """The execution path the model's recurrent part takes on a training batch."""
        t = self.config.train
        x, _ = self.task.train_batch(0, t.batch_size, t.seed)
        x = x.to(self.device)
        if isinstance(self.model, SequenceModel) and isinstance(x, tuple):
            x = x[0]  # (x, lengths) of series: the path depends on x alone
        return self.model.resolve_path(x)

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
            beam=t.beam,
            length_penalty=t.length_penalty,
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
            "cell": model_label(self.config),
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
        # Task reports (figures, a forecast's backtest) may add to the summary.
        summary.update(self.task.report(self.model, self.run_dir, device=self.device) or {})
        ckpt.atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        from rnnkit.report.plots import plot_runs  # matplotlib loads only when needed

        if t.grad_flow_every:
            from rnnkit.diagnostics.history import plot as plot_flow

            plot_flow(self.run_dir)
        history = read_metrics(self.run_dir)
        better = self.task.metrics[next(iter(self.task.metrics))]
        main = next(iter(self.task.metrics))
        plot_runs(
            {model_label(self.config): history},
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


class _StopSignals:
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
def _signals_blocked():
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


def _stop_workers(batches) -> None:
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


def format_summary(summary: dict[str, Any], run_dir: Path) -> str:
    """A few lines for people: why it stopped, test metrics against the baseline, the target."""
    test = ", ".join(f"{k} {v:.4g}" for k, v in summary["test"].items() if k != "loss")
    base = ", ".join(f"{k} {v:.4g}" for k, v in summary["baseline"].items())
    label = summary.get("baseline_label", "memoryless baseline")
    lines = [
        f"{summary['task']} {summary['cell']}: {summary['steps']} steps in "
        f"{summary['wall_time_s']:.1f} s ({summary['stopped']}), {summary['parameters']} "
        f"parameters",
        f"  test: {test}   ({label}: {base})",
    ]
    target = summary.get("target")
    if target is not None:
        reached = target["reached"]
        when = (
            f"reached at step {reached['step']} ({reached['time_s']:.1f} s)"
            if reached
            else "not reached"
        )
        lines.append(f"  target {target['metric']} {target['threshold']:g}: {when}")
    backtest = summary.get("backtest")
    if backtest:
        lines.append(f"  backtest over {backtest['origins']} origins per series (test period), "
                     "by MASE:")  # fmt: skip
        for k, row in enumerate(backtest["ranking"], 1):
            extra = f", coverage {row['coverage']:.2f}" if "coverage" in row else ""
            lines.append(f"    {k}. {row['model']:<16} MASE {row['mase']:.4g}, sMAPE "
                         f"{row['smape']:.4g}{extra} ({row['seconds']:.1f} s)")  # fmt: skip
    if "threads" in summary:  # runs from before the thread policy have none
        why = f" ({summary['path_reason']})" if summary.get("path_reason") else ""
        lines.append(f"  path: {summary['path']}{why}; threads: {summary['threads']}")
        for switch in summary.get("thread_switches", []):
            lines.append(f"    switched {switch}")
    lines.append(f"  run directory: {run_dir}")
    return "\n".join(lines)


def default_run_dir(config: RunConfig) -> Path:
    """``runs/TASK-MODEL-YYYYmmdd-HHMMSS``: where a run goes without ``--out``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = config.model.cell if config.model.name == "sequence" else config.model.name
    return Path("runs") / f"{config.task.name}-{model}-{stamp}"


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


# Model fields a resumed run may change: regularization, execution paths and initialization
# (which a resumed run does not redo). The others shape the weights or what they mean.
_NOT_ARCHITECTURE = {
    "dropout", "variational", "weight_drop", "zoneout", "embed_dropout", "input_dropout",
    "path", "scan", "chunk_size", "block", "init", "forget_bias", "embeddings",
}  # fmt: skip


def _same_model(config: RunConfig, state: dict[str, Any], directory: Path) -> None:
    """Refuse a checkpoint written for another task or model than ``config`` describes (a
    checkpoint copied between runs, or a resume with --hidden changed): the weights would
    not fit, or fit and mean something else."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        return  # written before checkpoints recorded their config
    now = config.to_dict()
    differ = [
        f"model.{key}: checkpoint {value!r}, this run {now['model'].get(key)!r}"
        for key, value in (saved.get("model") or {}).items()
        if key not in _NOT_ARCHITECTURE and now["model"].get(key) != value
    ]
    if saved.get("task", {}).get("name") != now["task"]["name"]:
        differ.insert(0, f"task.name: checkpoint {saved.get('task', {}).get('name')!r}, this "
                         f"run {now['task']['name']!r}")  # fmt: skip
    if differ:
        raise ckpt.CheckpointError(
            f"{directory}: written for another model ({'; '.join(differ[:4])}"
            f"{' ...' if len(differ) > 4 else ''}); start a new run (--out) to change the model"
        )


def load_run(run_dir: str | Path, *, which: str = "best", device: str = "cpu"):
    """Rebuild a finished run's task and model from ``RUN_DIR/config.yaml`` and its ``which``
    (``"best"`` or ``"last"``) checkpoint. Returns ``(config, task, model)``, model in eval
    mode; nothing is unpickled."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ckpt.CheckpointError(f"{run_dir}: no such run directory")
    config = load_file(run_dir / "config.yaml")
    directory = ckpt.checkpoint_dir(run_dir, which)
    state = ckpt.read_state(directory)
    _same_model(config, state, directory)
    task = build_task(config.task, state.get("task"))
    model = build_model(config, task, initialize=False)
    ckpt.load_model_weights(model, directory / "model.safetensors")
    return config, task, model.to(device).eval()
