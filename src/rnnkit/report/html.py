"""``rnnkit report``: one self-contained HTML page for a run or an ablation directory.

Every figure is embedded as a base64 PNG and the style sheet is inline, so the page opens
from a file, mailed or archived, with no network and no other files.

A run's page: the result (test and validation metrics, target, steps, time), the training
curves, the gradient-flow heatmap recorded during training (``--grad-flow-every``), the
diagnosis (computed now if the run has no ``diagnosis.json``), the task's own figures (the
attention heatmap of a sequence-to-sequence run), and the resolved config. An ablation's
page: the ranked table, its plots, and each entry's overrides.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom:
     1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; display: block;
        max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.9em; }
.verdict { display: inline-block; padding: 0.1em 0.6em; border-radius: 0.3em;
           font-weight: 600; }
.vanishing { background: #fde2e1; } .exploding { background: #fff0c2; }
.healthy { background: #dff3e2; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.88em; }
"""


def write_report(directory: str | Path, *, output: str | Path | None = None) -> Path:
    """Write the report of a run or ablation ``directory`` to ``output`` (default:
    ``directory/report.html``); returns its path."""
    directory = Path(directory)
    if (directory / "ablation.json").is_file():
        title, body = _ablation(directory)
    elif (directory / "config.yaml").is_file():
        title, body = _run(directory)
    else:
        raise ValueError(f"{directory}: neither a run directory (config.yaml) nor an ablation "
                         "directory (ablation.json)")  # fmt: skip
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n<p class='meta'>{_e(str(directory))}, report written "
        f"{datetime.now():%Y-%m-%d %H:%M}</p>\n{body}\n</body></html>\n"
    )
    path = Path(output) if output else directory / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _figure(path: Path, caption: str) -> str:
    """The PNG at ``path`` embedded as a data URI, or nothing if it is absent."""
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{_e(caption)}'>"
            f"<figcaption>{_e(caption)}</figcaption></figure>\n")  # fmt: skip


