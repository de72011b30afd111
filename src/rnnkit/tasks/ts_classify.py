"""Time-series classification from files (``--task ts-classify``): one label per series,
univariate or multivariate, of any length.

Files: ``--data`` (training) and ``--test``, optionally ``--valid``; without it a stratified
10% of the training series (drawn with ``--data-seed``) is held out for validation. Each file
is read in the layout its first line shows (:func:`~rnnkit.timeseries.classify.read_labelled`):

- a header naming the id, time or label column: **long form**, one row per step,
  ``id,time,<channel>...,label`` (names set by ``--id-col``, default ``id``; ``--time-col``,
  ``time``, or ``date`` when only that column is there; ``--label-col``, ``label``); every
  other column is a channel;
- else **wide form** (the UCR archive's): one series per line, ``label,x0,x1,...``, commas or
  tabs; a shorter series leaves its last cells empty or ``NaN``; a first line of column names
  (``label,0,1,...``, ``class,t0,t1,...``) is a header, skipped with a notice;
- a ``.ts`` file (sktime/aeon): its ``@classLabel`` labels, ``:``-separated dimensions.
Labels become class indices in sorted order (numerically when every label is a number); a
validation or test label the training file lacks is an error. ``--normalize``: every series
with the training series' per-channel mean and standard deviation (``global``, the default),
each series z-normalized per channel on its own (``series``, the UCR convention), or ``none``.

The default model (``--model auto``) is LSTM-FCN (:class:`~rnnkit.models.fcn.RecurrentFCN`,
Karim et al. 2017; GRU-FCN with ``--cell gru``); ``--model sequence`` is the plain recurrent
classifier. ``--steps auto`` trains 100 passes over the training series (200 to 2000 steps).
Batches are padded with zeros to their longest series and carry each series' length
(:class:`SeriesInputs`); the models read only the valid steps, so padding never reaches a
result. Metrics: accuracy (the main one) and macro-F1, against 1-nearest-neighbour baselines
(every series of the training file as a reference, under the same normalization, scored on
the test set in the same run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.tasks.base import (
    Split,
    Task,
    classification_scores,
    outputs_by_length,
    sorted_labels,
    stratified_holdout,
    stream_generator,
)
from rnnkit.timeseries.classify import (
    Labelled,
    channel_stats,
    nearest_neighbour,
    normalize,
    read_labelled,
)
from rnnkit.timeseries.data import SeriesError
from rnnkit.training.config import TaskConfig

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

VALID_FRACTION = 0.1  # of the training series, held out for validation without --valid


class SeriesInputs(NamedTuple):
    """A batch of series for :class:`~rnnkit.models.SequenceModel`: ``model(*inputs)``."""

    x: Tensor  # (B, T, C) series, zeros after each one's length
    lengths: Tensor  # (B,) valid steps per series

    def to(self, device: torch.device | str) -> SeriesInputs:
        return SeriesInputs(self.x.to(device), self.lengths.to(device))


def collate(series: Sequence[np.ndarray]) -> SeriesInputs:
    """Pad (T_i, C) arrays with zeros into one (B, max T_i, C) batch, with their lengths."""
    lengths = torch.tensor([len(s) for s in series], dtype=torch.long)
    x = torch.zeros(len(series), int(lengths.max()), series[0].shape[1])  # (B, T, C)
    for b, s in enumerate(series):
        x[b, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.float32))
    return SeriesInputs(x, lengths)


# --steps auto: passes over the training series, and the bounds on the steps they make.
EPOCHS, MIN_STEPS, MAX_STEPS = 100, 200, 2000

_FORM = "labelled series: UCR wide form (label,x0,x1,...) or long form (a header)"


@dataclass(frozen=True)
class TSClassifyConfig(TaskConfig):
    """Files of labelled series, the long form's column names and the normalization."""

    data: str | None = None
    """The training series, UCR wide form (label,x0,x1,... per line) or long form (a
    header)."""
    valid: str | None = None
    """The validation series, in either form; None: a stratified 10% of the training series,
    drawn with data_seed."""
    test: str | None = None
    """The test series, in either form."""
    time_col: str = "date"
    """Long form: the column ordering each series' steps (at the default: 'time', or 'date'
    if only that is there)."""
    id_col: str | None = None
    """Long form: the column naming each row's series; None: 'id'."""
    label_col: str = "label"
    """Long form: the column holding each series' label."""
    normalize: Literal["series", "global", "none"] = "global"
    """Z-normalize all series by the training series' per-channel mean and std (global), or
    each series per channel on its own (the UCR convention; it erases level and amplitude,
    which often carry the class: 0.70 against 0.97 accuracy on JapaneseVowels, see
    BENCHMARKS.md), or not at all."""
    data_seed: int = 1234
    """Seed of the validation series held out of the training file (without --valid)."""

    def _check(self) -> None:
        for key in ("data", "test"):
            if getattr(self, key) is None:
                raise ConfigError(f"task.{key}: task 'ts-classify' needs --{key} FILE ({_FORM})")


