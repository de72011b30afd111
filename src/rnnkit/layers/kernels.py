"""The custom path: hand-differentiated time loops, the way fused RNN kernels work.

Each kernel is a ``torch.autograd.Function`` over a whole sequence. Forward runs the recurrence
without building an autograd graph and keeps the gate activations; backward walks time in
reverse computing all gate gradients of a step with a few fused pointwise ops, then forms the
recurrent weight gradient as ONE matmul over all steps (instead of T small ones). The input
projection ``xp`` is computed outside for all steps at once, so its gradient is also one matmul.

Layout: time-major, rows sorted by length (longest first); at step t the live sequences are rows
``[:batch_sizes[t]]`` (``batch_sizes`` None means all B rows at every step). Padded outputs are 0.
Gate order is torch's (LSTM i, f, g, o; GRU r, z, n).

``tests/layers/test_kernels.py`` checks every kernel against the reference loop and gradcheck.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, RNNCell

_sigmoid_bw = torch.ops.aten.sigmoid_backward.grad_input  # grad * y * (1 - y), into a view
_tanh_bw = torch.ops.aten.tanh_backward.grad_input  # grad * (1 - y^2), into a view
_ln_bw = torch.ops.aten.native_layer_norm_backward


def for_cell(cell):
    """The kernel for ``cell``, or None when it has none (the runner then loops in eager mode)."""
    if type(cell) is LSTMCell and cell.norm != "batch":
        return _run_lstm
    if type(cell) is GRUCell:
        return _run_gru
    if type(cell) is RNNCell:
        return _run_rnn
    return None


# -- shared plumbing ---------------------------------------------------------------------------
def _alloc(shape, like: Tensor, padded: bool) -> Tensor:
    # Padded rows are read by the all-steps matmuls and reductions, so they must be zero.
    return like.new_zeros(shape) if padded else like.new_empty(shape)


def _rows(batch_sizes, t: int, B: int) -> int:
    return B if batch_sizes is None else batch_sizes[t]


def _last_step(seq: Tensor, batch_sizes) -> Tensor:
    """Each row's value at its own last valid step: seq (T, B, N) -> (B, N)."""
    if batch_sizes is None:
        return seq[-1].clone()  # a copy: a Function's outputs must not view each other
    T, B = seq.shape[0], seq.shape[1]
    bs = torch.tensor(batch_sizes, device=seq.device)
    lengths = (bs[:, None] > torch.arange(B, device=seq.device)[None, :]).sum(0)
    return seq[lengths - 1, torch.arange(B, device=seq.device)]


def _prev(seq: Tensor, first: Tensor) -> Tensor:
    """The previous step's value for every step: (T, B, N) -> (T, B, N), step 0 from ``first``."""
    return torch.cat([first.unsqueeze(0), seq[:-1]])


def _outer_sum(grads: Tensor, inputs: Tensor) -> Tensor:
    """sum_t grads_t^T inputs_t as one matmul: (T, B, N), (T, B, M) -> (N, M)."""
    return grads.reshape(-1, grads.shape[-1]).t() @ inputs.reshape(-1, inputs.shape[-1])


