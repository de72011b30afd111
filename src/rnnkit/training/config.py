"""Run configuration: four frozen dataclasses (task, model, optim, train) joined in
:class:`RunConfig`, with checks that name the field, the bad value and what is allowed.

A config comes from defaults, then a YAML/TOML file, then command-line flags, in that order
(:func:`resolve`); every field has one flag whose name is the field's with ``-`` for ``_``
(``task.name`` is ``--task``). Unknown sections or keys are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import reprlib
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from rnnkit.errors import ConfigError


@dataclass(frozen=True)
class _Section:
    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check_type(f"{self.section}.{f.name}", getattr(self, f.name), hints[f.name])
        self._check()

    section: typing.ClassVar[str] = ""

    def _check(self) -> None:
        """Range checks beyond the type; raise ConfigError naming the field."""

    def _positive(self, *names: str, allow_zero: bool = False) -> None:
        for name in names:
            value = getattr(self, name)
            if value is None or isinstance(value, str):  # None and 'auto' mean themselves
                continue
            if value < 0 or (value == 0 and not allow_zero):
                bound = ">= 0" if allow_zero else "> 0"
                raise ConfigError(
                    f"{self.section}.{name}: expected a number {bound}, got {value!r}"
                )


@dataclass(frozen=True)
class TaskConfig(_Section):
    """What to learn: a built-in task and its size."""

    section: typing.ClassVar[str] = "task"

    name: Literal[
        "adding",
        "copy",
        "digits",
        "permuted_digits",
        "reverse",
        "sort",
        "dates",
        "translate",
        "trees",
        "listops",
        "forecast",
        "ts-classify",
        "classify",
        "lm",
        "tag",
    ] = "adding"
    """The task (see ``rnnkit.tasks``): sequence tasks adding, copy, digits, permuted_digits;
    sequence-to-sequence tasks reverse, sort, dates (generated) and translate (your files);
    tree tasks trees (sentiment treebank files) and listops (generated); forecast (a CSV or
    Parquet file of time series); ts-classify (labelled series: --data and --test files);
    classify (labelled texts: --data, optional --valid and --test files); lm (language
    modelling on a plain-text --data file, optional --valid and --test); tag (a tag per
    token, NER or POS: CoNLL column files --data, --valid, optional --test)."""
    seq_len: int = 100
    """T: adding: the sequence length; copy: the delay (the recall cue comes T steps after the
    last symbol; sequences have T + 20 steps); reverse, sort: the longest source; listops:
    the longest training expression in tokens (test sets have every length); others: ignored."""
    min_len: int = 1
    """reverse, sort: the shortest source (lengths are uniform in [min_len, seq_len])."""
    valid_size: int = 1000
    """Sequences in the validation set (generated tasks; digits use a fixed split)."""
    test_size: int = 1000
    """Sequences in the test set (generated tasks; digits use a fixed split)."""
    data_seed: int = 1234
    """Seed of the validation and test sets and of the digits permutation and split."""
    data: str | None = None
    """translate: training pairs, a TSV file (source<TAB>target per line) or two line-aligned
    files given as 'SOURCE_FILE,TARGET_FILE'; trees: a treebank file, one bracketed tree per
    line; forecast: a CSV or Parquet file of time series (split in time: the last
    test_steps for testing, the valid_steps before them for validation; or statsmodels:co2,
    statsmodels:sunspots, statsmodels:elnino, series statsmodels bundles); ts-classify: the
    training series, UCR wide form (label,x0,x1,... per line) or long form (a header);
    classify: labelled texts, CSV, TSV, JSON lines or '<label> <text>' lines (text_format);
    tag: a CoNLL column file (a token and its tag per line, blank lines between sentences)."""
    valid: str | None = None
    """translate, trees, tag: the validation data, in the same form as data; ts-classify,
    classify: optional (None: a stratified 10% of the training data, drawn with data_seed)."""
    test: str | None = None
    """translate, trees, classify, tag: the test data, in the same form as data; None: report
    the validation set."""
    classes: Literal["fine", "binary"] = "fine"
    """trees: five sentiment classes (--fine-grained), or two (--binary: 0-1 negative, 3-4
    positive, neutral nodes unlabelled and neutral sentences dropped)."""
    tree_form: Literal["binary", "operator"] = "binary"
    """listops: the gold left-branching binary parse, or the operator-with-arguments tree
    (Tree-LSTM only; N-ary cells then take up to 5 children)."""
    train_size: int = 90000
    """listops: distinct training expressions generated (at most seq_len tokens each)."""
    tokenizer: Literal["char", "word", "bpe"] = "word"
    """translate, classify: split text into characters, whitespace words, or BPE subwords
    (learned on the training data with the tokenizers library); generated tasks always use
    characters."""
    min_freq: int = 1
    """translate, trees, classify, tag: tokens seen fewer times map to <unk>; BPE: the fewest
    times a pair must occur to be merged."""
    max_vocab: int | None = None
    """translate (char/word), trees, classify, tag: keep at most this many tokens (per side);
    None: all."""
    bpe_size: int = 8000
    """translate, classify, BPE: the vocabulary size learned (per side)."""
    lowercase: bool = False
    """classify: lowercase texts before tokenizing them (also when predicting); tag: lowercase
    tokens before looking them up (also in rnnkit tag; the output keeps them as written)."""
    punctuation: Literal["keep", "split", "strip"] = "keep"
    """classify: punctuation marks (Unicode P*) kept as they are, split off as tokens of
    their own ("it's ok." -> it ' s ok .), or stripped, before tokenizing."""
    tag_col: int | None = None
    """tag: the column of the tag in the CoNLL files, counted from 0 (the token is column 0;
    e.g. 1 for CoNLL-2003's part-of-speech tags); None: the last column."""
    time_col: str = "date"
    """forecast: the time column (dates, or numbers); ts-classify, long form: the column
    ordering each series' steps (at the default: 'time', or 'date' if only that is there)."""
    target: str | None = None
    """forecast: the column to forecast; in wide form several, comma-separated, each a
    series."""
    id_col: str | None = None
    """forecast: long form: the column naming each row's series; ts-classify: the same (None:
    'id')."""
    label_col: str = "label"
    """ts-classify, long form: the column holding each series' label; classify: the CSV/TSV
    column or JSON key of each text's label."""
    text_col: str = "text"
    """classify: the CSV/TSV column or JSON key of each text."""
    text_format: Literal["auto", "csv", "tsv", "jsonl", "label-text"] = "auto"
    """classify: how data, valid and test are read; auto: by extension (.csv; .tsv, .tab;
    .jsonl, .ndjson, .json; anything else, e.g. .txt: '<label> <text>' lines). CSV and TSV
    files have a header naming text_col and label_col."""
    encoding: str = "utf-8"
    """classify: the text encoding of the data files (e.g. latin-1)."""
    bad_lines: Literal["error", "skip"] = "error"
    """classify: a malformed line in a data file (no label, empty text, bad JSON, a missing
    key or column) stops with its file and line, or is skipped (counted on stderr)."""
    class_weights: Literal["none", "balanced"] = "none"
    """classify: weight each class's cross-entropy by N / (C * N_c), inverse to its
    frequency in the training part (balanced), or not at all."""
    normalize: Literal["series", "global", "none"] = "global"
    """ts-classify: z-normalize all series by the training series' per-channel mean and std
    (global), or each series per channel on its own (the UCR convention; it erases level and
    amplitude, which often carry the class: 0.70 against 0.97 accuracy on JapaneseVowels, see
    BENCHMARKS.md), or not at all."""
    past_covariates: str | None = None
    """forecast: comma-separated columns known only up to the present (inputs only)."""
    future_covariates: str | None = None
    """forecast: comma-separated columns known ahead (e.g. calendar features, holidays): read
    over the lookback, and at the forecast steps (the seq2seq decoder's inputs; a linear term
    of the direct model)."""
    horizon: int = 12
    """forecast: steps forecast at once."""
    lookback: int = 48
    """forecast: past steps the model reads."""
    season: int = 1
    """forecast: the seasonal period in steps (12 for monthly data with a yearly cycle): the
    seasonal naive baseline and MASE's scale; 1: no seasonality."""
    missing: Literal["error", "ffill", "interpolate"] = "error"
    """forecast: what a missing value does: stop with its line, or fill it (forward, or a
    straight line in time)."""
    valid_steps: int | None = None
    """forecast: time steps held out for validation; None: 10% of the series, at least one
    horizon."""
    test_steps: int | None = None
    """forecast: the last time steps, held out for testing; None: as valid_steps."""
    scaling: Literal["series", "window"] = "series"
    """forecast: inputs and targets scaled per series (training part's mean and std), or
    also shifted per window by its last input value, so the model forecasts changes from
    the present (for series that trend beyond their training range)."""
    likelihood: Literal["none", "gaussian", "quantile"] = "none"
    """forecast: point forecasts trained on squared error, or prediction intervals: a
    Gaussian mean and standard deviation per step (negative log-likelihood), or the 10%, 50%
    and 90% quantiles (pinball loss). Intervals are 80%."""
    backtest_origins: int = 5
    """forecast: after training, backtest the model and the baselines from this many
    cut-off points spread over the test period (rolling origin; the baselines are refitted at
    each); 0: no backtest."""
    baselines: str = "naive,seasonal_naive,ets,sarima"
    """forecast: the baselines of the backtest, comma-separated: naive, seasonal_naive, ets
    (Holt-Winters, statsmodels), sarima (SARIMA(1,1,1)(1,1,1)_season, statsmodels)."""

    def _check(self) -> None:
        self._positive("seq_len", "min_len", "valid_size", "test_size", "min_freq")
        self._positive("max_vocab", "bpe_size", "train_size")
        if self.min_len > self.seq_len and self.name in ("reverse", "sort"):
            raise ConfigError(
                f"task.min_len: {self.min_len} is above seq_len {self.seq_len} (the longest source)"
            )
        self._positive("horizon", "lookback", "season", "valid_steps", "test_steps")
        self._positive("backtest_origins", allow_zero=True)
        known = ("naive", "seasonal_naive", "ets", "sarima")
        for name in (b.strip() for b in self.baselines.split(",") if b.strip()):
            if name not in known:
                raise ConfigError(f"task.baselines: unknown baseline {name!r}; allowed: "
                                  f"{', '.join(known)}")  # fmt: skip
        files = {"data": self.data, "valid": self.valid, "test": self.test}
        if self.name == "forecast":
            if self.data is None:
                raise ConfigError("task.data: task 'forecast' needs --data FILE (CSV or Parquet)")
            if self.target is None:
                raise ConfigError("task.target: task 'forecast' needs --target COLUMN[,COLUMN]")
            for key in ("valid", "test"):
                if files[key] is not None:
                    raise ConfigError(f"task.{key}: task 'forecast' splits --data in time; use "
                                      f"--{key}-steps N")  # fmt: skip
        elif self.name == "ts-classify":
            form = "labelled series: UCR wide form (label,x0,x1,...) or long form (a header)"
            for key in ("data", "test"):
                if files[key] is None:
                    raise ConfigError(f"task.{key}: task 'ts-classify' needs --{key} FILE ({form})")
        elif self.name == "classify":
            if self.data is None:
                raise ConfigError("task.data: task 'classify' needs --data FILE (labelled texts: "
                                  "CSV, TSV, JSON lines or '<label> <text>' lines)")  # fmt: skip
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ConfigError(f"task.encoding: unknown text encoding {self.encoding!r} "
                                  "(e.g. utf-8, latin-1, cp1252)") from None  # fmt: skip
        elif self.name == "lm":
            if self.data is None:
                raise ConfigError("task.data: task 'lm' needs --data FILE (plain UTF-8 text)")
        elif self.name in ("translate", "trees", "tag"):
            form = {
                "translate": "a TSV file of source<TAB>target lines, or SOURCE_FILE,TARGET_FILE",
                "trees": "a file of bracketed trees, one per line",
                "tag": "a CoNLL file: a token and its tag per line, blank lines between sentences",
            }[self.name]
            if self.tag_col is not None and self.tag_col < 1:
                raise ConfigError(f"task.tag_col: expected a column after the token's (>= 1; "
                                  f"None: the last), got {self.tag_col!r}")  # fmt: skip
            for key in ("data", "valid"):
                if files[key] is None:
                    raise ConfigError(f"task.{key}: task {self.name!r} needs --{key} FILE ({form})")
        else:
            for key, value in files.items():
                if value is not None:
                    raise ConfigError(
                        f"task.{key}: only for tasks 'translate', 'trees', 'forecast', "
                        f"'ts-classify', 'classify', 'lm' and 'tag' (task {self.name!r} makes its "
                        f"own data), got {value!r}"
                    )


@dataclass(frozen=True)
class ModelConfig(_Section):
    """The network: a recurrent encoder (``rnnkit.layers.Recurrent``) and a task head."""

    section: typing.ClassVar[str] = "model"

    name: Literal["sequence", "tree-lstm", "seq2seq"] = "sequence"
    """The model (--model): a recurrent sequence model (for tree tasks it reads the leaves
    left to right; for forecasts, a direct multi-horizon head), a Tree-LSTM over the tree
    (tree tasks only), or an encoder-decoder forecaster whose decoder reads the known-future
    covariates and attends over the past (forecast only; --attention picks the score)."""
    tree_cell: Literal["childsum", "nary"] = "childsum"
    """Tree-LSTM: Child-Sum (any number of unordered children) or N-ary (ordered children,
    per-child weights; Tai et al. 2015)."""
    cell: Literal["rnn", "lstm", "gru", "mingru", "minlstm"] = "lstm"
    """Recurrent cell type (minGRU and minLSTM: gates from the input alone, so a whole
    sequence is one linear recurrence, solved by a loop or a parallel scan; Feng et al. 2024)."""
    hidden: int = 128
    """H: hidden units per layer and direction."""
    layers: int = 1
    """L: stacked recurrent layers."""
    bidirectional: bool = False
    """Also read each sequence backwards and concatenate the two directions."""
    dropout: float = 0.0
    """Dropout between stacked layers and before the head (training only)."""
    residual: bool = False
    """Residual connections between stacked layers of equal width."""
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    """How a sequence-level head summarizes the outputs over time ('attention': learned
    weights over the steps, Yang et al. 2016)."""
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    """Vanilla RNN only: the activation (relu with identity init is the IRNN)."""
    peephole: bool = False
    """LSTM only: peephole connections from the cell state to the gates."""
    norm: Literal["none", "layer", "batch"] = "none"
    """LSTM only: layer- or recurrent batch normalization."""
    proj_size: int | None = None
    """LSTM only: project the hidden state to this size (LSTMP); None: no projection."""
    scan: Literal["auto", "sequential", "scan", "chunked"] = "auto"
    """minGRU/minLSTM only: how a sequence is solved (a loop, a log-space parallel scan, or
    scans within chunks carried across them); auto: the fastest measured on the device."""
    chunk_size: int = 64
    """minGRU/minLSTM only: steps per chunk of the chunked scan."""
    block: bool = False
    """minGRU/minLSTM only: the paper's block per layer (layer norm, residual, MLP)."""
    init: Literal["default", "xavier", "orthogonal", "identity", "chrono"] = "default"
    """Weight initialization: torch's default uniform, Xavier, orthogonal recurrent weights,
    identity recurrent weights (IRNN), or chrono forget biases (LSTM/GRU, T_max = seq_len)."""
    forget_bias: float | None = None
    """LSTM only: a constant forget-gate bias (e.g. 1.0, Jozefowicz et al. 2015)."""
    path: Literal["auto", "fused", "custom", "reference"] = "auto"
    """Execution path of the runner (see ``Recurrent``); results agree, speed differs."""
    embed: int | None = None
    """Tasks with tokens (sequence-to-sequence, tree tasks, tag): E, the token embedding size;
    None: the hidden size."""
    embeddings: str | None = None
    """Tree tasks, tag: initialize the token embeddings from this GloVe/word2vec text file (its
    dimension is the embedding size; words it lacks start random)."""
    crf: bool = False
    """Task tag only: score whole tag sequences with a linear-chain CRF (the BiLSTM-CRF of
    Lample et al. 2016): trained on its log-likelihood, decoded by Viterbi."""
    attention: Literal["none", "dot", "general", "additive"] = "general"
    """Sequence-to-sequence (and --model seq2seq forecasts): the decoder's attention over the
    encoder outputs (Luong dot or general, Bahdanau additive), or none (the decoder sees only
    the bridged final state)."""
    input_feeding: bool = True
    """Sequence-to-sequence: feed the previous attentional state with the next token (Luong)."""
    tie_embeddings: bool = False
    """Sequence-to-sequence and language models: the output layer shares the (target)
    embedding (needs embed == hidden, or for a language model an LSTM with proj_size ==
    embed; Inan et al. 2017, Press & Wolf 2017)."""
    variational: bool = False
    """Dropout masks fixed across time within a sequence (Gal & Ghahramani 2016) for the
    dropout between layers (and, in language models, on the embeddings and outputs)."""
    weight_drop: float = 0.0
    """DropConnect on the recurrent (hidden-to-hidden) weights, one mask per batch (Merity et
    al. 2017); not for minGRU/minLSTM."""
    zoneout: float = 0.0
    """Each state unit keeps its previous value with this probability at each step (Krueger
    et al. 2017; the expectation at evaluation); runs the time loop, not the fused kernel."""
    embed_dropout: float = 0.0
    """Language models: drop whole words from the embedding table (AWD-LSTM's dropoute)."""
    input_dropout: float = 0.0
    """Language models: dropout on the embeddings fed to the first layer (AWD's dropouti)."""

    def _check(self) -> None:
        self._positive("hidden", "layers", "proj_size", "embed", "chunk_size")
        output = self.proj_size or self.hidden  # what the last layer gives
        if self.tie_embeddings and self.embed not in (None, output):
            raise ConfigError(
                f"model.tie_embeddings: needs embed == hidden (or an LSTM's proj_size), got "
                f"embed {self.embed} and hidden {self.hidden}"
            )
        for name in ("dropout", "weight_drop", "zoneout", "embed_dropout", "input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name}: expected a number in [0, 1), got "
                                  f"{getattr(self, name)!r}")  # fmt: skip
        if (self.weight_drop or self.zoneout) and self.cell in ("mingru", "minlstm"):
            name = "weight_drop" if self.weight_drop else "zoneout"
            raise ConfigError(f"model.{name}: not for cell {self.cell!r} (no recurrent weights; "
                              "its state is solved as a scan)")  # fmt: skip
        if self.zoneout and self.path == "fused":
            raise ConfigError("model.zoneout: runs in the time loop; not with path 'fused'")
        lstm_only = {
            "peephole": self.peephole,
            "norm": self.norm != "none",
            "proj_size": self.proj_size is not None,
            "forget_bias": self.forget_bias is not None,
        }
        for name, used in lstm_only.items():
            if used and self.cell != "lstm":
                raise ConfigError(
                    f"model.{name}: only for cell 'lstm', got cell {self.cell!r} with "
                    f"{name}={getattr(self, name)!r}"
                )
        minimal_only = {
            "scan": self.scan != "auto",
            "chunk_size": self.chunk_size != 64,
            "block": self.block,
        }
        for name, used in minimal_only.items():
            if used and self.cell not in ("mingru", "minlstm"):
                raise ConfigError(
                    f"model.{name}: only for cells 'mingru' and 'minlstm', got cell "
                    f"{self.cell!r} with {name}={getattr(self, name)!r}"
                )
        if self.cell in ("mingru", "minlstm") and self.init in ("orthogonal", "identity"):
            raise ConfigError(
                f"model.init: {self.init!r} sets recurrent weights; cell {self.cell!r} has none "
                "(its gates read only the input)"
            )
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ConfigError(
                f"model.nonlinearity: only for cell 'rnn', got cell {self.cell!r} with "
                f"nonlinearity={self.nonlinearity!r}"
            )
        if self.init == "chrono" and self.cell == "rnn":
            raise ConfigError("model.init: 'chrono' sets gate biases; cell 'rnn' has no gates")
        if self.init == "chrono" and self.forget_bias is not None:
            raise ConfigError("model.forget_bias: not with init 'chrono', which sets that bias")


@dataclass(frozen=True)
class OptimConfig(_Section):
    """The optimizer, its learning-rate schedule and gradient clipping."""

    section: typing.ClassVar[str] = "optim"

    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    """Optimizer (torch.optim)."""
    lr: float = 1e-3
    """Peak learning rate."""
    momentum: float = 0.0
    """SGD and RMSprop momentum."""
    nesterov: bool = False
    """SGD: Nesterov momentum (needs momentum > 0)."""
    weight_decay: float = 0.0
    """L2 penalty (decoupled for AdamW)."""
    beta1: float = 0.9
    """Adam/AdamW: first-moment decay."""
    beta2: float = 0.999
    """Adam/AdamW: second-moment decay."""
    alpha: float = 0.99
    """RMSprop: smoothing constant of the squared-gradient average."""
    schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    """Learning-rate schedule: constant, cosine decay to min_lr, step decay by gamma every
    step_size steps, or reduce-on-plateau of the validation metric."""
    warmup: int = 0
    """Steps of linear warm-up from 0 to lr (constant, cosine and step schedules)."""
    min_lr: float = 0.0
    """Cosine: the final learning rate; plateau: the floor."""
    step_size: int = 1000
    """Step schedule: steps between decays."""
    gamma: float = 0.1
    """Step and plateau schedules: the factor applied at each decay."""
    plateau_patience: int = 5
    """Plateau schedule: evaluations without improvement before decaying."""
    clip: float = 0.0
    """Clip gradients to this global L2 norm; 0 disables."""
    clip_value: float = 0.0
    """Clip each gradient element to [-clip_value, clip_value]; 0 disables."""

    def _check(self) -> None:
        self._positive("lr", "step_size")
        self._positive(
            "momentum", "weight_decay", "warmup", "min_lr", "plateau_patience", "clip",
            "clip_value", allow_zero=True,
        )  # fmt: skip
        for name in ("beta1", "beta2", "alpha"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"optim.{name}: expected a number in [0, 1), got {getattr(self, name)!r}"
                )
        if not 0.0 < self.gamma < 1.0:
            raise ConfigError(f"optim.gamma: expected a number in (0, 1), got {self.gamma!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError(
                f"optim.nesterov: needs optimizer 'sgd' with momentum > 0, got optimizer "
                f"{self.optimizer!r}, momentum {self.momentum!r}"
            )
        if self.warmup and self.schedule == "plateau":
            raise ConfigError("optim.warmup: not with schedule 'plateau' (use cosine or step)")
        if self.min_lr > self.lr:
            raise ConfigError(f"optim.min_lr: {self.min_lr!r} is above lr {self.lr!r}")


@dataclass(frozen=True)
class TrainConfig(_Section):
    """The training loop: budget, evaluation, checkpoints, device and logging."""

    section: typing.ClassVar[str] = "train"

    steps: int = 3000
    """Optimizer steps (one batch each)."""
    batch_size: int = 64
    """Sequences per training batch."""
    eval_every: int = 100
    """Validate (and write the last checkpoint) every this many steps, and at the end."""
    eval_batch_size: int = 500
    """Sequences per batch when evaluating."""
    early_stopping: str | None = None
    """Stop when this validation metric (e.g. 'mse', 'accuracy') has not improved for
    early_stopping_patience evaluations; None: never."""
    early_stopping_patience: int = 10
    """Evaluations without improvement before early stopping."""
    stop_at_target: bool = False
    """Stop as soon as validation reaches the task's target (e.g. adding: MSE < 0.01)."""
    max_time: float | None = None
    """Stop after this many seconds of training (checked every step); None: no limit."""
    teacher_forcing: float = 1.0
    """Sequence-to-sequence: the probability of feeding the gold previous token rather than
    the model's own sample; with a sampling_schedule, the value it decays to from 1."""
    sampling_schedule: Literal["constant", "linear", "exponential", "inverse_sigmoid"] = "constant"
    """Sequence-to-sequence: scheduled sampling (Bengio et al. 2015): how teacher_forcing
    falls from 1 at the first step to its value at the last."""
    beam: int = 1
    """Sequence-to-sequence: beam size for the final validation and test scores (validation
    during training decodes greedily); 1: greedy."""
    length_penalty: float = 0.0
    """Sequence-to-sequence: beam search's length penalty alpha (Wu et al. 2016); 0: none."""
    grad_flow_every: int = 0
    """Record the gradient-by-time profile (||dL/dh_t|| per time step and recurrent cell)
    every this many training steps into RUN_DIR/grad_flow.jsonl, plotted as grad_flow.png
    (time step x training step); 0: off. A recorded step runs the reference loop."""
    tbptt: int = 0
    """Truncated BPTT: backpropagate through chunks of this many steps, carrying the state
    between chunks; 0: through the whole sequence."""
    seed: int = 0
    """Seed of the model's initialization, dropout and the training batches."""
    deterministic: bool = False
    """Use only deterministic algorithms (slower on GPU; bit-identical reruns)."""
    device: str = "auto"
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: run the forward pass under bfloat16 autocast."""
    threads: int | Literal["auto"] | None = "auto"
    """CPU threads for torch. 'auto': the CPUs this process may use, shared with its DataLoader
    workers, and one thread while steps show that other work competes for the cores
    (rnnkit.training.threads); a number: that many, fixed; None: torch's default."""
    workers: int = 0
    """Processes that build training batches ahead of the step that needs them (batches are a
    function of the step, so they can be made in any order); 0: the training process itself."""
    quiet: bool = False
    """No progress bar and no printed summary (for scripts)."""
    tensorboard: bool = True
    """Also write metrics as TensorBoard event files under RUN_DIR/tensorboard."""
    keep_checkpoints: int = 2
    """Checkpoints kept besides the best: the newest this many (each evaluation writes one);
    with more than one, a damaged newest checkpoint leaves an older one to resume from."""
    max_nonfinite: int = 10
    """Steps in a row with a non-finite loss or gradient (each skipped, logged) before training
    stops with an error; the last checkpoint stays intact."""
    memory_check: bool = True
    """Before training, estimate the memory the model and one training step need and stop
    early, with the estimate, if it is more than the device has free (see ResourceError)."""
    out: str | None = None
    """Run directory; None: runs/<task>-<cell>-<date>-<time>."""

    def _check(self) -> None:
        self._positive(
            "steps", "batch_size", "eval_every", "eval_batch_size", "early_stopping_patience",
            "max_time", "threads", "keep_checkpoints", "max_nonfinite",
        )  # fmt: skip
        self._positive("tbptt", "length_penalty", "workers", "grad_flow_every", allow_zero=True)
        self._positive("beam")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ConfigError(
                f"train.teacher_forcing: expected a number in [0, 1], got {self.teacher_forcing!r}"
            )
        if self.device != "auto" and not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ConfigError(
                f"train.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"
            )


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; saved resolved as RUN_DIR/config.yaml."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain dict, for YAML/JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RunConfig:
        """Build from a nested dict (``{"task": {...}, "model": {...}}``); unknown keys are
        errors naming ``source``."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: expected a mapping of sections, got {type(data).__name__}"
            )
        sections = {}
        for name, value in data.items():
            if name not in SECTIONS:
                raise ConfigError(f"{source}: unknown section {name!r}{_suggest(name, SECTIONS)}")
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: section {name!r} must be a mapping, got {type(value).__name__}"
                )
            allowed = [f.name for f in dataclasses.fields(SECTIONS[name])]
            for key in value:
                if key not in allowed:
                    raise ConfigError(f"{source}: unknown key {name}.{key}{_suggest(key, allowed)}")
            sections[name] = SECTIONS[name](**value)
        return cls(**sections)

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with flat overrides by field name, e.g. ``replace(lr=1e-2, cell="gru")``."""
        return apply_overrides(self, overrides)


SECTIONS: dict[str, type[_Section]] = {
    "task": TaskConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
}


def flat_name(section: str, name: str) -> str:
    """The flag of a field: its name, except ``task.name`` (``--task``) and ``model.name``
    (``--model``)."""
    return section if name == "name" else name


# Flat name -> (section, field). Field names are unique across sections, so each has one flag;
# task.name reads better as --task.
FLAT: dict[str, tuple[str, str]] = {}
for _section, _cls in SECTIONS.items():
    for _f in dataclasses.fields(_cls):
        _flat = flat_name(_section, _f.name)
        assert _flat not in FLAT, f"config field {_flat!r} appears in two sections"
        FLAT[_flat] = (_section, _f.name)


def apply_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return ``config`` with flat ``{field: value}`` overrides applied (a new object)."""
    changes: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key not in FLAT:
            raise ConfigError(f"unknown config key {key!r}{_suggest(key, FLAT)}")
        section, name = FLAT[key]
        changes.setdefault(section, {})[name] = value
    return dataclasses.replace(
        config,
        **{s: dataclasses.replace(getattr(config, s), **kv) for s, kv in changes.items()},
    )


def read_mapping(path: str | Path, what: str = "config") -> Any:
    """The parsed contents of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) ``what`` file
    (None if empty); errors name the file and, where the parser knows it, the line and
    column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: expected a .yaml, .yml or .toml file")
    from rnnkit.text.parallel import read_bytes

    raw = read_bytes(path, ConfigError)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is no content
    except UnicodeDecodeError as e:
        line, start = raw.count(b"\n", 0, e.start) + 1, raw.rfind(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 ({e.reason} at byte "
                          f"{e.start - start})") from None  # fmt: skip

    def at(position: int) -> str:  # ":line:column" of a character offset in text
        start = text.rfind("\n", 0, position) + 1
        return f":{text.count(chr(10), 0, position) + 1}:{position - start + 1}"

    kind = "TOML" if path.suffix == ".toml" else "YAML"
    try:
        data = tomllib.loads(text) if kind == "TOML" else yaml.load(text, Loader=_YamlLoader)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        found = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        where = f":{found[1]}:{found[2]}" if found else ""
        if message.endswith(" (at end of document)"):
            where = f":{text.count(chr(10)) + (not text.endswith(chr(10)))}"
        message = (
            message[: found.start()] if found else message.removesuffix(" (at end of document)")
        )
        raise ConfigError(f"{path}{where}: malformed TOML: {message}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        if isinstance(e, yaml.reader.ReaderError):  # a control character: no mark, a position
            where = at(e.position)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML: {' '.join(problem.split())}") from None
    except RecursionError:  # tomllib and PyYAML recurse once per level of nesting
        raise ConfigError(f"{path}: malformed {kind}: nested too deeply") from None
    except ValueError as e:  # tomllib: an integer of more than 4300 digits
        found = re.search(r"\d{4301}", text)
        where = at(found.start()) if found else ""
        raise ConfigError(f"{path}{where}: malformed {kind}: {e}") from None
    if kind == "YAML":
        _check_aliases(data, path)
    return data


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with the line of a value it cannot build: a date such as
    2024-13-45 or an integer of more than 4300 digits raised a bare ValueError."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r:.40}: {e}", node.start_mark
            ) from None

    def construct_mapping(self, node, deep=False):
        # PyYAML keeps the last of two equal keys silently; a config that sets lr twice is
        # more likely a mistake than an override.
        seen: set = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r:.40} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_MAX_VALUES = 100_000