def _table(header: list[str] | None, rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        num = isinstance(v, (int, float)) and not isinstance(v, bool)
        text = f"{v:.5g}" if isinstance(v, float) else v
        return f"<td class='num'>{_e(text)}</td>" if num else f"<td>{_e(text)}</td>"

    head = "" if header is None else (
        "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>")  # fmt: skip
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>\n"


# -- a run -----------------------------------------------------------------------------------


def _run(run_dir: Path) -> tuple[str, str]:
    from rnnkit.training.config import load_file

    config = load_file(run_dir / "config.yaml")
    parts = []
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        title = f"{summary['description']}: {summary['cell']}"
        parts.append(_result(summary))
    else:
        title = f"{config.task.name}: {config.model.cell} (unfinished run)"
        parts.append("<p>The run has not finished: no summary.json (resume it with "
                     "<code>rnnkit train --resume</code>).</p>\n")  # fmt: skip
    parts.append("<h2>Training</h2>\n" + _figure(run_dir / "loss.png", "training loss and "
                 "validation metric by step"))  # fmt: skip
    flows = sorted(run_dir.glob("grad_flow*.png"))
    if flows:
        parts.append("<h2>Gradient flow during training</h2>\n")
        parts += [_figure(p, f"log10 ||dL/dh_t|| by time step (x) and training step (y): "
                          f"{p.stem}") for p in flows]  # fmt: skip
    parts.append("<h2>Diagnosis</h2>\n" + _diagnosis(run_dir))
    extra = [p for p in sorted(run_dir.glob("*.png"))
             if p.name not in ("loss.png", "gradient_flow.png") and p not in flows]  # fmt: skip
    if extra:
        parts.append("<h2>Task figures</h2>\n")
        parts += [_figure(p, p.stem.replace("_", " ")) for p in extra]
    rows = [[f"{section}.{k}", v if v is not None else "-"]
            for section, values in config.to_dict().items() for k, v in values.items()]  # fmt: skip
    parts.append("<h2>Resolved config</h2>\n" + _table(["field", "value"], rows))
    return title, "".join(parts)


def _result(summary: dict[str, Any]) -> str:
    metrics = sorted(set(summary["valid"]) | set(summary["test"]))
    rows = [[m, summary["valid"].get(m, "-"), summary["test"].get(m, "-"),
             summary.get("baseline", {}).get(m, "-")] for m in metrics]  # fmt: skip
    target = summary.get("target")
    if target:
        reached = target.get("reached")
        goal = f"{target['metric']} threshold {target['threshold']:g}: "
        goal += (f"reached at step {reached['step']} ({reached['time_s']:.0f} s)" if reached
                 else "not reached")  # fmt: skip
    else:
        goal = "none"
    facts = [
        ["steps", summary["steps"]], ["stopped", summary["stopped"]],
        ["training time (s)", summary["wall_time_s"]], ["best step", summary["best_step"]],
        ["parameters", summary["parameters"]], ["target", goal],
        ["execution path", summary.get("path", "-")], ["device", summary.get("device", "-")],
    ]  # fmt: skip
    html = ("<h2>Result</h2>\n" + _table(["metric", "validation", "test", "baseline"], rows)
            + _table(None, facts))  # fmt: skip
    backtest = summary.get("backtest")
    if backtest:
        columns = ["mase", "smape", "mae", "rmse", "coverage"]
        ranked = [[k, r["model"], r["kind"], *(r.get(c, "-") for c in columns), r["seconds"]]
                  for k, r in enumerate(backtest["ranking"], 1)]  # fmt: skip
        html += (f"<h2>Backtest</h2>\n<p>Rolling origin: {backtest['origins']} cut-offs per "
                 "series over the test period; baselines refitted at each. Ranked by MASE.</p>\n"
                 + _table(["rank", "model", "kind", *columns, "seconds"], ranked))  # fmt: skip
    return html


def _diagnosis(run_dir: Path) -> str:
    """The saved diagnosis, or a new one of the run's best checkpoint (saved for next time)."""
    path = run_dir / "diagnosis.json"
    if not path.is_file() and (run_dir / "checkpoints" / "best.json").is_file():
        try:
            from rnnkit.diagnostics.runs import diagnose_run
            from rnnkit.report.plots import plot_gradient_flow

            diagnosis, _ = diagnose_run(run_dir)
            diagnosis.to_json(path)
            plot_gradient_flow(diagnosis, run_dir / "gradient_flow.png")
        except Exception as e:  # a model diagnostics do not cover: say so on the page
            return f"<p>No diagnosis: {_e(e)}</p>\n"
    if not path.is_file():
        return "<p>No diagnosis: the run has no checkpoint.</p>\n"
    d = json.loads(path.read_text())
    out = [f"<p><span class='verdict {_e(d['verdict'])}'>{_e(d['verdict'])}</span> "
           f"{_e(d['reason'])}</p>\n"]  # fmt: skip
    rows = []
    for c in d["cells"]:  # the verdict reads c_t for LSTMs (see rnnkit.diagnostics.measure)
        state, norms = (
            ("c", c["cell_grad_norms"]) if c["cell_grad_norms"] else ("h", c["grad_norms"])
        )
        rows.append([c["name"], c["kind"], c["layer"], "backward" if c["direction"] else "forward",
                     state, norms[-1], norms[0], c["ratio"]])  # fmt: skip
    out.append(_table(["cell", "kind", "layer", "direction", "state", "||dL/d state|| last step",
                       "first step", "first / last"], rows))  # fmt: skip
    out.append(_figure(run_dir / "gradient_flow.png", "||dL/dh_t|| over the time steps of one "
                       "training batch"))  # fmt: skip
    sat = [[cell, gate, s["closed"], s["open"], s["mean"]]
           for cell, gates in d["saturation"].items() for gate, s in gates.items()]  # fmt: skip
    if sat:
        out.append(_table(["cell", "gate", "share < 0.05", "share > 0.95", "mean"], sat))
    spectra = [[cell, gate, s["norm"], s["radius"]]
               for cell, blocks in d["spectra"].items() for gate, s in blocks.items()]  # fmt: skip
    if spectra:
        out.append(_table(["cell", "recurrent block", "spectral norm", "spectral radius"],
                          spectra))  # fmt: skip
    if d["advice"]:
        out.append("<p>Advice, most promising first:</p><ol>"
                   + "".join(f"<li>{_e(a)}</li>" for a in d["advice"]) + "</ol>\n")  # fmt: skip
    return "".join(out)


# -- an ablation -----------------------------------------------------------------------------


def _ablation(directory: Path) -> tuple[str, str]:
    manifest = json.loads((directory / "ablation.json").read_text())
    task = manifest["base"]["task"]["name"]
    title = f"Ablation on {task}: {len(manifest['grid'])} entries x {manifest['seeds']} seeds"
    parts = [f"<p>Budget per run: {_e(manifest['budget'])}; seeds 0 to "
             f"{manifest['seeds'] - 1}.</p>\n"]  # fmt: skip
    table = directory / "ablation.csv"
    if table.is_file():
        with table.open() as f:
            rows = list(csv.DictReader(f))
        header = list(rows[0]) if rows else []
        parts.append("<h2>Ranking</h2>\n" + _table(["rank", *header], [
            [i, *(_number(v) for v in r.values())] for i, r in enumerate(rows, 1)]))  # fmt: skip
        md = directory / "ablation.md"
        skipped = [line[2:] for line in md.read_text().splitlines() if line.startswith("- ")]
        if skipped:
            parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in skipped) + "</ul>\n")
    else:
        parts.append("<p>No table yet: the grid has not finished (run the same command "
                     "again to resume it).</p>\n")  # fmt: skip
    parts.append(_figure(directory / "ablation.png", "final test metric per entry, mean and "
                         "standard deviation over seeds"))  # fmt: skip
    parts.append(_figure(directory / "curves.png", "training loss and validation metric, "
                         "seed 0 of each entry"))  # fmt: skip
    grid_rows = [[name, json.dumps(overrides)] for name, overrides in manifest["grid"].items()]
    parts.append("<h2>Grid</h2>\n" + _table(["entry", "overrides"], grid_rows))
    base = [[f"{s}.{k}", v if v is not None else "-"]
            for s, values in manifest["base"].items() for k, v in values.items()]  # fmt: skip
    parts.append("<h2>Base config</h2>\n" + _table(["field", "value"], base))
    return title, "".join(parts)


def _number(text: str) -> Any:
    """CSV cells back to numbers where they are numbers (right-aligned in the table)."""
    if text in ("", "None"):
        return "-"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
