"""Diagnose a trained run, or the untrained model a config describes, on one batch of its
task's training data."""

from __future__ import annotations

from pathlib import Path

from rnnkit.diagnostics.measure import Diagnosis, diagnose
from rnnkit.training.config import RunConfig


def diagnose_run(
    run_dir: str | Path | None = None,
    *,
    config: RunConfig | None = None,
    which: str = "best",
    batch_size: int | None = None,
    step: int = 1,
) -> tuple[Diagnosis, RunConfig]:
    """Diagnose the model of ``run_dir`` (its ``which`` checkpoint) or, with ``config``, a
    freshly initialized one (seeded by ``config.train.seed``), on training batch ``step`` of
    ``batch_size`` sequences (default: the config's batch size), on the config's device.
    Returns the diagnosis and the config."""
    from rnnkit.tasks import build_task
    from rnnkit.training.trainer import build_model, load_run, resolve_device, seed_everything

    if (run_dir is None) == (config is None):
        raise ValueError("diagnose_run: pass a run directory or a config, not both or neither")
    if run_dir is not None:
        config, task, model = load_run(run_dir, which=which)
    else:
        task = build_task(config.task)
        seed_everything(config.train.seed)
        model = build_model(config, task)
    task.load()
    B = batch_size or config.train.batch_size
    if B < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {B}")
    x, y = task.train_batch(step, B, config.train.seed)
    device = resolve_device(config.train.device)  # --device, as for training
    model, x, y = model.to(device), x.to(device), y.to(device)
    m, o, t = config.model, config.optim, config.train
    context = {
        "clip": o.clip or o.clip_value, "init": m.init, "pooling": m.pooling, "norm": m.norm,
        "forget_bias": m.forget_bias, "tbptt": t.tbptt,
        "head": "sequence" if task.output in ("regression", "classification") else "step",
    }  # fmt: skip
    return diagnose(model, x, y, task.loss, context=context), config