def _check_aliases(data: Any, path: Path) -> None:
    """Refuse YAML whose aliases expand to more than :data:`_MAX_VALUES` values (a few lines
    can name 9**9 values, and an error message showing one would not fit in memory) or
    contain themselves. Sizes are memoized, so this is linear in the file."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, done = stack.pop()
        if not isinstance(value, (list, dict)):
            continue
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        if done:
            sizes[id(value)] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[id(value)] > _MAX_VALUES:
                raise ConfigError(f"{path}: YAML aliases expand to more than {_MAX_VALUES} "
                                  "values; a config needs far fewer")  # fmt: skip
        elif id(value) in sizes:
            if sizes[id(value)] < 0:
                raise ConfigError(f"{path}: a YAML alias refers to the value that contains it")
        else:
            sizes[id(value)] = -1  # open
            stack.append((value, True))
            stack.extend((c, False) for c in children)


def load_file(path: str | Path) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file with sections
    ``task``, ``model``, ``optim``, ``train``; missing keys keep their defaults."""
    data = read_mapping(path)
    if data is None:
        data = {}
    # YAML keys may be numbers, dates or null (``1: 2``); only names are sections and fields
    for section, value in data.items() if isinstance(data, dict) else ():
        inner = value.keys() if isinstance(value, dict) else ()
        for key, name in [(section, section), *((k, f"{section}.{k}") for k in inner)]:
            if not isinstance(key, str):
                raise ConfigError(f"{path}: key {name!r} is not a name (got "
                                  f"{type(key).__name__}); sections and fields are "
                                  "names")  # fmt: skip
    try:
        return RunConfig.from_dict(data, source=str(path))
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def resolve(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then ``file``, then flat ``overrides``: the resolved config."""
    config = load_file(file) if file is not None else RunConfig()
    return apply_overrides(config, overrides or {})


def save(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (readable back by :func:`load_file`)."""
    from rnnkit.training.checkpoint import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# -- type checks -----------------------------------------------------------------------------


def _check_type(name: str, value: Any, hint: Any) -> None:
    if not _matches(value, hint):
        # reprlib keeps the message one short line for a huge string or list.
        raise ConfigError(f"{name}: expected {_describe(hint)}, got {reprlib.repr(value)}")
    # NaN passes every range check (each comparison is False); no field means it or infinity.
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    raise TypeError(f"unsupported config type {hint!r}")


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in get_args(hint))
    if hint is type(None):
        return "None"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def _suggest(name: str, allowed) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; allowed: {', '.join(sorted(allowed))}"


