"""Grids of remedies: the default one, and custom ones read from YAML or TOML files.

A grid maps a name to flat config overrides (the ``rnnkit train`` flags without dashes), each
applied to the same base config. A grid file is a mapping of such entries::

    lstm: {cell: lstm}
    lstm + chrono: {cell: lstm, init: chrono}
    gru, lr 3e-3: {cell: gru, lr: 0.003}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.training.config import ConfigError, RunConfig, apply_overrides, read_mapping

# The remedies of the literature, one change at a time from a vanilla tanh RNN or an LSTM.
DEFAULT_GRID: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn"},
    "rnn + clipping": {"cell": "rnn", "clip": 1.0},
    "rnn + orthogonal init": {"cell": "rnn", "init": "orthogonal"},
    # Le et al. (2015) trained the IRNN with gradient clipping and a small learning rate; at
    # Adam's 2e-3 it diverges on the adding problem at T=200 (ablation in README.md).
    "irnn (identity init, relu)": {
        "cell": "rnn",
        "nonlinearity": "relu",
        "init": "identity",
        "clip": 1.0,
        "lr": 2e-4,
    },
    "gru": {"cell": "gru"},
    "lstm": {"cell": "lstm"},
    "lstm + chrono init": {"cell": "lstm", "init": "chrono"},
    "lstm + layer norm": {"cell": "lstm", "norm": "layer"},
    "lstm + attention pooling": {"cell": "lstm", "pooling": "attention"},
    "mingru": {"cell": "mingru"},
}


def read_grid(path: str | Path) -> dict[str, dict[str, Any]]:
    """A grid from a ``.yaml``/``.yml`` or ``.toml`` file (see the module docstring)."""
    path = Path(path)
    data = read_mapping(path, "grid")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a non-empty mapping of name -> overrides")
    for name, overrides in data.items():
        if not isinstance(overrides, dict):
            raise ConfigError(
                f"{path}: entry {name!r}: expected a mapping of overrides, got "
                f"{type(overrides).__name__}"
            )
    return {str(k): dict(v) for k, v in data.items()}


def configs(base: RunConfig, grid: dict[str, dict[str, Any]], *, source: str = "grid"
            ) -> dict[str, RunConfig]:  # fmt: skip
    """Each grid entry applied to ``base``; an override the config refuses names its entry."""
    out = {}
    for name, overrides in grid.items():
        try:
            out[name] = apply_overrides(base, overrides)
        except ConfigError as e:
            raise ConfigError(f"{source}: entry {name!r}: {e}") from None
    return out


def slug(name: str) -> str:
    """A directory name for a grid entry: ``"lstm + chrono init"`` -> ``lstm+chrono-init``."""
    text = name.strip().lower().replace(" + ", "+")
    out = "".join(c if c.isalnum() or c in "+-." else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "entry"