def _zeros_if_none(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g.clone()


# -- LSTM (plain, peephole, layer norm, projection) --------------------------------------------
def _run_lstm(cell: LSTMCell, xp: Tensor, state, batch_sizes):
    peep = (cell.weight_ci, cell.weight_cf, cell.weight_co) if cell.peephole else (None,) * 3
    ln = (
        (cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias)
        if cell.norm == "layer"
        else (None,) * 3
    )
    out, h, c = _LSTMFunction.apply(
        xp,
        state.h,
        state.c,
        cell.weight_hh,
        cell.bias_hh,
        *peep,
        *ln,
        cell.weight_hr if cell.proj_size else None,
        batch_sizes,
        cell.eps,
    )
    return out, LSTMState(h, c)


class _LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, batch_sizes, eps):
        T, B, G = xp.shape
        H = G // 4
        padded = batch_sizes is not None
        peep, ln, proj = p_i is not None, g_h is not None, w_hr is not None
        P = w_hr.shape[0] if proj else H
        xb = xp if b_hh is None else xp + b_hh  # (T, B, 4H), bias folded in once
        acts = _alloc((T, B, G), xp, padded)  # i, f, g, o after their nonlinearities
        cs = _alloc((T, B, H), xp, padded)  # c_t
        tcs = _alloc((T, B, H), xp, padded)  # tanh(c_t) or tanh(LN(c_t))
        out = _alloc((T, B, P), xp, padded)  # h_t
        ms = _alloc((T, B, H), xp, padded) if proj else None  # o * tanh(.) before projection
        if ln:
            recs = _alloc((T, B, G), xp, padded)  # h_{t-1} W_hh^T before its layer norm
            stats = _alloc((4, T, B, 1), xp, padded)  # mean/rstd of recs, then of c
            stats[1].fill_(1.0)
            stats[3].fill_(1.0)
        p_if = torch.stack([p_i, p_f]) if peep else None  # (2, H)
        w_hh_t = w_hh.t()
        h_prev, c_prev = h0, c0
        for t in range(T):
            b = _rows(batch_sizes, t, B)
            hp, cp, a = h_prev[:b], c_prev[:b], acts[t, :b]
            if ln:
                r = torch.mm(hp, w_hh_t, out=recs[t, :b])
                y, mu, rs = torch.native_layer_norm(r, (G,), g_h, None, eps)
                stats[0, t, :b], stats[1, t, :b] = mu, rs
                torch.add(xb[t, :b], y, out=a)
            else:
                torch.addmm(xb[t, :b], hp, w_hh_t, out=a)
            if peep:
                a[:, : 2 * H].view(b, 2, H).addcmul_(p_if, cp.unsqueeze(1))
            a[:, : 2 * H].sigmoid_()
            a[:, 2 * H : 3 * H].tanh_()
            i, f, g, o = a.split(H, dim=1)
            c = torch.mul(f, cp, out=cs[t, :b]).addcmul_(i, g)
            if peep:
                o.addcmul_(p_o, c)
            o.sigmoid_()
            if ln:
                cn, mu, rs = torch.native_layer_norm(c, (H,), g_c, b_c, eps)
                stats[2, t, :b], stats[3, t, :b] = mu, rs
                tc = torch.tanh(cn, out=tcs[t, :b])
            else:
                tc = torch.tanh(c, out=tcs[t, :b])
            if proj:
                torch.mm(torch.mul(o, tc, out=ms[t, :b]), w_hr.t(), out=out[t, :b])
            else:
                torch.mul(o, tc, out=out[t, :b])
            h_prev, c_prev = out[t], cs[t]
        ctx.batch_sizes, ctx.eps, ctx.flags = batch_sizes, eps, (peep, ln, proj, b_hh is not None)
        ctx.save_for_backward(
            h0, c0, w_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, acts, cs, tcs, out, ms,
            recs if ln else None, stats if ln else None,
        )  # fmt: skip
        return out, _last_step(out, batch_sizes), _last_step(cs, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT):
        (h0, c0, w_hh, p_i, p_f, p_o, g_h, g_c, b_c, w_hr, acts, cs, tcs, out, ms, recs, stats) = (
            ctx.saved_tensors
        )
        peep, ln, proj, has_bias = ctx.flags
        batch_sizes, eps = ctx.batch_sizes, ctx.eps
        T, B, G = acts.shape
        H = G // 4
        padded = batch_sizes is not None
        d_acts = _alloc((T, B, G), acts, padded)  # d loss / d pre-activations = d xp
        d_recs = _alloc((T, B, G), acts, padded) if ln else d_acts  # d / d (h W_hh^T)
        d_tcs = _alloc((T, B, H), acts, padded) if ln else None  # d / d LN(c) for its gains
        d_hs = _alloc((T, B, out.shape[-1]), acts, padded) if proj else None
        dh = _zeros_if_none(d_hT, h0)
        dc = _zeros_if_none(d_cT, c0)
        p_if = torch.stack([p_i, p_f]) if peep else None
        tmp = acts.new_empty(B, H)
        for t in reversed(range(T)):
            b = _rows(batch_sizes, t, B)
            dh_b, dc_b = dh[:b], dc[:b]
            if d_out is not None:
                dh_b += d_out[t, :b]
            if proj:
                d_hs[t, :b] = dh_b
                dm = dh_b @ w_hr
            else:
                dm = dh_b
            a, da, tc = acts[t, :b], d_acts[t, :b], tcs[t, :b]
            i, f, g, o = a.split(H, dim=1)
            cp = c0[:b] if t == 0 else cs[t - 1, :b]
            _sigmoid_bw(torch.mul(dm, tc, out=tmp[:b]), o, grad_input=da[:, 3 * H :])
            d_tc = _tanh_bw(torch.mul(dm, o, out=tmp[:b]), tc, grad_input=tmp[:b])
            if ln:
                d_tcs[t, :b] = d_tc
                mu, rs = stats[2, t, :b], stats[3, t, :b]
                d_tc = _ln_bw(d_tc, cs[t, :b], (H,), mu, rs, g_c, b_c, (True, False, False))[0]
            dc_b += d_tc
            if peep:
                dc_b.addcmul_(da[:, 3 * H :], p_o)
            _sigmoid_bw(dc_b * g, i, grad_input=da[:, :H])
            _sigmoid_bw(dc_b * cp, f, grad_input=da[:, H : 2 * H])
            _tanh_bw(dc_b * i, g, grad_input=da[:, 2 * H : 3 * H])
            dc_b.mul_(f)
            if peep:
                dc_b.add_((da[:, : 2 * H].view(b, 2, H) * p_if).sum(1))
            if ln:
                mu, rs = stats[0, t, :b], stats[1, t, :b]
                dr = _ln_bw(da, recs[t, :b], (G,), mu, rs, g_h, None, (True, False, False))[0]
                d_recs[t, :b] = dr
            else:
                dr = da
            torch.mm(dr, w_hh, out=dh_b)
        grads: dict[str, Tensor | None] = {}
        grads["xp"] = d_acts
        grads["w_hh"] = _outer_sum(d_recs, _prev(out, h0))
        grads["b_hh"] = d_acts.sum((0, 1)) if has_bias else None
        if peep:
            c_prev = _prev(cs, c0)
            grads["p_i"] = (d_acts[..., :H] * c_prev).sum((0, 1))
            grads["p_f"] = (d_acts[..., H : 2 * H] * c_prev).sum((0, 1))
            grads["p_o"] = (d_acts[..., 3 * H :] * cs).sum((0, 1))
        if ln:
            r_hat = (recs - stats[0]) * stats[1]
            grads["g_h"] = (d_acts * r_hat).sum((0, 1))
            c_hat = (cs - stats[2]) * stats[3]
            grads["g_c"] = (d_tcs * c_hat).sum((0, 1))
            grads["b_c"] = d_tcs.sum((0, 1))
        if proj:
            grads["w_hr"] = _outer_sum(d_hs, ms)
        names = ("xp", "h0", "c0", "w_hh", "b_hh", "p_i", "p_f", "p_o", "g_h", "g_c", "b_c", "w_hr")
        grads["h0"], grads["c0"] = dh, dc
        return (*[grads.get(n) for n in names], None, None)


