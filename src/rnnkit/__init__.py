"""rnnkit: recurrent neural networks on PyTorch.

Every known remedy for hard-to-train RNNs one flag away, fast, and measured. The public API:

- cells (one time step each): :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`, with typed
  states :class:`LSTMState`, :class:`BNLSTMState` and the helpers :func:`map_state`, :func:`detach`;
- the runner :class:`Recurrent` (layers, directions, lengths; fused/custom/reference paths);
- converters :func:`from_torch`, :func:`to_torch`; initializers :func:`initialize`;
- whole models :class:`SequenceModel` (encoder + classification/regression/tagging head);
- :class:`Forecaster`: fit/predict/save/load for time-series forecasts;
- training: :func:`train` (the Python face of ``rnnkit train``) with a :class:`RunConfig`,
  returning a :class:`Run`; :func:`load_run` to get a trained run's model back; :func:`export`
  to ONNX or TorchScript;
- errors: every problem a user can fix raises a :class:`RnnkitError` (its kinds, such as
  ``DataError`` and ``CheckpointError``, are in :mod:`rnnkit.errors`).

Glossary used in every docstring: B batch, T time, D input features, H hidden units,
P projection size, G gates, L layers.
"""

import importlib as _importlib
import os as _os
import sys as _sys
import types as _types
import typing as _typing

# Transparent huge pages for torch's large CPU tensors: far fewer page faults, 1.3-1.7x faster
# recurrent layers on VMs (see BENCHMARKS.md). torch reads the variable once, so it only takes
# effect when rnnkit is imported before torch; set THP_MEM_ALLOC_ENABLE=0 to opt out.
if _sys.platform.startswith("linux") and "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"  # training/ records it in checkpoints

# The public names load on first use (PEP 562): ``import rnnkit`` stays cheap, so the ``rnnkit``
# command answers --help without importing torch. Name -> the module that defines it.
_LAZY = {
    "BNLSTMState": "rnnkit.cells",
    "GRUCell": "rnnkit.cells",
    "LSTMCell": "rnnkit.cells",
    "LSTMState": "rnnkit.cells",
    "MinGRUCell": "rnnkit.cells",
    "MinLSTMCell": "rnnkit.cells",
    "RecurrentCell": "rnnkit.cells",
    "RNNCell": "rnnkit.cells",
    "detach": "rnnkit.cells",
    "map_state": "rnnkit.cells",
    "Diagnosis": "rnnkit.diagnostics",
    "diagnose": "rnnkit.diagnostics",
    "RnnkitError": "rnnkit.errors",
    "export": "rnnkit.export",
    "initialize": "rnnkit.init",
    "Recurrent": "rnnkit.layers",
    "from_torch": "rnnkit.layers",
    "to_torch": "rnnkit.layers",
    "SequenceModel": "rnnkit.models",
    "Forecaster": "rnnkit.timeseries.estimator",
    "Run": "rnnkit.training",
    "RunConfig": "rnnkit.training",
    "train": "rnnkit.training",
    "load_run": "rnnkit.training.trainer",
}

if _typing.TYPE_CHECKING:
    from rnnkit.cells import (
        BNLSTMState,
        GRUCell,
        LSTMCell,
        LSTMState,
        MinGRUCell,
        MinLSTMCell,
        RecurrentCell,
        RNNCell,
        detach,
        map_state,
    )
    from rnnkit.diagnostics import Diagnosis, diagnose
    from rnnkit.errors import RnnkitError
    from rnnkit.export import export
    from rnnkit.init import initialize
    from rnnkit.layers import Recurrent, from_torch, to_torch
    from rnnkit.models import SequenceModel
    from rnnkit.timeseries.estimator import Forecaster
    from rnnkit.training import Run, RunConfig, train
    from rnnkit.training.trainer import load_run


def __getattr__(name: str):
    """A public name (imported now, then kept), or a submodule (``rnnkit.layers``)."""
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return _importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Importing the submodule rnnkit.export binds it here; the public name stays the function.
        if name == "export" and isinstance(value, _types.ModuleType):
            value = getattr(value, "export", value)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "BNLSTMState",
    "Diagnosis",
    "Forecaster",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "Recurrent",
    "RecurrentCell",
    "RnnkitError",
    "Run",
    "RunConfig",
    "SequenceModel",
    "__version__",
    "detach",
    "diagnose",
    "export",
    "from_torch",
    "initialize",
    "load_run",
    "map_state",
    "to_torch",
    "train",
]
