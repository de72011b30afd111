"""Run a grid of remedies on one task with equal budgets and several seeds, then rank them.

Layout of an ablation directory::

    ABL_DIR/ablation.json              the grid, base config, budget and seeds (fixed at start)
    ABL_DIR/<entry>/seed-<k>/          one ordinary run directory per entry and seed
    ABL_DIR/ablation.csv, .md, .txt    the ranked table
    ABL_DIR/ablation.png, curves.png   final metric per entry; validation curves (seed 0)

Running the same command again resumes: finished runs (their ``summary.json`` exists) are
read, not redone; a run cut off mid-way continues from its last checkpoint.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.ablation.grid import configs, slug
from rnnkit.training import checkpoint as ckpt
from rnnkit.training.config import ConfigError, RunConfig

MANIFEST = "ablation.json"
DIVERGED = "diverged.json"  # in a run directory: training stopped on non-finite gradients


@dataclass(frozen=True)
class Budget:
    """Equal for every run: a number of training steps, or seconds of training."""

    steps: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``"3m"``, ``"90s"``, ``"1.5h"`` (time) or ``"2000"`` (steps)."""
        text = str(text).strip().lower()
        units = {"s": 1, "m": 60, "h": 3600}
        try:
            if text and text[-1] in units:
                seconds = float(text[:-1]) * units[text[-1]]
                if not seconds > 0:
                    raise ValueError
                return cls(seconds=seconds)
            steps = int(text)
            if steps < 1:
                raise ValueError
            return cls(steps=steps)
        except ValueError:
            raise ConfigError(
                f"budget: expected steps (e.g. 2000) or a time (e.g. 90s, 3m, 1h), got {text!r}"
            ) from None

    def apply(self, config: RunConfig) -> RunConfig:
        if self.steps is not None:
            return config.replace(steps=self.steps, max_time=None)
        # Schedules that run over train.steps would barely move under a time budget.
        stepped = {
            "optim.schedule": config.optim.schedule not in ("constant", "plateau"),
            # a task's own schedule over the steps (scheduled sampling), where it has one
            "task.sampling_schedule": getattr(config.task, "sampling_schedule", "constant")
            != "constant",
        }
        for name, used in stepped.items():
            if used:
                raise ConfigError(
                    f"budget: a time budget ({self}) cannot end a schedule that runs over the "
                    f"steps ({name}); give the budget in steps"
                )
        # A time budget: stop at the time; the step count is only a ceiling.
        steps = config.train.steps if isinstance(config.train.steps, int) else 0
        return config.replace(max_time=self.seconds, steps=max(steps, 10**7))

    def __str__(self) -> str:
        return f"{self.steps} steps" if self.steps is not None else f"{self.seconds:g} s"


@dataclass
class Row:
    """One grid entry over its seeds."""

    name: str
    metric: str
    values: list[float]
    """The test metric of each seed that finished (diverged seeds have none)."""
    reached: list[dict[str, Any] | None]
    parameters: int | None
    steps_per_s: float | None
    sequences_per_s: float | None
    diverged: list[int] = field(default_factory=list)
    """The step at which each diverged seed stopped."""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        hits = [r for r in self.reached if r]
        return {
            "entry": self.name,
            f"{self.metric}_mean": self.mean,
            f"{self.metric}_std": self.std,
            "seeds": len(self.values) + len(self.diverged),
            "diverged": len(self.diverged),
            "solved": len(hits),
            "steps_to_target": statistics.fmean(r["step"] for r in hits) if hits else None,
            "time_to_target_s": statistics.fmean(r["time_s"] for r in hits) if hits else None,
            "parameters": self.parameters,
            "steps_per_s": self.steps_per_s,
            "sequences_per_s": self.sequences_per_s,
        }


