"""The custom path: hand-differentiated time loops, the way fused RNN kernels work.

Each kernel is a ``torch.autograd.Function`` over a whole sequence. Forward runs the recurrence
without building an autograd graph and keeps the gate activations; backward walks time in
reverse computing all gate gradients of a step with a few fused pointwise ops, then forms the
recurrent weight gradient as ONE matmul over all steps (instead of T small ones). The input
projection is one matmul over all steps (:func:`project`), with every bias that can be folded
into it; its gradient is one matmul too.

Layout: time-major, rows sorted by length (longest first); at step t the live sequences are rows
``[:batch_sizes[t]]`` (``batch_sizes`` None means all B rows at every step). Padded outputs are 0.
Gate order is torch's (LSTM i, f, g, o; GRU r, z, n).

Tests: ``tests/layers/test_recurrent.py`` checks every kernel against the reference loop and
with gradcheck in float64; ``tests/layers/test_kernels.py`` checks the float32 oneDNN branch.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, RNNCell

_sigmoid_bw = torch.ops.aten.sigmoid_backward.grad_input  # grad * y * (1 - y), into a view
_tanh_bw = torch.ops.aten.tanh_backward.grad_input  # grad * (1 - y^2), into a view
_ln_bw = torch.ops.aten.native_layer_norm_backward


def _probe_onednn() -> bool:
    """Whether oneDNN's prepacked linear is usable (x86 CPU builds of torch have it)."""
    if os.environ.get("RNNKIT_ONEDNN", "1") == "0" or not torch.backends.mkldnn.is_available():
        return False
    try:
        w = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 3), 1)
        y = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 3), w, None, "none", [], "")
        return bool(torch.all(y == 3))
    except (RuntimeError, AttributeError):
        return False


_ONEDNN = _probe_onednn()


class _Gemm:
    """``x @ w^T (+ bias) (+ add)`` for the T small per-step products that share one weight.

    On CPU (float32) the weight is packed once into oneDNN's blocked layout and every step
    calls oneDNN directly: for B=64, H=256 a step's product takes ~95 us instead of ~200 us
    through ``torch.mm`` (MKL), the gap between torch.nn.LSTM's oneDNN kernel and an unfused
    loop. Elsewhere (CUDA, float64, builds without oneDNN) it is ``torch.addmm``.
    """

    def __init__(self, w: Tensor, batch: int, bias: Tensor | None = None) -> None:
        self.w, self.bias, self.packed = w, bias, None
        if _ONEDNN and w.device.type == "cpu" and w.dtype == torch.float32:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(w.detach().contiguous(), batch)

    def __call__(self, x: Tensor, add: Tensor | None = None) -> Tensor:
        if self.packed is not None:
            x = x.contiguous()
            y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
            # A separate add_ beats oneDNN's fused binary post-op here by ~10%: the post-op
            # streams the (uncached) addend through the GEMM's inner loop.
            return y if add is None else y.add_(add)
        y = x @ self.w.t() if self.bias is None else torch.addmm(self.bias, x, self.w.t())
        return y if add is None else y.add_(add)


def _tanh_(x: Tensor, doubled: bool = False) -> Tensor:
    """In-place tanh as 2 sigmoid(2x) - 1 (``doubled``: x already holds 2x). torch's CPU tanh is
    ~4x slower than its sigmoid, and the identity is exact up to rounding (absolute error ~1e-7
    in float32, ~1e-16 in float64)."""
    return (x if doubled else x.mul_(2)).sigmoid_().mul_(2).sub_(1)


def for_cell(cell):
    """The kernel for ``cell``, or None when it has none (the runner then loops in eager mode).

    A kernel is called as ``kernel(cell, x (T, B, D), state, batch_sizes) -> (out, final)``.
    """
    if type(cell) is LSTMCell and cell.norm != "batch":
        return _run_lstm
    if type(cell) is GRUCell:
        return _run_gru
    if type(cell) is RNNCell:
        return _run_rnn
    return None


