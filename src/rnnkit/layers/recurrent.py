"""``Recurrent``: the one runner that applies any cell over time.

Layers, directions, variable lengths, dropout and residual connections live here once; the three
execution paths (fused, custom, reference) are chosen in :meth:`Recurrent.resolve_path`.
"""

from __future__ import annotations

import inspect
import sys
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import CELLS, BNLSTMState, GRUCell, LSTMState, RecurrentCell, map_state
from rnnkit.cells.base import PROBE, check_input, check_shape
from rnnkit.cells.minimal import MinimalCell
from rnnkit.layers import fused, kernels, paths, regularize
from rnnkit.scan import linear as scan

Path = Literal["auto", "fused", "custom", "reference"]
PATHS = ("auto", "fused", "custom", "reference")


# Below this many steps the custom GRU/projected-LSTM kernels lose to torch's loop: their
# per-call set-up (oneDNN weight reorders) is not repaid. Measured on CPU, B=64, H=128,
# training: custom/fused time 2.5x at T=1, 1.3x at T=4, 1.0x at T=16.
MIN_CUSTOM_STEPS = 16


class Recurrent(nn.Module):
    r"""Run a recurrent cell over sequences: stacked layers, both directions, variable lengths.

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a :class:`RecurrentCell` subclass. One cell is
            built per layer and direction with ``cell(layer_input_size, hidden_size,
            **cell_options)``.
        input_size: D. hidden_size: H.
        num_layers: L stacked layers; layer l > 0 reads layer l-1's outputs.
        bidirectional: run a second cell per layer over the reversed sequence (each sequence
            reversed within its own length) and concatenate the two outputs.
        batch_first: input and output are (B, T, ·) if True (the default), else (T, B, ·).
        dropout: dropout probability on the outputs of every layer but the last (training only).
        residual: add each layer's input to its output for layers after the first, whose sizes
            match (GNMT, Wu et al. 2016).
        variational: the dropout between layers uses one mask per sequence, the same at every
            step (Gal & Ghahramani 2016), instead of a fresh mask per step.
        weight_drop: DropConnect on the hidden-to-hidden weights (Merity et al. 2017): one
            mask per forward pass, shared by all steps; every path can run it.
        zoneout: each state unit keeps its previous value with this probability at each step
            (Krueger et al. 2017; the expectation at evaluation); runs the time loop (path
            ``custom`` or ``reference``). See :mod:`rnnkit.layers.regularize`.
        path: ``"auto"`` (fastest applicable), ``"fused"`` (``torch.lstm``/``gru``/``rnn_*``:
            oneDNN on CPU, cuDNN on GPU; standard cells only), ``"custom"`` (input projection
            for all steps in one matmul, then a hand-differentiated time loop) or
            ``"reference"`` (a plain loop over ``cell(x_t, state)``, for debugging).
        **cell_options: passed to every cell, e.g. ``peephole=True``, ``norm="layer"``,
            ``proj_size=64``, ``reset_after=False``, ``nonlinearity="relu"``.

    Shapes (batch_first):
        input (B, T, D) or a ``PackedSequence``; ``lengths`` (B,) integers in [1, T];
        state as returned, per layer and direction stacked on dim 0 like ``torch.nn``:
        a Tensor (L*dirs, B, H) for RNN/GRU, ``LSTMState(h (L*dirs, B, P or H), c (L*dirs, B, H))``.
        Returns ``(output (B, T, dirs*H_out), final_state)``. The final state is each
        sequence's own last valid step (for the backward direction: its first step).
        **Padded outputs** (t >= length) **hold zeros**, as ``pad_packed_sequence`` gives.

    Example::

        >>> rnn = Recurrent("lstm", 8, 16, num_layers=2, bidirectional=True)
        >>> out, state = rnn(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 1]))
        >>> out.shape, state.h.shape
        (torch.Size([4, 10, 32]), torch.Size([4, 4, 16]))
    """

    def __init__(
        self,
        cell: str | type[RecurrentCell],
        input_size: int,
        hidden_size: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
        variational: bool = False,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        path: Path = "auto",
        **cell_options,
    ) -> None:
        super().__init__()
        if isinstance(cell, str):
            if cell not in CELLS:
                raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
            cell = CELLS[cell]
        if not (isinstance(cell, type) and issubclass(cell, RecurrentCell)):
            raise ValueError(
                f"cell: expected one of {sorted(CELLS)} or a RecurrentCell subclass, got {cell!r}"
            )
        _check_cell_options(cell, cell_options)
        for name, flag in (
            ("bidirectional", bidirectional),
            ("batch_first", batch_first),
            ("residual", residual),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"{name}: expected True or False, got {flag!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers: expected a positive integer, got {num_layers!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout < 1
        ):
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        for name, value in (("weight_drop", weight_drop), ("zoneout", zoneout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
        if (weight_drop or zoneout) and issubclass(cell, MinimalCell):
            what = "weight_drop" if weight_drop else "zoneout"
            raise ValueError(f"{what}: not for {cell.__name__}, whose gates read only the input "
                             "(no recurrent weights; its state is solved as a scan)")  # fmt: skip
        if zoneout and path == "fused":
            raise ValueError("zoneout: runs in the time loop; path 'fused' cannot (use 'auto')")
        if path not in PATHS:
            raise ValueError(f"path: expected one of {PATHS}, got {path!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.batch_first, self.dropout, self.residual = batch_first, float(dropout), residual
        self.variational, self.weight_drop = bool(variational), float(weight_drop)
        self.zoneout = float(zoneout)
        self.path = path
        self.cells = nn.ModuleList()
        layer_input = input_size
        for _ in range(num_layers):
            for _ in range(self.num_directions):
                self.cells.append(cell(layer_input, hidden_size, **cell_options))
            layer_input = self.num_directions * self.cells[-1].output_size
        self.output_size = self.cells[-1].output_size
        self.cell_options = dict(cell_options)
        self.cell_type = cell
        #: the path the last forward pass took, and why (for run logs and ``rnnkit info``)
        self.last_choice: paths.Choice | None = None
        # The layer as the path cache knows it (cells and their options are fixed from here).
        self._description = (f"{cell.__name__}({self.cells[0].extra_repr()}) L={num_layers} "
                             f"dirs={self.num_directions}")  # fmt: skip

    # -- public --------------------------------------------------------------------------------
    def resolve_path(self, x: Tensor | None = None) -> str:
        """The execution path this module takes for input ``x`` (as passed to ``forward``).

        ``auto`` picks among the paths that compute this layer: standard cells (LSTM without
        peephole or norm, GRU with ``reset_after``, Elman RNN) can run ``fused`` or ``custom``;
        on CPU the two are timed on the first input of each shape bucket and the faster is
        kept (see :mod:`rnnkit.layers.paths`). With measuring off (``RNNKIT_MEASURE_PATHS=0``),
        or without ``x``, fixed rules timed on one CPU decide: ``fused``, except the GRU and the
        projected LSTM (no oneDNN kernel) when the work per step is large: B*H >= 2048 with
        gradients, >= 16384 without, and T >= 16. On GPU: ``fused`` (cuDNN). Other cells, and
        zoneout, take ``custom``: a hand-differentiated kernel where the cell has one, else the
        eager loop with the input projection hoisted out of it. minGRU and minLSTM take
        ``custom``, reported with the solver their ``mode`` resolves to, e.g.
        ``"custom (sequential)"``.
        """
        return self.explain_path(x).path

    def explain_path(self, x: Tensor | None = None, *, measure: bool = True) -> paths.Choice:
        """:meth:`resolve_path` with the reason (and the timings, where it measured).
        ``measure=False``: a shape not measured yet gets the fixed rule, without timing."""
        device, batch, steps, x_tm = None, None, None, None
        if x is not None:
            device = x.device
            if x.dim() == 3:
                batch, steps = x.shape[:2] if self.batch_first else x.shape[1::-1]
                x_tm = x.transpose(0, 1) if self.batch_first else x
        choice = self._choose(device, batch, steps, x_tm if measure else None)
        cell = self.cells[0]
        if choice.path == "custom" and isinstance(cell, MinimalCell):  # how it solves the sequence
            mode = cell.resolve_mode(device or torch.device("cpu"), steps or MIN_CUSTOM_STEPS)
            return paths.Choice(f"custom ({mode})", choice.reason, choice.timings)
        return choice

    def _choose(self, device, batch, steps, x_tm=None, state=None, lengths=None,
                batch_sizes=None) -> paths.Choice:  # fmt: skip
        """The one place where the execution path is chosen (see :meth:`resolve_path`).
        With ``x_tm`` (time-major input) an unmeasured shape is timed on it."""
        can_fuse = all(fused.supports(c) for c in self.cells)
        if self.path == "fused" and not can_fuse:
            raise ValueError(
                f"path: 'fused' needs standard cells (no peephole, norm or reset_after=False); "
                f"got {self.cells[0].extra_repr()}"
            )
        if self.path != "auto":
            return self._with_precision(paths.Choice(self.path, "asked for"), x_tm)
        if not can_fuse:
            return paths.Choice("custom", "torch has no fused op for this cell")
        if self.zoneout:
            return paths.Choice("custom", "zoneout steps the time loop")
        if device is not None and device.type != "cpu":
            return self._with_precision(paths.Choice("fused", "cuDNN on GPU"), x_tm)
        rule = self._rule(batch, steps)
        why = None
        if not paths.measuring():
            why = "measuring off"
        elif torch.are_deterministic_algorithms_enabled():
            why = "deterministic: no timing-dependent choice"
        elif batch is None or steps is None:
            why = "shape unknown"
        elif _tracing():
            why = "tracing or compiling"
        if why is not None:
            return self._with_precision(paths.Choice(rule, f"fixed rule ({why})"), x_tm)
        train = torch.is_grad_enabled() and self.cells[0].weight_ih.requires_grad
        dtype = self.cells[0].weight_ih.dtype if x_tm is None else x_tm.dtype
        if torch.is_autocast_enabled(device.type):
            dtype = torch.get_autocast_dtype(device.type)
        key = paths.key(self._description, batch, steps, dtype, device, train)
        known = paths.CACHE.get(key)
        if known is None and x_tm is None:
            return self._with_precision(paths.Choice(rule, "fixed rule (not measured yet)"), x_tm)
        if known is None:
            jobs = {p: self._timing_job(p, x_tm, state, lengths, batch_sizes, train)
                    for p in ("fused", "custom")}  # fmt: skip
            known = paths.measure(key, jobs)
        return self._with_precision(known, x_tm)

    def _rule(self, batch: int | None, steps: int | None) -> str:
        """The fixed rule on CPU (timed on an AVX-512 CPU, B=64, H=128): torch has no oneDNN
        kernel for the GRU or the projected LSTM, and rnnkit's kernels beat torch's generic loop
        for them once the work per step repays their per-call set-up."""
        cell = self.cells[0]
        if not (isinstance(cell, GRUCell) or getattr(cell, "proj_size", 0)):
            return "fused"  # oneDNN's LSTM, or the Elman RNN whose torch loop is cheap
        if steps is not None and steps < MIN_CUSTOM_STEPS:
            return "fused"
        if batch is None:
            return "custom"
        threshold = 2048 if torch.is_grad_enabled() else 16384
        return "custom" if batch * self.hidden_size >= threshold else "fused"

    def _with_precision(self, choice: paths.Choice, x_tm: Tensor | None) -> paths.Choice:
        """Say so where the fused op cannot run in the autocast dtype and runs in float32."""
        device = x_tm.device.type if x_tm is not None else "cpu"
        if choice.path != "fused" or not torch.is_autocast_enabled(device):
            return choice
        dtype = torch.get_autocast_dtype(device)
        if fused.runs_in(self.cells[0], device, dtype):
            return choice
        name = str(dtype).removeprefix("torch.")
        reason = (f"{choice.reason}; torch's fused kernel has no {name} version on this "
                  f"{device.upper()}, so it runs in float32")  # fmt: skip
        return paths.Choice(choice.path, reason, choice.timings)

    def _timing_job(self, path, x_tm, state, lengths, batch_sizes, train):
        """One call of ``path`` on (detached copies of) this input, for :func:`paths.measure`:
        forward, and with ``train`` the backward to the weights and the input too."""

        def job() -> None:
            x = x_tm.detach().requires_grad_(train and x_tm.requires_grad)
            s = None if state is None else map_state(lambda t: t.detach(), state)
            out, _ = self._run_path(path, x, s, lengths, batch_sizes)
            if train:
                # The cells' weights as they are now (weight-dropped copies inside
                # dropped_weights): the timing's backward stops there, off the run's graph.
                wrt = [w for w in self.cells.parameters() if w.requires_grad]
                wrt += [x] if x.requires_grad else []
                torch.autograd.grad(out.float().sum(), wrt, allow_unused=True)

        return job

    def initial_state(self, batch: int, *, device=None, dtype=None):
        """Zero state for ``batch`` sequences, stacked over layers and directions."""
        states = [c.initial_state(batch, device=device, dtype=dtype) for c in self.cells]
        return _stack_states(states)

    def forward(
        self,
        input: Tensor | PackedSequence,
        state=None,
        lengths: Tensor | None = None,
    ):
        """Run the layers over ``input``.

        Args:
            input: (B, T, D) if ``batch_first`` else (T, B, D), or a ``PackedSequence``.
            state: initial state stacked over layers and directions, as returned (zeros if
                None); a plain ``(h, c)`` tuple is accepted for LSTMs, like ``torch.nn.LSTM``.
            lengths: (B,) integers in [1, T], each sequence's number of valid steps.

        Returns:
            ``(output, final_state)``: output (B, T, dirs*H_out) (time-major if not
            ``batch_first``; a ``PackedSequence`` if the input was one), zeros at padded steps;
            final_state each sequence's last valid step, shaped like ``state``.
        """
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths: a PackedSequence carries its own lengths; pass None")
            x_tm, lengths = pad_packed_sequence(input, batch_first=False)
            check_input(x_tm, "input", self.input_size, ndim=(3,), batch_dim=1)
            packed_lengths = lengths
        else:
            batch_dim = 0 if self.batch_first else 1
            check_input(input, "input", self.input_size, ndim=(3,), batch_dim=batch_dim)
            x_tm = input.transpose(0, 1) if self.batch_first else input
        T, B = x_tm.shape[0], x_tm.shape[1]
        if T == 0:
            raise ValueError(f"input: empty sequence (T=0) in shape {tuple(input.shape)}")
        if lengths is not None:
            lengths = _check_lengths(lengths, B, T)
        self._check_dtype(x_tm)
        state = self._check_state(state, x_tm)

        # Sort by length, longest first: at step t the live sequences are rows [:batch_sizes[t]].
        order = None
        batch_sizes = None
        if lengths is not None and bool((lengths < T).any()):
            lengths, order = torch.sort(lengths, descending=True)
            x_tm = x_tm.index_select(1, order.to(x_tm.device))
            if state is not None:
                state = map_state(lambda s: s.index_select(1, order.to(s.device)), state)
            steps = torch.arange(T, device=lengths.device)
            batch_sizes = (lengths[None, :] > steps[:, None]).sum(1).tolist()
        else:
            lengths = None

        with regularize.dropped_weights(self.cells, self.weight_drop, training=self.training):
            out, final = self._run(x_tm, state, lengths, batch_sizes)

        if order is not None:
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(B, device=order.device)
            out = out.index_select(1, inverse.to(out.device))
            final = map_state(lambda s: s.index_select(1, inverse.to(s.device)), final)
        if packed:
            # pad_packed_sequence restored the caller's batch order; pack it back the same way.
            out = pack_padded_sequence(out, packed_lengths, enforce_sorted=False)
            return out, final
        return (out.transpose(0, 1) if self.batch_first else out), final

    # -- internals -----------------------------------------------------------------------------
    def _run(self, x: Tensor, state, lengths: Tensor | None, batch_sizes: list[int] | None):
        """Time-major, length-sorted: x (T, B, D) -> (out (T, B, dirs*H_out), stacked state)."""
        if PROBE.active is not None:  # diagnostics record every step's state and gates
            return self._run_path("reference", x, state, lengths, batch_sizes)
        choice = self._choose(x.device, x.shape[1], x.shape[0], x, state, lengths, batch_sizes)
        self.last_choice = choice
        return self._run_path(choice.path, x, state, lengths, batch_sizes)

    def _run_path(self, path: str, x: Tensor, state, lengths, batch_sizes):
        """:meth:`_run` on the given path."""
        dirs = self.num_directions
        if state is None and path == "fused":
            state = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        finals = []
        for layer in range(self.num_layers):
            cells = list(self.cells[layer * dirs : (layer + 1) * dirs])
            layer_state = None if state is None else _slice_state(state, layer * dirs, dirs)
            if path == "fused":
                out, layer_final = fused.run_layer(
                    cells, x, layer_state, lengths, batch_sizes, self.training
                )
                finals.extend(layer_final)
            else:
                outs = []
                for d, cell in enumerate(cells):
                    s0 = None if layer_state is None else _index_state(layer_state, d)
                    if s0 is None:
                        s0 = cell.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
                    xd = x if d == 0 else _reverse(x, lengths)
                    zone = (self.zoneout, self.training)
                    o, s = _run_direction(cell, xd, s0, lengths, batch_sizes, path, zone)
                    outs.append(o if d == 0 else _reverse(o, lengths))
                    finals.append(s)
                out = outs[0] if dirs == 1 else torch.cat(outs, dim=-1)
            if self.residual and layer > 0:
                out = out + x
            if self.dropout and self.training and layer < self.num_layers - 1:
                if self.variational:  # one mask per sequence (dim 1 of time-major out)
                    out = regularize.locked_dropout(out, self.dropout, training=True, time_dim=0)
                else:
                    out = F.dropout(out, self.dropout, training=True)
            x = out
        return x, _stack_states(finals)

    def _check_dtype(self, x: Tensor) -> None:
        weight = self.cells[0].weight_ih
        autocast = torch.is_autocast_enabled(x.device.type)
        if x.device != weight.device or (x.dtype != weight.dtype and not autocast):
            raise ValueError(
                f"input: expected {weight.dtype} on {weight.device} (the parameters'), "
                f"got {x.dtype} on {x.device}"
            )

    def _check_state(self, state, x: Tensor):
        """Validate ``state`` against time-major ``x``; a plain tuple becomes the typed state."""
        if state is None:
            return None
        n, batch = self.num_layers * self.num_directions, x.shape[1]
        cell = self.cells[0]
        template = cell.initial_state(1)
        if isinstance(template, Tensor):
            check_shape(state, "state", (n, batch, self.hidden_size))
            _check_like(state, "state", x)
            return state
        fields = type(template)._fields
        if not isinstance(state, tuple) or len(state) not in (2, len(fields)):
            raise ValueError(
                f"state: expected {type(template).__name__}{fields} or (h, c), "
                f"got {type(state).__name__}"
            )
        # A plain (h, c) is torch.nn.LSTM's convention; a batch-norm LSTM then starts at step 0.
        state = type(template)(*state, *template[len(state) :])
        check_shape(state.h, "state.h", (n, batch, cell.output_size))
        check_shape(state.c, "state.c", (n, batch, cell.hidden_size))
        _check_like(state.h, "state.h", x)
        _check_like(state.c, "state.c", x)
        return state

    def extra_repr(self) -> str:
        opts = [f"{self.cell_type.__name__}", f"{self.input_size}, {self.hidden_size}"]
        for name in ("num_layers", "bidirectional", "dropout", "residual", "variational",
                     "weight_drop", "zoneout"):  # fmt: skip
            value = getattr(self, name)
            if value and not (name == "num_layers" and value == 1):
                opts.append(f"{name}={value}")
        if self.path != "auto":
            opts.append(f"path={self.path!r}")
        return ", ".join(opts)


def _tracing() -> bool:
    """Inside torch.jit tracing, ONNX export or torch.compile: no timing runs to record."""
    onnx = sys.modules.get("torch.onnx")  # not imported: not exporting (and stays unimported)
    exporting = onnx is not None and onnx.is_in_onnx_export()
    return exporting or torch.jit.is_tracing() or torch.compiler.is_compiling()


def _run_direction(cell, x, state, lengths, batch_sizes, path, zone=(0.0, False)):
    """One cell over time-major sorted ``x`` (T, B, D). Returns (out (T, B, H_out), final).
    ``zone``: (zoneout probability, training); zoneout runs the loop."""
    if zone[0]:
        return _loop(cell, x, state, lengths, hoist=(path == "custom"), zone=zone)
    if path == "custom" and isinstance(cell, MinimalCell):
        return _run_linear(cell, x, state, lengths)
    if path == "custom":
        kernel = kernels.for_cell(cell)
        if kernel is not None:
            # The kernels keep float32 buffers and differentiate by hand, so they run outside
            # autocast, in the parameters' dtype (what torch.amp.custom_fwd(cast_inputs=) does).
            dtype = cell.weight_ih.dtype
            with torch.autocast(x.device.type, enabled=False):
                x, state = x.to(dtype), map_state(lambda s: s.to(dtype), state)
                return kernel(cell, x, state, batch_sizes)
    return _loop(cell, x, state, lengths, hoist=(path == "custom"))


def _run_linear(cell: MinimalCell, x: Tensor, state: Tensor, lengths: Tensor | None):
    """A minGRU/minLSTM over all steps at once: its state is a linear recurrence in x alone,
    solved by ``rnnkit.scan`` in the cell's mode. Padded steps (at the end, the input being
    sorted) compute throwaway states that no valid step reads; their outputs become zeros."""
    # (T, B, G*H [+D]); the plain projection through oneDNN (kernels.project), 2x faster on CPU
    xp = cell.project_input(x) if cell.block else kernels.project(x, cell.weight_ih, cell.bias_ih)
    mode = cell.resolve_mode(x.device, x.shape[0])
    # The recurrence and its carried state stay in float32 or wider, even under autocast.
    dtype = torch.promote_types(xp.dtype, torch.float32)
    if mode == "sequential":  # the gates and the loop fused, block by block
        h = scan.mix_sequential(xp.to(dtype), state.to(dtype), cell).to(x.dtype)
    else:
        log_a, log_b = cell.log_coefficients(xp.to(dtype))  # (T, B, H) each
        h = scan.solve(log_a, log_b, state.to(dtype), mode=mode, chunk_size=cell.chunk_size)
        h = h.to(x.dtype)
    out = cell.readout(h, xp)
    if lengths is None:
        return out, h[-1]
    lengths = lengths.to(x.device)
    final = h[lengths - 1, torch.arange(x.shape[1], device=x.device)]
    valid = torch.arange(x.shape[0], device=x.device)[:, None] < lengths[None, :]  # (T, B)
    return out * valid[..., None], final


def _loop(cell: RecurrentCell, x: Tensor, state, lengths: Tensor | None, hoist: bool,
          zone: tuple[float, bool] = (0.0, False)):  # fmt: skip
    """The readable time loop. ``hoist`` computes the input projection for all steps at once;
    ``zone`` = (zoneout probability, training)."""
    steps = (cell.project_input(x) if hoist else x).unbind(0)  # unbind: indexing is O(T^2) in bwd
    outputs = []
    lengths = None if lengths is None else lengths.to(x.device)
    probe = PROBE.active
    for t, x_t in enumerate(steps):
        xp_t = x_t if hoist else cell.project_input(x_t)
        if lengths is None:
            h, new_state = cell.recur(xp_t, state)
            if zone[0]:
                new_state = regularize.zoneout(new_state, state, zone[0], training=zone[1])
                h = new_state if isinstance(new_state, Tensor) else new_state.h
            state = new_state
            if probe is not None:
                probe.step(cell, state, None)
            outputs.append(h)
            continue
        valid = lengths > t  # (B,)
        h, new_state = cell.recur(xp_t, state, valid)
        if zone[0]:
            new_state = regularize.zoneout(new_state, state, zone[0], training=zone[1])
            h = new_state if isinstance(new_state, Tensor) else new_state.h
        if probe is not None:
            probe.step(cell, new_state, valid)
        keep = valid[:, None]
        state = _keep_where(keep, new_state, state)
        outputs.append(h * keep)  # padded outputs hold zeros
    return torch.stack(outputs), state


def _keep_where(keep: Tensor, new, old):
    if isinstance(new, Tensor):
        return torch.where(keep, new, old)
    values = [
        torch.where(keep, n, o) if isinstance(n, Tensor) else n
        for n, o in zip(new, old, strict=True)
    ]
    return type(new)(*values)


def _reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (T, B, ...) within its own length; padding stays put."""
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T, device=x.device)[:, None]
    L = lengths.to(x.device)[None, :]
    idx = torch.where(t < L, L - 1 - t, t)  # (T, B)
    idx = idx.view(T, B, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


def _slice_state(state, start: int, n: int):
    return map_state(lambda s: s[start : start + n], state)


def _index_state(state, i: int):
    return map_state(lambda s: s[i], state)


def _stack_states(states: list):
    first = states[0]
    if isinstance(first, Tensor):
        return torch.stack(states)
    if isinstance(first, BNLSTMState):
        return BNLSTMState(
            torch.stack([s.h for s in states]), torch.stack([s.c for s in states]), first.step
        )
    return LSTMState(torch.stack([s.h for s in states]), torch.stack([s.c for s in states]))


def _check_lengths(lengths, batch: int, T: int) -> Tensor:
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},), got {tuple(lengths.shape)}")
    lengths = lengths.to("cpu", torch.long)
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo <= 0:
        raise ValueError(f"lengths: every length must be >= 1, got {lo}")
    if hi > T:
        raise ValueError(
            f"lengths: every length must be <= T={T} (the input's time axis), got {hi}"
        )
    return lengths


def _check_like(t: Tensor, name: str, x: Tensor) -> None:
    if t.dtype != x.dtype or t.device != x.device:
        raise ValueError(
            f"{name}: expected {x.dtype} on {x.device} (the input's), got {t.dtype} on {t.device}"
        )


def _check_cell_options(cell: type, options: dict) -> None:
    """Name an option the cell does not take (instead of a TypeError from deep inside)."""
    params = inspect.signature(cell.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = sorted(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY)
    for name in options:
        if name not in allowed:
            raise ValueError(f"{name}: not an option of {cell.__name__} (options: {allowed})")