class TSClassifyTask(Task):
    """Labelled series from files: inputs :class:`SeriesInputs` (x (B, T, C), lengths (B,)),
    targets (B,) class indices; the model returns (B, K) logits. See the module docstring.

    Args:
        config: the task config (``data``, ``test``, optional ``valid``, ``normalize``, the
            long-form column names, ``data_seed``).
        state: what :meth:`state_dict` saved (classes, channels, normalization statistics):
            a loaded run sizes its model from it, and maps labels and normalizes as in training.
    """

    name = "ts-classify"
    output = "classification"
    metrics = {"accuracy": "max", "macro_f1": "max"}
    baseline_label = "1-NN DTW (window 10%), on the test set"
    Config = TSClassifyConfig
    models = ("rnn-fcn", "sequence")
    no_tbptt = "its series have their own lengths, which truncated chunks would ignore"

    @classmethod
    def check(cls, config: RunConfig) -> None:
        super().check(config)
        if cls.model_name(config) == "rnn-fcn" and config.model.pooling != "last":
            raise ConfigError("model.pooling: not for --model rnn-fcn (its recurrent branch "
                              "gives its last state, its convolutions their mean over time); "
                              "leave it at its default")  # fmt: skip

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """LSTM-FCN / GRU-FCN (``--model rnn-fcn``, the default;
        :class:`~rnnkit.models.fcn.RecurrentFCN`) or the plain sequence model."""
        if self.model_name(config) != "rnn-fcn":
            return super().build_model(config, initialize=initialize)
        from rnnkit.models.build import initialize_runners, runner_options
        from rnnkit.models.fcn import RecurrentFCN

        options = runner_options(config.model)
        options.pop("residual")  # one recurrent layer stack; no residual between branches
        model = RecurrentFCN(self.input_size, self.output_size, max_len=self.max_len, **options)
        if initialize:
            initialize_runners(config.model, [model.encoder], span=self.span())
        return model

    def default_steps(self, batch_size: int) -> int:
        """``--steps auto``: 100 passes over the training series (at least 200 steps, at most
        2000), so a small file is not run for a fixed 3000 steps and a large one gets
        enough."""
        self.load()
        per_epoch = math.ceil(len(self.data["train"][1]) / batch_size)
        return max(MIN_STEPS, min(MAX_STEPS, EPOCHS * per_epoch))

    def label(self, config: RunConfig) -> str:
        fcn = self.model_name(config) == "rnn-fcn"
        return f"{config.model.cell}-fcn" if fcn else config.model.cell

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        """Two classes of noisy sine waves, 30 training and 10 test series of 16 steps (UCR
        wide form)."""
        rng = np.random.default_rng(0)
        paths = {}
        for split, n in (("data", 30), ("test", 10)):
            rows = []
            for i in range(n):
                x = np.sin(np.linspace(0, 3, 16) * (1 + i % 2)) + 0.1 * rng.standard_normal(16)
                rows.append(",".join([str(1 + i % 2), *(f"{v:.4f}" for v in x)]))
            paths[split] = directory / f"series_{split}.csv"
            paths[split].write_text("\n".join(rows) + "\n")
        return {"data": str(paths["data"]), "test": str(paths["test"])}

    def __init__(self, config: TSClassifyConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.how = config.normalize
        self.baseline: dict[str, float] = {}
        self.loaded = False
        self.classes: list[str] | None = None
        self.names: list[str] | None = None  # channel names (long form)
        self.channels: int | None = None
        self.stats: tuple[np.ndarray, np.ndarray] | None = None
        self._max_len: int | None = None  # the longest training series (RecurrentFCN reads it)
        if state:
            self._max_len = state.get("max_len")
            self.classes = list(state["classes"])
            self.names = state.get("channel_names")
            self.channels = int(state["channels"])
            self.how = state.get("normalize", self.how)
            if state.get("mean") is not None:
                self.stats = (np.asarray(state["mean"]), np.asarray(state["std"]))

    # -- sizes (known from the saved state, else from the training file) ------------------------
    @property
    def max_len(self) -> int:
        """T_max, the longest training series."""
        if self._max_len is None:
            self.load()
            self._max_len = max(len(s) for s in self.data["train"][0])
        return self._max_len

    @property
    def input_size(self) -> int:
        if self.channels is None:
            self.load()
        return self.channels

    @property
    def output_size(self) -> int:
        if self.classes is None:
            self.load()
        return len(self.classes)

    # -- data ----------------------------------------------------------------------------------
    def _read(self, path: str) -> Labelled:
        c = self.config
        time_col = c.time_col
        if time_col == "date":  # forecast's default: here 'time', unless only 'date' is there
            time_col = "date" if self._header_has(path, "date", "time") else "time"
        return read_labelled(path, id_col=c.id_col or "id", time_col=time_col,
                             label_col=c.label_col)  # fmt: skip

    @staticmethod
    def _header_has(path: str, name: str, other: str) -> bool:
        """Whether the first line names column ``name`` but not ``other``."""
        try:
            with open(path, encoding="utf-8") as f:
                first = next((line for line in f if line.strip()), "")
        except OSError:
            return False
        cells = [c.strip().strip('"') for c in first.replace("\t", ",").split(",")]
        return name in cells and other not in cells

    def _targets(self, data: Labelled, path: str) -> np.ndarray:
        index = {name: k for k, name in enumerate(self.classes)}
        unseen = sorted({label for label in data.labels if label not in index})
        if unseen:
            known = ", ".join(self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
            count = sum(label in unseen for label in data.labels)
            raise SeriesError(f"{path}: label(s) {', '.join(map(repr, unseen[:5]))} ({count} "
                              f"series) not among the training file's labels: {known}")  # fmt: skip
        return np.array([index[label] for label in data.labels], dtype=np.int64)

    def _check_channels(self, data: Labelled, path: str) -> None:
        if data.channels != self.channels:
            raise SeriesError(f"{path}: {data.channels} channel(s), but the model reads "
                              f"{self.channels} (the training file's)")  # fmt: skip
        if self.names is not None and data.names is not None and data.names != self.names:
            raise SeriesError(f"{path}: channels {', '.join(data.names)} differ from the training "
                              f"file's {', '.join(self.names)}")  # fmt: skip

    def _normalize(self, data: Labelled) -> list[np.ndarray]:
        out = normalize(data, self.how, stats=self.stats)
        return [s.astype(np.float32) for s in out.x]

    def load(self) -> None:
        if self.loaded:
            return
        c = self.config
        train_all = self._read(c.data)
        if self.classes is None:
            self.classes = sorted_labels(train_all.labels)
            if len(self.classes) < 2:
                raise SeriesError(f"{c.data}: one label ({self.classes[0]!r}); classification "
                                  "needs at least two")  # fmt: skip
            self.channels, self.names = train_all.channels, train_all.names
        self._check_channels(train_all, c.data)
        y_all = self._targets(train_all, c.data)
        if c.valid is not None:
            train, y_train = train_all, y_all
            valid = self._read(c.valid)
            self._check_channels(valid, c.valid)
            y_valid = self._targets(valid, c.valid)
            self.held_out = 0
        else:
            held = stratified_holdout(y_all, VALID_FRACTION, c.data_seed)
            keep = np.setdiff1d(np.arange(len(y_all)), held)
            train = Labelled([train_all.x[i] for i in keep],
                             [train_all.labels[i] for i in keep], train_all.names)  # fmt: skip
            valid = Labelled([train_all.x[i] for i in held],
                             [train_all.labels[i] for i in held], train_all.names)  # fmt: skip
            y_train, y_valid = y_all[keep], y_all[held]
            self.held_out = len(held)
        test = self._read(c.test)
        self._check_channels(test, c.test)
        y_test = self._targets(test, c.test)
        if self.how == "global" and self.stats is None:
            self.stats = channel_stats(train)  # the series trained on, nothing else
        self.data = {
            "train": (self._normalize(train), y_train),
            "valid": (self._normalize(valid), y_valid),
            "test": (self._normalize(test), y_test),
        }
        self.loaded = True
        # The baseline: every training-file series as a reference, as the UCR/UEA archive does.
        # 1-NN DTW is the reported one (accuracy, macro_f1), 1-NN Euclidean beside it (ed_*).
        # DTW takes seconds on most UCR sets, about a minute on PLAID's 537 x 537 (2 cores).
        from rnnkit.timeseries.dtw import nearest_neighbour_dtw

        reference = Labelled(self._normalize(train_all), train_all.labels)
        test_x = self.data["test"][0]
        self.baseline = {}
        for prefix, predicted in (
            ("", nearest_neighbour_dtw(reference.x, reference.labels, test_x, window=0.1)),
            ("ed_", nearest_neighbour(reference, Labelled(test_x, test.labels))),
        ):
            guess = self._targets(Labelled(test_x, predicted), c.data)
            scores = classification_scores(guess, y_test)
            self.baseline.update({prefix + name: value for name, value in scores.items()})

    def prepare(self, series: Sequence[Tensor]) -> list[Tensor]:
        """Normalize raw series (each (T_i, C)) as the training series were, for prediction."""
        data = Labelled([s.double().numpy() for s in series], ["?"] * len(series))
        return [torch.from_numpy(s) for s in self._normalize(data)]

    def predict_input(self, path: str) -> list:
        """JSON lines of series (``input_size`` numbers per step), normalized as the training
        series were (:meth:`prepare`): (T_i, C) float32 arrays."""
        from rnnkit.inputs import read_sequences

        return [s.numpy() for s in self.prepare(read_sequences(path, self.input_size))]

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[SeriesInputs, Tensor]:
        self.load()
        series, y = self.data["train"]
        gen = stream_generator(seed, "train", step)
        pick = torch.randint(0, len(series), (batch_size,), generator=gen).numpy()
        return collate([series[i] for i in pick]), torch.from_numpy(y[pick])

    def longest_example(self, seed: int) -> tuple[SeriesInputs, Tensor]:
        self.load()
        series, y = self.data["train"]
        i = max(range(len(series)), key=lambda k: len(series[k]))
        return collate([series[i]]), torch.from_numpy(y[[i]])

    def eval_set(self, split: Split) -> tuple[SeriesInputs, Tensor]:
        self.load()
        series, y = self.data[split]
        return collate(series), torch.from_numpy(y)

    # -- loss and scores -----------------------------------------------------------------------
    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), y)

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        scores = classification_scores(output.argmax(-1).cpu().numpy(), y.cpu().numpy())
        scores["loss"] = self.loss(output, y).item()
        return scores

    def evaluate(
        self,
        model: nn.Module,
        split: Split,
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        bf16: bool = False,
        final: bool = False,
        **decoding: Any,
    ) -> dict[str, float]:
        """Score ``model`` on ``split`` in batches of series of similar length (sorted, so
        little padding; the order never changes a series' output)."""
        self.load()
        series, y = self.data[split]
        output = outputs_by_length(model, series, collate, batch_size=batch_size, device=device,
                                   bf16=bf16)  # fmt: skip
        return self.score(output, torch.from_numpy(y))

    def state_dict(self) -> dict[str, Any]:
        self.load()
        mean, std = self.stats if self.stats is not None else (None, None)
        return {
            "classes": list(self.classes),
            "channels": self.channels,
            "max_len": self.max_len,
            "channel_names": self.names,
            "normalize": self.how,
            "mean": None if mean is None else [float(v) for v in mean],
            "std": None if std is None else [float(v) for v in std],
        }

    def describe(self) -> str:
        if not self.loaded:
            return f"ts-classify ({self.config.data})"
        counts = {k: len(v[1]) for k, v in self.data.items()}
        lengths = [len(s) for part in self.data.values() for s in part[0]]
        held = (f"{counts['valid']} validation held out (stratified 10%, data seed "
                f"{self.config.data_seed})" if self.held_out else
                f"{counts['valid']} validation")  # fmt: skip
        span = f"{min(lengths)}-{max(lengths)}" if min(lengths) != max(lengths) else lengths[0]
        return (f"ts-classify, {len(self.classes)} classes, {self.channels} channel(s), length "
                f"{span}: {counts['train']} training, {held}, {counts['test']} test series; "
                f"{self.how} normalization")  # fmt: skip