def project(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight^T + bias`` for all time steps at once: (T, B, D) -> (T, B, N).

    Through oneDNN on CPU (float32), about 2.4x faster than ``F.linear`` (MKL) on this machine.
    """
    T, B = x.shape[0], x.shape[1]
    if _ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32:
        return _Linear.apply(x.reshape(T * B, -1), weight, bias).view(T, B, -1)
    return F.linear(x, weight, bias)


class _Linear(torch.autograd.Function):
    """A linear layer whose forward and input gradient run through oneDNN (see _Gemm)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _Gemm(weight, x.shape[0], bias)(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = _Gemm(weight.t(), dy.shape[0])(dy) if need_x else None
        dw = dy.t() @ x if need_w else None
        db = dy.sum(0) if need_b and ctx.has_bias else None
        return dx, dw, db


def _sum_biases(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return a if b is None else (b if a is None else a + b)


# -- shared plumbing ---------------------------------------------------------------------------
def _alloc(shape, like: Tensor, padded: bool) -> Tensor:
    # Padded rows are read by the all-steps matmuls and reductions, so they must be zero.
    return like.new_zeros(shape) if padded else like.new_empty(shape)


def _rows(batch_sizes, t: int, B: int) -> int:
    return B if batch_sizes is None else batch_sizes[t]


def _steps(seq: Tensor | None, batch_sizes) -> list:
    """Per-step views of ``seq`` (T, B, ...) trimmed to each step's live rows, made once up
    front: slicing inside the time loop costs Python time on every step."""
    if seq is None:
        return [None] * len(batch_sizes or ())
    if batch_sizes is None:
        return list(seq.unbind(0))
    return [v[:b] for v, b in zip(seq.unbind(0), batch_sizes, strict=True)]


def _last_step(seq: Tensor, batch_sizes) -> Tensor:
    """Each row's value at its own last valid step: seq (T, B, N) -> (B, N)."""
    if batch_sizes is None:
        return seq[-1].clone()  # a copy: a Function's outputs must not view each other
    B = seq.shape[1]
    bs = torch.tensor(batch_sizes, device=seq.device)
    lengths = (bs[:, None] > torch.arange(B, device=seq.device)[None, :]).sum(0)
    return seq[lengths - 1, torch.arange(B, device=seq.device)]


def _outer_sum(grads: Tensor, inputs: Tensor) -> Tensor:
    """sum_t grads_t^T inputs_t as one matmul: (T, B, N), (T, B, M) -> (N, M)."""
    return grads.reshape(-1, grads.shape[-1]).t() @ inputs.reshape(-1, inputs.shape[-1])


def _outer_sum_prev(grads: Tensor, seq: Tensor, first: Tensor) -> Tensor:
    """sum_t grads_t^T prev_t, where prev_0 = ``first`` (B, M) and prev_t = seq_{t-1}: steps
    1.. in one matmul against ``seq[:-1]``, plus step 0's against ``first``, without building
    the shifted copy of ``seq`` (a (T, B, M) concatenation: ~4% of an LSTM training step at
    T=400). (T, B, N), (T, B, M), (B, M) -> (N, M)."""
    head = grads[0].t() @ first
    if grads.shape[0] == 1:
        return head
    rest = grads[1:].reshape(-1, grads.shape[-1]).t()
    return torch.addmm(head, rest, seq[:-1].reshape(-1, seq.shape[-1]))


def _sum_prev(grads: Tensor, seq: Tensor, first: Tensor) -> Tensor:
    """sum_t sum_b grads_t * prev_t (prev as in :func:`_outer_sum_prev`): (T, B, N) -> (N,)."""
    return (grads[1:] * seq[:-1]).sum((0, 1)) + (grads[0] * first).sum(0)


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.clone()


# -- LSTM (plain, peephole, layer norm, projection) --------------------------------------------
def _run_lstm(cell: LSTMCell, x: Tensor, state, batch_sizes):
    bias = _sum_biases(cell.bias_ih, cell.bias_hh)  # both add to every pre-activation
    if cell.norm == "layer":
        xp = project(x, cell.weight_ih, None)
        xp = F.layer_norm(xp, xp.shape[-1:], cell.ln_ih_weight, bias, cell.eps)
        ln = (cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias)
    else:
        xp = project(x, cell.weight_ih, bias)
        ln = (None,) * 3
    peep = (cell.weight_ci, cell.weight_cf, cell.weight_co) if cell.peephole else (None,) * 3
    w_hr = cell.weight_hr if cell.proj_size else None
    out, h, c = _LSTMFunction.apply(
        xp,
        state.h,
        state.c,
        cell.weight_hh,
        *peep,
        *ln,
        w_hr,
        batch_sizes,
        cell.eps,
        torch.is_grad_enabled(),
    )
    return out, LSTMState(h, c)


class _LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, batch_sizes, eps, keep):
        T, B, G = xp.shape
        H = G // 4
        padded = batch_sizes is not None
        peep, ln, proj = p_i is not None, g_h is not None, w_hr is not None
        P = w_hr.shape[0] if proj else H
        cs = _alloc((T, B, H), xp, padded)  # c_t: the next step's c_{t-1} and the final state
        out = _alloc((T, B, P), xp, padded)  # h_t
        ms = _alloc((T, B, H), xp, padded) if proj else None  # o * tanh(.) before projection
        # Per-step tensors for backward, kept as made (no copies): gate activations i, f, g, o
        # (b, 4H); tanh of the (normalized) cell (b, H); with layer norm, the recurrent product
        # h W_hh^T and the statistics of both normalizations.
        acts, tcs, norms = [], [], []
        # keep: whether backward will run (grad mode was on); inference keeps no activations.
        rec = _Gemm(w_hh, B)
        project = _Gemm(w_hr, B) if proj else None
        xs, c_steps, h_steps, m_steps = (_steps(v, batch_sizes) for v in (xp, cs, out, ms))
        h_prev, c_prev = h0, c0
        for t in range(T):
            b = xs[t].shape[0]
            hp, cp = (h_prev[:b], c_prev[:b]) if padded else (h_prev, c_prev)
            if ln:
                r = rec(hp)
                y, mu_r, rs_r = torch.native_layer_norm(r, (G,), g_h, None, eps)
                a = y.add_(xs[t])
            else:
                a = rec(hp, add=xs[t])
            i, f, g, o = a.split(H, dim=1)
            if peep:
                i.addcmul_(p_i, cp)
                f.addcmul_(p_f, cp)
            g.mul_(2)  # tanh(x) = 2 sigmoid(2x) - 1, sharing the gates' sigmoid
            a[:, : 3 * H].sigmoid_() if peep else a.sigmoid_()
            g.mul_(2).sub_(1)
            c = torch.mul(f, cp, out=c_steps[t]).addcmul_(i, g)
            if peep:
                o.addcmul_(p_o, c).sigmoid_()
            if ln:
                cn, mu_c, rs_c = torch.native_layer_norm(c, (H,), g_c, b_c, eps)
                tc = _tanh_(cn)
                if keep:
                    norms.append((r, mu_r, rs_r, mu_c, rs_c))
            else:
                tc = _tanh_(torch.mul(c, 2.0), doubled=True)
            if proj:
                h_steps[t].copy_(project(torch.mul(o, tc, out=m_steps[t])))
            else:
                torch.mul(o, tc, out=h_steps[t])
            if keep:
                acts.append(a)
                tcs.append(tc)
            h_prev, c_prev = out[t], cs[t]
        ctx.batch_sizes, ctx.eps, ctx.flags = batch_sizes, eps, (peep, ln, proj)
        ctx.steps = (acts, tcs, norms)
        ctx.save_for_backward(h0, c0, w_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, cs, out, ms)
        return out, _last_step(out, batch_sizes), _last_step(cs, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT):
        h0, c0, w_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, cs, out, ms = ctx.saved_tensors
        # Copies of the lists: the loop drops each step once used, but the graph may be
        # differentiated again (retain_graph=True, gradcheck), so ctx keeps its own.
        acts, tcs, norms = (list(v) for v in ctx.steps)
        peep, ln, proj = ctx.flags
        batch_sizes = ctx.batch_sizes
        T, B, H = cs.shape
        G = 4 * H
        padded = batch_sizes is not None
        d_acts = _alloc((T, B, G), cs, padded)  # d loss / d pre-activations = d xp
        d_recs = _alloc((T, B, G), cs, padded) if ln else d_acts  # d / d (h W_hh^T)
        d_hs = _alloc((T, B, out.shape[-1]), cs, padded) if proj else None
        if ln:  # layer-norm gain and shift gradients, accumulated step by step
            d_g_h, d_g_c, d_b_c = (
                torch.zeros_like(g_h),
                torch.zeros_like(g_c),
                torch.zeros_like(b_c),
            )
        dh = _zeros_if_none(d_hT, h0)
        dc = _zeros_if_none(d_cT, c0)
        tmp = cs.new_empty(B, H)
        rec_t = _Gemm(w_hh.t(), B)  # d h_prev = d rec @ W_hh
        project_t = _Gemm(w_hr.t(), B) if proj else None
        da_steps, dr_steps, dh_steps = (_steps(v, batch_sizes) for v in (d_acts, d_recs, d_hs))
        c_steps, dout_steps = _steps(cs, batch_sizes), _steps(d_out, batch_sizes)
        for t in reversed(range(T)):
            a, tc, da = acts[t], tcs[t], da_steps[t]
            acts[t] = tcs[t] = None
            b = a.shape[0]
            dh_b, dc_b, tmp_b = (dh[:b], dc[:b], tmp[:b]) if padded else (dh, dc, tmp)
            if d_out is not None:
                dh_b += dout_steps[t]
            if proj:
                dm = project_t(dh_steps[t].copy_(dh_b))
            else:
                dm = dh_b
            i, f, g, o = a.split(H, dim=1)
            cp = (c0[:b] if padded else c0) if t == 0 else c_steps[t - 1][:b]
            _sigmoid_bw(torch.mul(dm, tc, out=tmp_b), o, grad_input=da[:, 3 * H :])
            d_tc = _tanh_bw(torch.mul(dm, o, out=tmp_b), tc, grad_input=tmp_b)
            if ln:
                r, mu_r, rs_r, mu_c, rs_c = norms[t]
                norms[t] = None
                d_tc, dg, db = _ln_bw(d_tc, c_steps[t], (H,), mu_c, rs_c, g_c, b_c, (True,) * 3)
                d_g_c += dg
                d_b_c += db
            dc_b += d_tc
            if peep:
                dc_b.addcmul_(da[:, 3 * H :], p_o)
            _sigmoid_bw(dc_b * g, i, grad_input=da[:, :H])
            _sigmoid_bw(dc_b * cp, f, grad_input=da[:, H : 2 * H])
            _tanh_bw(dc_b * i, g, grad_input=da[:, 2 * H : 3 * H])
            dc_b.mul_(f)
            if peep:
                dc_b.addcmul_(da[:, :H], p_i).addcmul_(da[:, H : 2 * H], p_f)
            if ln:
                dr, dg, _ = _ln_bw(da, r, (G,), mu_r, rs_r, g_h, None, (True, True, False))
                dr_steps[t].copy_(dr)
                d_g_h += dg
            else:
                dr = da
            if padded:
                dh_b.copy_(rec_t(dr))
            else:
                dh = rec_t(dr)
        grads: dict[str, Tensor | None] = {"xp": d_acts, "h0": dh, "c0": dc}
        grads["w_hh"] = _outer_sum_prev(d_recs, out, h0)
        if peep:
            grads["p_i"] = _sum_prev(d_acts[..., :H], cs, c0)
            grads["p_f"] = _sum_prev(d_acts[..., H : 2 * H], cs, c0)
            grads["p_o"] = (d_acts[..., 3 * H :] * cs).sum((0, 1))
        if ln:
            grads["g_h"], grads["g_c"], grads["b_c"] = d_g_h, d_g_c, d_b_c
        if proj:
            grads["w_hr"] = _outer_sum(d_hs, ms)
        names = ("xp", "h0", "c0", "w_hh", "p_i", "p_f", "p_o", "g_h", "g_c", "b_c", "w_hr")
        return (*[grads.get(n) for n in names], None, None, None)


# -- GRU (both reset conventions) --------------------------------------------------------------
def _run_gru(cell: GRUCell, x: Tensor, state: Tensor, batch_sizes):
    if cell.reset_after:  # b_hn sits inside r * (W_hn h + b_hn): it stays in the recurrence
        xp, b_hh = project(x, cell.weight_ih, cell.bias_ih), cell.bias_hh
    else:
        xp, b_hh = project(x, cell.weight_ih, _sum_biases(cell.bias_ih, cell.bias_hh)), None
    keep = torch.is_grad_enabled()  # whether backward can run: else keep no activations
    return _GRUFunction.apply(xp, state, cell.weight_hh, b_hh, cell.reset_after, batch_sizes, keep)


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, reset_after, batch_sizes, keep):
        T, B, G = xp.shape
        H = G // 3
        padded = batch_sizes is not None
        acts = []  # per step (b, 3H): r, z, n after their nonlinearities
        out = _alloc((T, B, H), xp, padded)
        # reset_after: W_hn h + b_hn (the reset multiplies it); else r * h_{t-1} (W_hn's input)
        aux = _alloc((T, B, H), xp, padded)
        if reset_after:
            rec = _Gemm(w_hh, B, b_hh)
        else:
            rec_rz, rec_n = _Gemm(w_hh[: 2 * H], B), _Gemm(w_hh[2 * H :], B)
        h_prev = h0
        for t in range(T):
            b = _rows(batch_sizes, t, B)
            hp, x = h_prev[:b], xp[t, :b]
            if reset_after:
                r_ = rec(hp)  # (b, 3H)
                a = r_[:, : 2 * H].add_(x[:, : 2 * H]).sigmoid_()
                aux[t, :b] = r_[:, 2 * H :]
                n = torch.addcmul(x[:, 2 * H :], a[:, :H], r_[:, 2 * H :])
                a = torch.cat([a, _tanh_(n)], dim=1)
            else:
                rz = rec_rz(hp, add=x[:, : 2 * H]).sigmoid_()
                s = torch.mul(rz[:, :H], hp, out=aux[t, :b])
                n = _tanh_(rec_n(s, add=x[:, 2 * H :]))
                a = torch.cat([rz, n], dim=1)
            if keep:
                acts.append(a)
            z, n = a[:, H : 2 * H], a[:, 2 * H :]
            torch.sub(hp, n, out=out[t, :b]).mul_(z).add_(n)
            h_prev = out[t]
        ctx.reset_after, ctx.batch_sizes, ctx.has_bias = reset_after, batch_sizes, b_hh is not None
        ctx.acts = acts
        ctx.save_for_backward(h0, w_hh, aux, out)
        return out, _last_step(out, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT):
        h0, w_hh, aux, out = ctx.saved_tensors
        acts = list(ctx.acts)  # a copy, as in _LSTMFunction.backward
        reset_after, batch_sizes = ctx.reset_after, ctx.batch_sizes
        T, B, H = out.shape
        G = 3 * H
        padded = batch_sizes is not None
        d_acts = _alloc((T, B, G), out, padded)  # d / d xp
        d_recs = _alloc((T, B, G), out, padded) if reset_after else None  # d / d (h W^T + b)
        dh = _zeros_if_none(d_hT, h0)
        tmp = out.new_empty(B, H)
        if reset_after:
            rec_t = _Gemm(w_hh.t(), B)
        else:
            rec_rz_t, rec_n_t = _Gemm(w_hh[: 2 * H].t(), B), _Gemm(w_hh[2 * H :].t(), B)
        for t in reversed(range(T)):
            b = _rows(batch_sizes, t, B)
            dh_b = dh[:b]
            if d_out is not None:
                dh_b += d_out[t, :b]
            a, da = acts[t], d_acts[t, :b]
            acts[t] = None
            r, z, n = a.split(H, dim=1)
            hp = h0[:b] if t == 0 else out[t - 1, :b]
            # h = n + z (h_prev - n)
            _sigmoid_bw(torch.sub(hp, n, out=tmp[:b]).mul_(dh_b), z, grad_input=da[:, H : 2 * H])
            dn = _tanh_bw(torch.sub(dh_b, dh_b * z, out=tmp[:b]), n, grad_input=da[:, 2 * H :])
            dh_b.mul_(z)
            if reset_after:
                dr_ = d_recs[t, :b]
                _sigmoid_bw(dn * aux[t, :b], r, grad_input=da[:, :H])
                dr_[:, : 2 * H] = da[:, : 2 * H]
                torch.mul(dn, r, out=dr_[:, 2 * H :])
                dh_b.add_(rec_t(dr_))
            else:
                ds = rec_n_t(dn)  # d / d (r * h_prev)
                _sigmoid_bw(ds * hp, r, grad_input=da[:, :H])
                dh_b.addcmul_(ds, r).add_(rec_rz_t(da[:, : 2 * H]))
        if reset_after:
            d_w = _outer_sum_prev(d_recs, out, h0)
            d_b = d_recs.sum((0, 1)) if ctx.has_bias else None
        else:
            d_w = torch.cat(
                [_outer_sum_prev(d_acts[..., : 2 * H], out, h0),
                 _outer_sum(d_acts[..., 2 * H :], aux)]
            )  # fmt: skip
            d_b = None  # the biases were folded into the input projection
        return d_acts, dh, d_w, d_b, None, None, None


# -- Elman RNN ---------------------------------------------------------------------------------
def _run_rnn(cell: RNNCell, x: Tensor, state: Tensor, batch_sizes):
    xp = project(x, cell.weight_ih, _sum_biases(cell.bias_ih, cell.bias_hh))
    relu = cell.nonlinearity == "relu"
    return _RNNFunction.apply(xp, state, cell.weight_hh, relu, batch_sizes)


class _RNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, relu, batch_sizes):
        T, B, H = xp.shape
        out = _alloc((T, B, H), xp, batch_sizes is not None)
        rec = _Gemm(w_hh, B)
        h_prev = h0
        for t in range(T):
            b = _rows(batch_sizes, t, B)
            h = rec(h_prev[:b], add=xp[t, :b])
            out[t, :b] = h.relu_() if relu else _tanh_(h)
            h_prev = out[t]
        ctx.relu, ctx.batch_sizes = relu, batch_sizes
        ctx.save_for_backward(h0, w_hh, out)
        return out, _last_step(out, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT):
        h0, w_hh, out = ctx.saved_tensors
        batch_sizes = ctx.batch_sizes
        T, B, H = out.shape
        d_pre = _alloc((T, B, H), out, batch_sizes is not None)
        dh = _zeros_if_none(d_hT, h0)
        rec_t = _Gemm(w_hh.t(), B)
        for t in reversed(range(T)):
            b = _rows(batch_sizes, t, B)
            dh_b = dh[:b]
            if d_out is not None:
                dh_b += d_out[t, :b]
            h, dp = out[t, :b], d_pre[t, :b]
            if ctx.relu:
                torch.mul(dh_b, h > 0, out=dp)
            else:
                _tanh_bw(dh_b, h, grad_input=dp)
            dh_b.copy_(rec_t(dp))
        return d_pre, dh, _outer_sum_prev(d_pre, out, h0), None, None
