"""Where training metrics go: ``metrics.csv`` (one row per step, validation columns filled at
evaluations) and TensorBoard event files under ``RUN_DIR/tensorboard``."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from rnnkit.training.checkpoint import atomic_write_text


class MetricsLog:
    """Append rows of named numbers to ``metrics.csv`` and, optionally, to TensorBoard.

    Args:
        run_dir: the run directory.
        columns: the CSV header; rows may leave columns out (written empty).
        tensorboard: also write event files (tag ``train/loss``, ``valid/mse``, ...).
        resume_step: when resuming, rows after this step (written after the checkpoint the
            run resumes from) are dropped so the file holds each step once.
    """

    def __init__(
        self,
        run_dir: Path,
        columns: list[str],
        *,
        tensorboard: bool = True,
        resume_step: int | None = None,
    ) -> None:
        self.path = run_dir / "metrics.csv"
        self.columns = columns
        kept: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            kept = _rows_up_to(self.path, resume_step)
        # The kept rows replace the file in one rename: a run killed now still has them all.
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, text.getvalue())
        self._file = self.path.open("a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(
                log_dir=str(run_dir / "tensorboard"), purge_step=resume_step
            )

    def write(self, row: dict[str, float]) -> None:
        """One row; ``row["step"]`` is required. NaN and missing values are written empty."""
        self._csv.writerow(
            {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        )
        if self._writer is not None:
            step = int(row["step"])
            for name, value in row.items():
                if name in ("step",) or value is None:
                    continue
                split, _, metric = name.partition("_")
                tag = f"{split}/{metric}" if split in ("valid", "test") else f"train/{name}"
                self._writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        """Push rows to disk (called before each checkpoint is written)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def _rows_up_to(path: Path, step: int) -> list[dict[str, str]]:
    """The complete rows of steps 1..``step`` in order; stops at a row cut short by a crash
    (fewer cells than the header) or out of order."""
    kept: list[dict[str, str]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if None in row.values() or None in row or not row["step"].isdigit():
                break
            if int(row["step"]) > step or int(row["step"]) != len(kept) + 1:
                break
            kept.append(row)
    return kept


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """``metrics.csv`` as a list of rows, numbers parsed, empty cells left out."""
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
