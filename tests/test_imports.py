"""Start-up cost: what ``import rnnkit``, ``rnnkit --help`` and a short training run import.

Each check runs in a fresh interpreter with a finder on ``sys.meta_path`` that records the
stack of the first import of every watched module; a failure names the module that sneaked in
and the rnnkit line (and the line right before the import) that pulled it in."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Heavy modules no start-up path needs: each command or metric imports its own when it runs.
HEAVY = [
    "sklearn",
    "scipy",
    "matplotlib",
    "statsmodels",
    "pandas",
    "tensorboard",
    "torch.utils.tensorboard",
    "tokenizers",
    "sacrebleu",
    "seqeval",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "torch._dynamo",
    "torch._inductor",
    "torch.onnx",
]

# Runs `code` with a finder recording who first imports each watched module, then prints, as
# JSON, {module: [frames]} for every watched module that ended up in sys.modules.
_PROBE = """
import json, sys, traceback

WATCH = {watch!r}
first = {{}}


class Finder:
    def find_spec(self, name, path=None, target=None):
        for w in WATCH:
            if (name == w or name.startswith(w + ".")) and w not in first and w not in sys.modules:
                frames = [
                    f"{{f.filename}}:{{f.lineno}} in {{f.name}}"
                    for f in traceback.extract_stack()[:-1]
                    if "importlib" not in f.filename and not f.filename.startswith("<frozen")
                ]
                first[w] = frames
        return None


sys.meta_path.insert(0, Finder())
try:
{code}
finally:
    found = {{w: first.get(w, ["(imported before the probe)"]) for w in WATCH if w in sys.modules}}
    print("\\nIMPORTED " + json.dumps(found))
"""


def imported(code: str, watch: list[str], *, cwd=None) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; the watched modules it imported, each with the
    stack of its first import."""
    probe = _PROBE.format(watch=watch, code=textwrap.indent(textwrap.dedent(code), "    "))
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    marker = [line for line in result.stdout.splitlines() if line.startswith("IMPORTED ")]
    assert marker, f"the probe did not finish:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(marker[-1].removeprefix("IMPORTED "))


def who(frames: list[str]) -> str:
    """The rnnkit line that led to an import, and the line that did it."""
    ours = [f for f in frames if "/rnnkit/" in f and "/tests/" not in f]
    return f"via {ours[-1] if ours else '(no rnnkit frame)'}; imported at {frames[-1]}"


def describe(found: dict[str, list[str]]) -> str:
    return "\n".join(f"  {module}: {who(frames)}" for module, frames in found.items())


def test_import_rnnkit_imports_nothing_heavy():
    """``import rnnkit`` is cheap: the public names load on first use, torch included."""
    found = imported("import rnnkit", ["torch", *HEAVY])
    assert not found, "import rnnkit imported:\n" + describe(found)


def test_public_names_import_no_optional_dependency():
    """All of rnnkit's public API loads with torch but without the optional, task- or
    output-specific libraries."""
    code = """
        import rnnkit
        from rnnkit import *  # noqa: F403
        for name in rnnkit.__all__:
            getattr(rnnkit, name)
        assert callable(rnnkit.export), rnnkit.export
        import rnnkit.export
        assert callable(rnnkit.export), "importing rnnkit.export hid the function"
    """
    found = imported(code, HEAVY)
    assert not found, "the public API imported:\n" + describe(found)


def test_help_imports_neither_torch_nor_anything_heavy():
    """``rnnkit --help`` and every ``rnnkit COMMAND --help`` build the parser without torch."""
    code = """
        from rnnkit.cli.main import build_parser, main
        commands = sorted(build_parser()._subparsers._group_actions[0].choices)
        assert "train" in commands, commands
        for argv in [["--help"]] + [[c, "--help"] for c in commands]:
            try:
                main(argv)
            except SystemExit as e:
                assert e.code == 0, (argv, e.code)
    """
    found = imported(code, ["torch", "numpy", *HEAVY])
    assert not found, "rnnkit --help imported:\n" + describe(found)


def test_short_training_run_imports_only_what_it_uses(tmp_path):
    """A 1-step classification run (scores: accuracy, macro-F1) without TensorBoard: no
    scikit-learn, pandas or TensorBoard; matplotlib only for the plots at the end of the run
    (Trainer._finish); torch's compiler stack only where torch's own optimizers import it.

    torch.optim.Optimizer imports torch._dynamo unconditionally: ``__init__`` calls
    ``add_param_group``, decorated with ``torch._disable_dynamo`` (torch/_compile.py imports
    torch._dynamo at the first call), and ``step`` is wrapped by
    ``_use_grad_for_differentiable``, which runs ``import torch._dynamo`` at every call. No
    optimizer flag avoids it, so the check is that nothing else brings it in."""
    rows = [
        ",".join([str(i % 2), *(f"{(i % 2) + 0.1 * ((i * 7 + t) % 5):.2f}" for t in range(12))])
        for i in range(24)
    ]
    (tmp_path / "train.csv").write_text("\n".join(rows[:16]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(rows[16:]) + "\n")
    code = f"""
        from rnnkit.cli.main import main
        status = main([
            "train", "--task", "ts-classify", "--data", {str(tmp_path / "train.csv")!r},
            "--test", {str(tmp_path / "test.csv")!r}, "--steps", "1", "--batch-size", "4",
            "--hidden", "4", "--quiet", "--no-tensorboard", "--threads", "1",
            "--out", {str(tmp_path / "run")!r},
        ])
        assert status == 0, status
    """
    found = imported(code, HEAVY)
    assert (tmp_path / "run" / "summary.json").is_file(), "the run did not finish"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "macro_f1" in summary["test"], summary["test"]  # the scores were computed

    plots = found.pop("matplotlib", None)
    if plots is not None:
        assert any("rnnkit/report/plots.py" in f for f in plots) and any(
            "in _finish" in f for f in plots
        ), "matplotlib imported before the end-of-run plots: " + who(plots)
    for module in ("torch._dynamo", "torch._inductor", "torch.onnx"):  # torch._dynamo's own
        frames = found.pop(module, None)
        if frames is not None:
            assert any("torch/optim/" in f for f in frames), (
                f"{module} imported outside torch.optim: " + who(frames)
            )
    assert not found, "a 1-step training run imported:\n" + describe(found)
