"""Loss curves of one or several runs, as PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is assumed
import matplotlib.pyplot as plt  # noqa: E402


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_runs(
    runs: dict[str, list[dict[str, float]]],
    path: str | Path,
    *,
    metric: str,
    title: str,
    baseline: float | None = None,
    target: float | None = None,
    log_scale: bool = True,
) -> Path:
    """Plot the training loss (smoothed) and the validation ``metric`` of each run.

    Args:
        runs: label -> rows of ``metrics.csv`` (see :func:`~rnnkit.training.log.read_metrics`).
        metric: the validation column without its ``valid_`` prefix, e.g. ``"mse"``.
        baseline, target: horizontal reference lines (memoryless baseline, solved threshold).
    """
    fig, (ax_train, ax_valid) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for label, rows in runs.items():
        train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        if train:
            steps, loss = zip(*train, strict=True)
            ax_train.plot(steps, _smooth(list(loss), 50), label=label)
        valid = [(r["step"], r[f"valid_{metric}"]) for r in rows if f"valid_{metric}" in r]
        if valid:
            steps, values = zip(*valid, strict=True)
            ax_valid.plot(steps, values, marker=".", label=label)
    for ax, name in ((ax_train, "training loss (smoothed)"), (ax_valid, f"validation {metric}")):
        if baseline is not None and ax is ax_valid:
            ax.axhline(baseline, color="gray", linestyle="--", linewidth=1, label="baseline")
        if target is not None and ax is ax_valid:
            ax.axhline(target, color="green", linestyle=":", linewidth=1, label="target")
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention(
    weights, source: list[str], output: list[str], path: str | Path, *, title: str = ""
) -> Path:
    """Heatmap of one decoded example's attention: output tokens (rows) over source tokens
    (columns).

    Args:
        weights: (T, S) array-like, row t the attention of output step t over the source.
        source, output: the S source and T output tokens, for the axis labels.
    """
    import numpy as np

    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(output), len(source)):
        raise ValueError(
            f"weights: expected shape ({len(output)}, {len(source)}) for {len(output)} output and "
            f"{len(source)} source tokens, got {weights.shape}"
        )
    width = min(4 + 0.3 * len(source), 30)
    height = min(3 + 0.3 * len(output), 30)
    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), [repr(t)[1:-1] for t in source], rotation=90, fontsize=8)
    ax.set_yticks(range(len(output)), [repr(t)[1:-1] for t in output], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(image, ax=ax, label="attention weight")
    if title:
        ax.set_title(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gradient_flow(diagnosis, path: str | Path, *, title: str = "") -> Path:
    """||dL/dh_t|| over the steps t of every recorded cell (log scale), from a
    :class:`~rnnkit.diagnostics.Diagnosis`; LSTMs also show ||dL/dc_t|| (dashed). Zeros
    (gradients below float32's range) are left out."""
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    for flow in diagnosis.cells:
        series = [("h", flow.grad_norms, "-")]
        if flow.cell_grad_norms is not None:
            series.append(("c", flow.cell_grad_norms, "--"))
        for name, values, style in series:
            points = [(t, v) for t, v in enumerate(values) if v > 0]
            if points:
                steps, norms = zip(*points, strict=True)
                ax.plot(steps, norms, style, label=f"dL/d{name}: {flow.name}")
    ax.set_yscale("log")
    ax.set_xlabel("time step t (loop order)")
    ax.set_ylabel("gradient norm")
    ax.set_title(title or f"gradient flow: {diagnosis.verdict}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gradient_heatmap(steps: list[int], norms: list[list[float]], path: str | Path, *,
                          title: str = "") -> Path:  # fmt: skip
    """Heatmap of the gradient-by-time profile over training: time step t (x) against training
    step (y), color log10 ||dL/dh_t||.

    Args:
        steps: the training steps at which a profile was recorded (the rows).
        norms: one profile per row, ||dL/dh_t|| for t = 0 .. T-1 (rows may differ in T).
    """
    import numpy as np

    if not steps or len(steps) != len(norms):
        raise ValueError(f"steps, norms: expected equal non-empty lists, got {len(steps)} and "
                         f"{len(norms)}")  # fmt: skip
    width = max(len(row) for row in norms)
    grid = np.full((len(norms), width), np.nan)
    for i, row in enumerate(norms):
        values = np.asarray(row, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            grid[i, : len(values)] = np.where(values > 0, np.log10(values), np.nan)
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    image = ax.imshow(grid, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                      extent=(-0.5, width - 0.5, -0.5, len(steps) - 0.5))  # fmt: skip
    ticks = np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int)
    ax.set_yticks(ticks, [str(steps[i]) for i in ticks])
    ax.set_xlabel("time step t")
    ax.set_ylabel("training step")
    fig.colorbar(image, ax=ax, label="log10 ||dL/dh_t||")
    ax.set_title(title or "gradient flow during training", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_forecasts(panels: list[dict], path: str | Path, *, title: str = "") -> Path:
    """One panel per series: its history, and forecasts with their 80% intervals.

    Each panel: ``name``; ``times`` (N,) and ``values`` (N,) of the history shown;
    ``forecasts``, a list of dicts with ``label``, ``times`` (H,), ``point`` (H,) and
    optionally ``lower``/``upper`` (H,) and ``style`` (a matplotlib line style). Forecasts
    with the same label share one legend entry and colour."""
    path = Path(path)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.8 * len(panels)), squeeze=False)
    colours: dict[str, str] = {}
    cycle = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"][1:] * 4)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        ax.plot(panel["times"], panel["values"], color="black", lw=1, label="actual")
        for f in panel["forecasts"]:
            colour = colours.setdefault(f["label"], next(cycle))
            seen = f["label"] in {line.get_label() for line in ax.get_lines()}
            ax.plot(f["times"], f["point"], color=colour, lw=1.4, ls=f.get("style", "-"),
                    label=None if seen else f["label"])  # fmt: skip
            if f.get("lower") is not None:
                band = None if seen else f"{f['label']}, 80% interval"
                ax.fill_between(f["times"], f["lower"], f["upper"], color=colour, alpha=0.2,
                                lw=0, label=band)  # fmt: skip
        ax.set_title(panel["name"], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
