"""The ablation lab: train a grid of remedies on one task with equal budgets and several
seeds, resumably, and rank them (``rnnkit ablate``)."""

from rnnkit.ablation.grid import DEFAULT_GRID, read_grid
from rnnkit.ablation.run import Budget, Row, run_ablation

__all__ = ["DEFAULT_GRID", "Budget", "Row", "read_grid", "run_ablation"]
