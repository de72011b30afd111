"""Run directories: the default name of one, the summary for people, and loading a finished
run's task and model back (checking that a checkpoint fits the config)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rnnkit.tasks import build_task, registry
from rnnkit.training import checkpoint as ckpt
from rnnkit.training.config import ConfigError, RunConfig, load_file


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
    lines += summary.get("details", [])
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


# Model fields a resumed run may change: regularization, execution paths and initialization
# (which a resumed run does not redo). The others shape the weights or what they mean.
_NOT_ARCHITECTURE = {
    "dropout", "variational", "weight_drop", "zoneout", "path", "scan", "chunk_size", "block",
    "init", "forget_bias",
}  # fmt: skip


def same_model(config: RunConfig, state: dict[str, Any], directory: Path) -> None:
    """Refuse a checkpoint written for another task or model than ``config`` describes (a
    checkpoint copied between runs, or a resume with --hidden changed): the weights would
    not fit, or fit and mean something else. Compared: the model fields that shape weights,
    and the task's own such fields (its ``shapes``)."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        return  # written before checkpoints recorded their config
    now = config.to_dict()
    name = saved.get("task", {}).get("name") if isinstance(saved.get("task"), dict) else None
    if name != now["task"]["name"]:
        raise ckpt.CheckpointError(
            f"{directory}: written for another model (task.name: checkpoint {name!r}, this run "
            f"{now['task']['name']!r}); start a new run (--out) to change the model"
        )
    try:  # a checkpoint of rnnkit 0.1 has the old layout
        saved = RunConfig.from_dict(saved, source=str(directory)).to_dict()
    except ConfigError:
        pass
    task_cls = registry.task_class(config.task.name)
    fields = [("model", k) for k in now["model"] if k not in _NOT_ARCHITECTURE]
    fields += [("task", k) for k in task_cls.shapes]
    differ = [
        f"{section}.{key}: checkpoint {saved[section][key]!r}, this run {now[section][key]!r}"
        for section, key in fields
        if key in saved.get(section, {}) and saved[section][key] != now[section][key]
    ]
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
    same_model(config, state, directory)
    task = build_task(config.task, state.get("task"))
    model = task.build_model(config, initialize=False)
    ckpt.load_model_weights(model, directory / "model.safetensors")
    return config, task, model.to(device).eval()