def run_ablation(
    base: RunConfig,
    grid: dict[str, dict[str, Any]],
    out: str | Path,
    *,
    budget: Budget,
    seeds: int = 3,
    log=print,
) -> list[Row]:
    """Train every grid entry with every seed in ``out`` (resuming what is there) and write
    the ranked table and plots. Returns the rows, best first."""
    from rnnkit.training.trainer import Trainer

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds: expected a positive integer, got {seeds!r}")
    out = Path(out)
    entries = configs(budget.apply(base.replace(quiet=True)), grid)
    slugs = {name: slug(name) for name in entries}
    if len(set(slugs.values())) < len(slugs):
        raise ConfigError("grid: two entries map to the same directory name; rename one")
    manifest = {"grid": grid, "base": base.to_dict(), "budget": str(budget), "seeds": seeds}
    _check_manifest(out, manifest)
    total = len(entries) * seeds
    done = 0
    skipped: dict[str, str] = {}
    for name, config in entries.items():
        for seed in range(seeds):
            done += 1
            run_dir = out / slugs[name] / f"seed-{seed}"
            where = f"[{done}/{total}] {name}, seed {seed}"
            if (run_dir / "summary.json").is_file():
                log(f"{where}: finished earlier, kept")
                continue
            if (run_dir / DIVERGED).is_file():
                log(f"{where}: diverged earlier, kept")
                continue
            resume = (run_dir / "checkpoints" / "last.json").is_file()
            if run_dir.exists() and not resume:
                shutil.rmtree(run_dir)  # started but no checkpoint yet: nothing to keep
            try:
                trainer = Trainer(config.replace(seed=seed, out=str(run_dir)), resume=resume)
            except ConfigError as e:  # a remedy this task cannot take (say, a pooling head
                skipped[name] = str(e)  # on a tagging task): skip it, and say so
                log(f"{where}: skipped: {e}")
                break
            log(f"{where}: {'resuming' if resume else 'training'} ({budget})")
            try:
                trainer.fit()
            except FloatingPointError as e:  # a result, not a crash: the remedy failed here
                record = {"step": trainer.step, "time_s": round(trainer.elapsed, 3),
                          "reason": str(e)}  # fmt: skip
                ckpt.atomic_write_text(run_dir / DIVERGED, json.dumps(record, indent=1))
                log(f"{where}: diverged at step {trainer.step}")
    ran = [name for name in entries if name not in skipped]
    if not ran:
        raise ConfigError("grid: no entry could run on this task (see the messages above)")
    rows = collect(out, ran, slugs, seeds)
    write_outputs(out, rows, skipped)
    return rows


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Start a new ablation directory, or check that a resumed one ran the same grid."""
    path = out / MANIFEST
    if path.is_file():
        saved = ckpt.read_json(path)
        for key in ("grid", "budget", "seeds", "base"):
            if saved.get(key) != json.loads(json.dumps(manifest[key])):
                raise ConfigError(
                    f"{out}: holds an ablation with another {key}; resume it with the same "
                    f"command or choose another --out"
                )
        return
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not an ablation directory; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    ckpt.atomic_write_text(path, json.dumps(manifest, indent=1))


def collect(out: Path, names: list[str], slugs: dict[str, str], seeds: int) -> list[Row]:
    """Rows from the runs' ``summary.json`` files, ranked by the task's main test metric: the
    entries none of whose seeds diverged first, by their mean; then the others, by how many
    seeds diverged and then by the mean of the rest (a remedy that blows up is unreliable
    however well its surviving seeds did); entries with no finished seed last."""
    rows, direction, metric = [], "min", None
    for name in names:
        dirs = [out / slugs[name] / f"seed-{k}" for k in range(seeds)]
        summaries = [ckpt.read_json(d / "summary.json") for d in dirs
                     if (d / "summary.json").is_file()]  # fmt: skip
        diverged = [ckpt.read_json(d / DIVERGED)["step"] for d in dirs
                    if (d / DIVERGED).is_file()]  # fmt: skip
        if summaries and metric is None:
            metric = _main_metric(summaries[0])
            direction = _direction(dirs[0], metric)
        rate = (statistics.fmean(s["steps"] / max(s["wall_time_s"], 1e-9) for s in summaries)
                if summaries else None)  # fmt: skip
        batch = _batch_size(dirs[0])
        rows.append(
            Row(
                name=name,
                metric=metric or "",
                values=[s["test"][metric] for s in summaries] if summaries else [],
                reached=[(s.get("target") or {}).get("reached") for s in summaries],
                parameters=summaries[0]["parameters"] if summaries else None,
                steps_per_s=rate,
                sequences_per_s=None if rate is None else rate * batch,
                diverged=diverged,
            )
        )
    if metric is None:
        raise ConfigError("grid: every run diverged; nothing to rank (lower the learning rate)")
    for row in rows:
        row.metric = metric

    def key(row: Row):
        if not row.values:
            return (1, 0, 0.0)
        return (0, len(row.diverged), row.mean if direction == "min" else -row.mean)

    return sorted(rows, key=key)


def _main_metric(summary: dict[str, Any]) -> str:
    target = summary.get("target")
    if target:
        return target["metric"]
    return next(k for k in summary["test"] if k != "loss")


def _direction(run_dir: Path, metric: str) -> str:
    from rnnkit.tasks import build_task
    from rnnkit.training.config import load_file

    config = load_file(run_dir / "config.yaml")
    task = build_task(config.task)
    return "min" if metric == "loss" else task.metrics[metric]


def _batch_size(run_dir: Path) -> int:
    from rnnkit.training.config import load_file

    return load_file(run_dir / "config.yaml").train.batch_size


# -- outputs ---------------------------------------------------------------------------------


def write_outputs(out: Path, rows: list[Row], skipped: dict[str, str]) -> None:
    """ablation.csv / .md / .txt (skipped entries listed under the tables) and the plots."""
    import csv
    import io

    dicts = [r.to_dict() for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dicts[0]))
    writer.writeheader()
    writer.writerows(dicts)
    ckpt.atomic_write_text(out / "ablation.csv", buffer.getvalue())
    notes = [f"skipped {name}: {why}" for name, why in skipped.items()]
    md = "\n".join([markdown(rows), *(f"\n- {n}" for n in notes)])
    ckpt.atomic_write_text(out / "ablation.md", md + "\n")
    ckpt.atomic_write_text(out / "ablation.txt", "\n".join([text_table(rows), *notes]) + "\n")
    _plots(out, rows)


def _cells(row: Row) -> list[str]:
    d = row.to_dict()
    seeds = d["seeds"]
    steps = "-" if d["steps_to_target"] is None else f"{d['steps_to_target']:.0f}"
    time_s = "-" if d["time_to_target_s"] is None else f"{d['time_to_target_s']:.0f}"
    value = f"{row.mean:.4g} ± {row.std:.2g}" if row.values else "-"
    if row.diverged:
        at = ", ".join(str(s) for s in row.diverged)
        value += f" ({len(row.diverged)} diverged, at step {at})"
    return [
        row.name,
        value,
        f"{d['solved']}/{seeds}",
        steps,
        time_s,
        "-" if row.parameters is None else f"{row.parameters:,}",
        "-" if row.steps_per_s is None else f"{row.steps_per_s:.1f}",
    ]


def _header(rows: list[Row]) -> list[str]:
    metric = rows[0].metric
    return ["rank", "entry", f"test {metric} (mean ± std)", "reached target", "steps to target",
            "seconds to target", "parameters", "steps/s"]  # fmt: skip


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(_header(rows)) + " |", "|" + "---|" * len(_header(rows))]
    for rank, row in enumerate(rows, 1):
        lines.append("| " + " | ".join([str(rank), *_cells(row)]) + " |")
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    table = [_header(rows)] + [[str(i), *_cells(r)] for i, r in enumerate(rows, 1)]
    widths = [max(len(line[c]) for line in table) for c in range(len(table[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
                     for line in table)  # fmt: skip


def _plots(out: Path, rows: list[Row]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnnkit.report.plots import plot_runs
    from rnnkit.training.log import read_metrics

    metric = rows[0].metric
    ranked = [r for r in rows if r.values][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(ranked) + 1.5), constrained_layout=True)
    names = [r.name + (f" ({len(r.diverged)} diverged)" if r.diverged else "") for r in ranked]
    means = [r.mean for r in ranked]
    ax.barh(names, means, xerr=[r.std for r in ranked], color="tab:blue", alpha=0.8, capsize=3)
    if all(m > 0 for m in means):
        ax.set_xscale("log")
    ax.set_xlabel(f"test {metric} (mean ± std over the seeds that finished)")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(out / "ablation.png", dpi=110)
    plt.close(fig)
    curves = {row.name: read_metrics(out / slug(row.name) / "seed-0") for row in rows}
    summary = next(ckpt.read_json(p) for p in sorted(out.glob("*/seed-*/summary.json")))
    target = summary.get("target")
    plot_runs(
        curves,
        out / "curves.png",
        metric=metric,
        title=f"{summary['description']}: validation, seed 0",
        baseline=summary.get("baseline", {}).get(metric),
        target=target["threshold"] if target else None,
    )