# -- GRU (both reset conventions) --------------------------------------------------------------
def _run_gru(cell: GRUCell, xp: Tensor, state: Tensor, batch_sizes):
    out, h = _GRUFunction.apply(
        xp, state, cell.weight_hh, cell.bias_hh, cell.reset_after, batch_sizes
    )
    return out, h


class _GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, reset_after, batch_sizes):
        T, B, G = xp.shape
        H = G // 3
        padded = batch_sizes is not None
        acts = _alloc((T, B, G), xp, padded)  # r, z, n after their nonlinearities
        out = _alloc((T, B, H), xp, padded)
        # reset_after: W_hn h + b_hn (the reset multiplies it); else r * h_{t-1} (W_hn's input)
        aux = _alloc((T, B, H), xp, padded)
        if reset_after:
            xb, rec = xp, xp.new_empty(B, G)
        else:
            xb = xp if b_hh is None else xp + b_hh
            w_rz_t, w_n_t = w_hh[: 2 * H].t(), w_hh[2 * H :].t()
        h_prev = h0
        for t in range(T):
            b = _rows(batch_sizes, t, B)
            hp, a, x = h_prev[:b], acts[t, :b], xb[t, :b]
            if reset_after:
                r_ = rec[:b]
                if b_hh is None:
                    torch.mm(hp, w_hh.t(), out=r_)
                else:
                    torch.addmm(b_hh, hp, w_hh.t(), out=r_)
                torch.add(x[:, : 2 * H], r_[:, : 2 * H], out=a[:, : 2 * H]).sigmoid_()
                aux[t, :b] = r_[:, 2 * H :]
                torch.addcmul(x[:, 2 * H :], a[:, :H], r_[:, 2 * H :], out=a[:, 2 * H :])
            else:
                torch.addmm(x[:, : 2 * H], hp, w_rz_t, out=a[:, : 2 * H]).sigmoid_()
                s = torch.mul(a[:, :H], hp, out=aux[t, :b])
                torch.addmm(x[:, 2 * H :], s, w_n_t, out=a[:, 2 * H :])
            n = a[:, 2 * H :].tanh_()
            h = torch.sub(hp, n, out=out[t, :b]).mul_(a[:, H : 2 * H]).add_(n)
            h_prev = out[t]
        ctx.reset_after, ctx.batch_sizes, ctx.has_bias = reset_after, batch_sizes, b_hh is not None
        ctx.save_for_backward(h0, w_hh, acts, aux, out)
        return out, _last_step(out, batch_sizes)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT):
        h0, w_hh, acts, aux, out = ctx.saved_tensors
        reset_after, batch_sizes = ctx.reset_after, ctx.batch_sizes
        T, B, G = acts.shape
        H = G // 3
        padded = batch_sizes is not None
        d_acts = _alloc((T, B, G), acts, padded)  # d / d xp
        d_recs = _alloc((T, B, G), acts, padded) if reset_after else None  # d / d (h W^T + b)
        dh = _zeros_if_none(d_hT, h0)
        tmp = acts.new_empty(B, H)
        w_rz, w_n = w_hh[: 2 * H], w_hh[2 * H :]
        for t in reversed(range(T)):
            b = _rows(batch_sizes, t, B)
            dh_b = dh[:b]
            if d_out is not None:
                dh_b += d_out[t, :b]
            a, da = acts[t, :b], d_acts[t, :b]
            r, z, n = a.split(H, dim=1)
            hp = h0[:b] if t == 0 else out[t - 1, :b]
            # h = n + z (h_prev - n)
            _sigmoid_bw(torch.sub(hp, n, out=tmp[:b]).mul_(dh_b), z, grad_input=da[:, H : 2 * H])
            dn = _tanh_bw(torch.sub(dh_b, dh_b * z, out=tmp[:b]), n, grad_input=da[:, 2 * H :])
            dh_b.mul_(z)
            if reset_after:
                dr_ = d_recs[t, :b]
                rec_n = aux[t, :b]
                _sigmoid_bw(dn * rec_n, r, grad_input=da[:, :H])
                dr_[:, : 2 * H] = da[:, : 2 * H]
                torch.mul(dn, r, out=dr_[:, 2 * H :])
                dh_b.addmm_(dr_, w_hh)
            else:
                ds = dn @ w_n  # d / d (r * h_prev)
                _sigmoid_bw(ds * hp, r, grad_input=da[:, :H])
                dh_b.addcmul_(ds, r).addmm_(da[:, : 2 * H], w_rz)
        h_prev = _prev(out, h0)
        if reset_after:
            d_w = _outer_sum(d_recs, h_prev)
            d_b = d_recs.sum((0, 1)) if ctx.has_bias else None
        else:
            d_w = torch.cat(
                [_outer_sum(d_acts[..., : 2 * H], h_prev), _outer_sum(d_acts[..., 2 * H :], aux)]
            )
            d_b = d_acts.sum((0, 1)) if ctx.has_bias else None
        return d_acts, dh, d_w, d_b, None, None


# -- Elman RNN ---------------------------------------------------------------------------------
def _run_rnn(cell: RNNCell, xp: Tensor, state: Tensor, batch_sizes):
    return _RNNFunction.apply(
        xp, state, cell.weight_hh, cell.bias_hh, cell.nonlinearity == "relu", batch_sizes
    )


class _RNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, relu, batch_sizes):
        T, B, H = xp.shape
        out = _alloc((T, B, H), xp, batch_sizes is not None)
        xb = xp if b_hh is None else xp + b_hh
        h_prev = h0
        for t in range(T):
            b = _rows(batch_sizes, t, B)
            h = torch.addmm(xb[t, :b], h_prev[:b], w_hh.t(), out=out[t, :b])
            h.relu_() if relu else h.tanh_()
            h_prev = out[t]
        ctx.relu, ctx.batch_sizes, ctx.has_bias = relu, batch_sizes, b_hh is not None
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
            torch.mm(dp, w_hh, out=dh_b)
        d_b = d_pre.sum((0, 1)) if ctx.has_bias else None
        return d_pre, dh, _outer_sum(d_pre, _prev(out, h0)), d_b, None, None