def parse_value(key: str, text: str) -> Any:
    """Convert a command-line string to the type of flat field ``key``."""
    section, name = FLAT[key]
    hint = typing.get_type_hints(SECTIONS[section])[name]
    return _parse(f"--{key.replace('_', '-')}", text, hint)


def _parse(flag: str, text: str, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        for alternative in inner[:-1]:  # e.g. int | Literal["auto"]: the first that reads it
            try:
                return _parse(flag, text, alternative)
            except ConfigError:
                pass
        try:
            return _parse(flag, text, inner[-1])
        except ConfigError:
            if len(inner) == 1:
                raise
            raise ConfigError(f"{flag}: expected {_describe(hint)}, got {text!r}") from None
    if origin is Literal:
        if text not in get_args(hint):
            raise ConfigError(f"{flag}: expected {_describe(hint)}, got {text!r}")
        return text
    if hint is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{flag}: expected true or false, got {text!r}")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{flag}: expected an integer, got {text!r}") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{flag}: expected a number, got {text!r}") from None
    return text


def field_help(key: str) -> str:
    """The one-line docstring of flat field ``key`` (from the attribute docstrings above)."""
    return _field_docs().get(key, "")


@functools.cache
def _field_docs() -> dict[str, str]:
    """Each field's docstring (the string literal under it), by flat name: the --help text.
    Read on first use, from one parse of this file (``inspect.getsource`` of each class would
    parse it twice per class: 0.1 s at every import)."""
    import ast
    import inspect

    classes = {
        node.name: node
        for node in ast.parse(inspect.getsource(sys.modules[__name__])).body
        if isinstance(node, ast.ClassDef)
    }
    docs: dict[str, str] = {}
    for section, cls in SECTIONS.items():
        body = classes[cls.__name__].body
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
            ):
                flat = flat_name(section, node.target.id)
                docs[flat] = " ".join(nxt.value.value.split())
    return docs
