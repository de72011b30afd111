"""Export a trained model for deployment: ONNX (onnxruntime and friends) or TorchScript (libtorch).

Which exporter, and why (measured with torch 2.13):

- ONNX: ``torch.onnx.export(..., dynamo=True)``, built on ``torch.export``: the default since
  torch 2.9 and the one that is maintained. The legacy TorchScript-based exporter
  (``dynamo=False``) still works but warns that it will be removed.
- TorchScript: ``torch.jit.trace``. All of ``torch.jit`` is deprecated in torch 2.13 (in favour
  of ``torch.export``), but it is still the format that libtorch (C++) loads.
  ``torch.jit.script`` cannot compile rnnkit's modules (typed NamedTuple states, ``**options``),
  and a trace can silently freeze data-dependent branches, so the trace is checked against the
  eager model on a second input before it is saved.

rnnkit's custom path (hand-differentiated kernels on private oneDNN ops) exports to neither
format. The fused and reference paths compute the same function with the same parameters, so
:func:`export` runs every :class:`~rnnkit.layers.Recurrent` on one of those while it exports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.errors import ExportError
from rnnkit.layers import fused
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.sequence import SequenceModel

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = get_args(Format)

# ONNX's protobuf limit: one file holds at most 2 GiB (larger models need external data files).
_ONNX_FILE_LIMIT = 2**31


def export(model: SequenceModel, path: str | Path, *, format: Format, example: Tensor) -> Path:
    """Export ``model`` for inference (eval mode) to ``path`` as ONNX or TorchScript.

    The exported model has one input ``x`` (B, T, D) and the model's output: every sequence is
    taken as full length (no ``lengths``). The batch size B is always free. Whether the length T
    is free depends on whether the exporter keeps the time loop:

    ========================================  =====================  =====================
    encoder cells                             ONNX                   TorchScript
    ========================================  =====================  =====================
    LSTM, GRU (standard)                      any T (LSTM/GRU ops)   any T
    LSTM with ``proj_size``                   T of ``example``       any T
    Elman RNN                                 T of ``example``       any T
    peephole, layer/batch norm,               T of ``example``       T of ``example``
    ``reset_after=False``, custom cells
    ========================================  =====================  =====================

    "T of ``example``": the time loop is unrolled for ``example``'s T steps. The exported model
    then accepts only that length: the ONNX input declares it (onnxruntime rejects other
    lengths), the TorchScript module raises an error naming it. Both files record the
    length (ONNX metadata ``rnnkit.time_steps``, TorchScript extra file ``rnnkit.json``:
    ``"dynamic"`` or the number of steps), and :func:`export` warns (``UserWarning``) when it
    fixes the length. A batch-norm LSTM exports its per-step statistics frozen for those steps.

    Export is not thread-safe: it switches the encoder's execution path (restored afterwards)
    and, for ONNX, patches torch's RNN decompositions for its duration.

    Args:
        model: a :class:`~rnnkit.models.SequenceModel` (or any module whose ``forward(x)`` takes
            one (B, T, D) tensor and returns one tensor). Exported in eval mode; its mode,
            parameters and execution paths are left as they were.
        path: the file to write (its folder must exist). ONNX writes one self-contained file.
        format: ``"onnx"`` or ``"torchscript"``.
        example: (B, T, D) input with B >= 2 and T >= 2 (size-1 dimensions would be frozen by
            the exporters), on the model's device and in its dtype.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ExportError: bad arguments, or a model that cannot be exported (for example a cell with
            data-dependent Python control flow); one line saying why.

    Example::

        >>> model = SequenceModel(3, 2, cell="gru", hidden_size=16).eval()
        >>> export(model, "model.onnx", format="onnx", example=torch.randn(4, 10, 3))
        PosixPath('model.onnx')
    """
    if format not in FORMATS:
        raise ExportError(f"format: expected one of {FORMATS}, got {format!r}")
    if not isinstance(model, nn.Module):
        raise ExportError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    _check_example(example)
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"path: folder {str(path.parent)!r} does not exist")
    if format == "onnx":
        _check_onnx(model)

    plans = {r: _export_path(r, format) for r in model.modules() if isinstance(r, Recurrent)}
    keeps_time = all(keeps for _, keeps in plans.values())
    saved_paths = {r: r.path for r in plans}
    saved_modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        for rnn, (exportable, _) in plans.items():
            rnn.path = exportable
        try:
            with torch.no_grad():
                expected = model(example)
        except Exception as e:
            raise ExportError(f"example: the model fails on it: {_reason(e)}") from None
        if not isinstance(expected, Tensor):
            raise ExportError(
                f"model: expected forward(x) to return one tensor, got {type(expected).__name__}"
            )
        if format == "onnx":
            steps = _export_onnx(model, path, example, keeps_time)
        else:
            steps = _export_torchscript(model, path, example, keeps_time)
    finally:
        for rnn, original in saved_paths.items():
            rnn.path = original
        for module, training in saved_modes.items():
            module.training = training
    if steps is not None:
        warnings.warn(
            f"{path}: sequence length fixed to T={steps} (the exporter unrolled the encoder's "
            f"time loop over example's {steps} steps); the exported model rejects other lengths",
            UserWarning,
            stacklevel=2,
        )
    return path


# -- choosing what to export ---------------------------------------------------------------------
def _export_path(rnn: Recurrent, format: str) -> tuple[str, bool]:
    """The path to run ``rnn`` on while exporting, and whether the export keeps its time loop."""
    if not all(fused.supports(c) for c in rnn.cells):
        return "reference", False  # a Python loop over the steps: unrolled by both exporters
    if format == "torchscript":
        return "fused", True  # the trace records torch.lstm / gru / rnn_* themselves
    cell = rnn.cells[0]
    if isinstance(cell, (LSTMCell, GRUCell)) and not getattr(cell, "proj_size", 0):
        return "fused", True  # ONNX's LSTM and GRU ops
    if isinstance(cell, RNNCell):
        # torch 2.13 lowers torch.rnn_tanh/relu through a Python loop (ONNX's RNN op goes unused)
        return "fused", False
    # ONNX's LSTM has no projection and torch's lowering drops weight_hr (wrong results): loop.
    return "reference", False


def _check_example(example) -> None:
    if not isinstance(example, Tensor):
        raise ExportError(f"example: expected a torch.Tensor, got {type(example).__name__}")
    if example.dim() != 3 or not example.is_floating_point():
        raise ExportError(
            f"example: expected a floating-point (B, T, D) tensor, got {example.dtype} of shape "
            f"{tuple(example.shape)}"
        )
    if example.shape[0] < 2 or example.shape[1] < 2:
        raise ExportError(
            f"example: expected B >= 2 and T >= 2 (the exporters freeze size-1 dimensions), "
            f"got shape {tuple(example.shape)}"
        )


def _check_onnx(model: nn.Module) -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(
            f"format: 'onnx' needs {' and '.join(missing)}: pip install 'rnnkit[export]'"
        )
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    if size >= _ONNX_FILE_LIMIT:
        raise ExportError(
            f"model: {size / 2**30:.1f} GiB of parameters and buffers do not fit in one ONNX "
            f"file (2 GiB at most)"
        )


# -- ONNX ----------------------------------------------------------------------------------------
def _export_onnx(model: nn.Module, path: Path, example: Tensor, keeps_time: bool) -> int | None:
    """Write ``path``; return the fixed number of steps, or None if any T is accepted."""
    import torch.onnx

    with _rnn_while_loop_decompositions() as patched, _quiet():
        # Size-1 dimensions are specialized by torch.export, hence min=2 (B = 1 still runs).
        dims = {0: torch.export.Dim("batch", min=2)}
        if keeps_time and patched:
            dims[1] = torch.export.Dim("time", min=2)
        # torch.export prints the partial graph to stderr before it raises; ExportError says
        # in one line what went wrong, so that print is kept only when the export succeeds.
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                program = torch.onnx.export(
                    model,
                    (example,),
                    dynamo=True,
                    input_names=["x"],
                    output_names=["y"],
                    dynamic_shapes=(dims,),
                    verbose=False,
                )
        except Exception as e:
            reason = _reason(e)
            if "data-dependent" in reason:
                reason += " (Python control flow on tensor values cannot be exported)"
            raise ExportError(f"onnx export failed: {reason}") from None
        sys.stderr.write(stderr.getvalue())
    # Read the length back from the graph rather than trusting the plan: the exporter falls
    # back to a fixed size, silently, when a dimension asked to be dynamic cannot be.
    time_dim = program.model.graph.inputs[0].shape[1]
    steps = time_dim if isinstance(time_dim, int) else None
    program.model.metadata_props["rnnkit.time_steps"] = "dynamic" if steps is None else str(steps)
    try:
        program.save(path, external_data=False)
    except Exception as e:
        raise ExportError(f"onnx export failed writing {str(path)!r}: {_reason(e)}") from None
    return steps


@contextlib.contextmanager
def _rnn_while_loop_decompositions() -> Iterator[bool]:
    """torch's own fix for exporting LSTM/GRU with a dynamic T, for the whole export.

    ``torch.export`` computes the output shape of ``aten::lstm``/``gru`` by unrolling them,
    which fixes T. torch.onnx 2.13 swaps in a ``while_loop`` decomposition while it captures
    the graph, but not while it decomposes it afterwards: the LSTM/GRU output then gets the
    example's T, and the ONNX graph (input declared dynamic) fails at run time for other
    lengths. Holding the swap for the whole export keeps T symbolic throughout. Yields False
    (T stays fixed) where torch lacks these private helpers.
    """
    try:
        from torch.export._patches import (
            register_gru_while_loop_decomposition,
            register_lstm_while_loop_decomposition,
        )
    except ImportError:
        yield False
        return
    with register_lstm_while_loop_decomposition(), register_gru_while_loop_decomposition():
        yield True


# -- TorchScript ---------------------------------------------------------------------------------
class _FixedLength(nn.Module):
    """A traced model whose time loop was unrolled: name the one length it accepts."""

    def __init__(self, model: nn.Module, steps: int) -> None:
        super().__init__()
        self.model = model
        self.steps = steps

    def forward(self, x: Tensor) -> Tensor:
        if x.size(1) != self.steps:
            raise ValueError(
                "x: this model was exported with its time loop unrolled for T="
                + str(self.steps)
                + " steps, got T="
                + str(x.size(1))
            )
        return self.model(x)


def _export_torchscript(
    model: nn.Module, path: Path, example: Tensor, keeps_time: bool
) -> int | None:
    """Write ``path``; return the fixed number of steps, or None if any T is accepted."""
    B, T, D = example.shape
    steps = None if keeps_time else T
    with _quiet():
        try:
            module = torch.jit.trace(model, (example,), check_trace=False)
            if steps is not None:
                module = torch.jit.script(_FixedLength(module, steps))
        except Exception as e:
            raise ExportError(f"torchscript export failed: {_reason(e)}") from None
    # A trace records one run: Python branches on tensor values are frozen without a word.
    # Compare with the eager model on another batch size (and length, where it is free).
    probe_shape = (B + 1, T if steps is not None else T + 1, D)
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(probe_shape, generator=generator, dtype=example.dtype)
    probe = probe.to(example.device)
    with torch.no_grad():
        want = model(probe)
        try:
            got = module(probe)
        except Exception as e:
            raise ExportError(f"torchscript export failed: {_reason(e)}") from None
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise ExportError(
            "torchscript export failed: the traced model disagrees with the eager model on a "
            "second input (Python control flow on tensor values, which a trace freezes)"
        )
    info = {"time_steps": "dynamic" if steps is None else steps}
    try:
        with _quiet():
            torch.jit.save(module, str(path), _extra_files={"rnnkit.json": json.dumps(info)})
    except Exception as e:
        reason = _reason(e)
        raise ExportError(f"torchscript export failed writing {str(path)!r}: {reason}") from None
    return steps


# -- helpers -------------------------------------------------------------------------------------
# torch logs a warning per torchvision op it cannot register, and a note on failed captures.
_NOISY_LOGGERS = (
    "torch.onnx._internal.exporter._registration",
    "torch.fx.experimental.symbolic_shapes",
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence torch's warnings about its own export machinery (deprecations, tracer notes on
    rnnkit's input checks); real problems surface as errors or as the trace check's failure."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _reason(error: BaseException) -> str:
    """The informative line of an exporter's (often many-line) error message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # ANSI colours
    # torch.onnx wraps the real error in a report whose summary line names it.
    summary = re.search(r"## Exception summary\s*\n\s*(.+)", text)
    if summary:
        line = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", summary.group(1).strip())
    else:
        line = next((s.strip() for s in text.splitlines() if s.strip()), "")
        line = f"{type(error).__name__}: {line}" if line else type(error).__name__
    return line if len(line) <= 300 else line[:297] + "..."
