"""Candidates for the custom path: eager, TorchScript, torch.compile, autograd.Function kernels.

Cells torch.nn cannot run (peephole, layer-norm LSTM) need rnnkit's own time loop. This measures
one training step (forward + backward of ``out.sum()``) of each way to run that loop, with the
one-time cost of the first call (scripting, compiling, weight packing) reported on its own, and
the ratio to ``torch.nn.LSTM`` (a plain LSTM of the same sizes) measured in the same run.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_custom_paths.py      # full table
    .venv/bin/python benchmarks/bench_custom_paths.py --batch 8 --hidden 32 --length 20 --repeat 2

CPU, float32. Before timing, every candidate's first-call output and gradients (input and cell
parameters) are checked against rnnkit's reference path (a plain loop over ``cell(x_t, state)``),
so a fast but wrong candidate is flagged instead of winning. torch.compile starts from an empty
on-disk cache (``--warm-cache`` keeps torch's usual one), so its first call pays the full compile.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import torch
from bench_core import time_ms  # the core table's loop; python puts this folder on sys.path
from torch import Tensor, nn

from rnnkit.layers import Recurrent
from rnnkit.layers.recurrent import _loop

# Relative error allowed against the float64 reference: layer-normalized gradients lose ~1e-3
# to float32 rounding at this size in every implementation (the float32 reference included).
TOLERANCE = {None: 1e-4, "layer": 5e-3}


# -- the cell math as plain functions of tensors, for TorchScript and torch.compile -----------
# Same equations as LSTMCell.recur (gate order i, f, g, o); the input projection (and for the
# layer-norm cell its LN and bias) is hoisted out of the loop by cell.project_input, as in eager.
def peephole_step(
    xp_t: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor, p_i: Tensor, p_f: Tensor,
    p_o: Tensor,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    a_i, a_f, a_g, a_o = (xp_t + torch.addmm(b_hh, h, w_hh.t())).chunk(4, 1)
    c = torch.sigmoid(a_f + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(a_g)
    h = torch.sigmoid(a_o + p_o * c) * torch.tanh(c)
    return h, c


def layer_norm_step(
    xp_t: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor, g_hh: Tensor, g_c: Tensor,
    b_c: Tensor, eps: float,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    rec = torch.layer_norm(torch.mm(h, w_hh.t()), [w_hh.shape[0]], g_hh, None, eps)
    a_i, a_f, a_g, a_o = (xp_t + rec + b_hh).chunk(4, 1)
    c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    h = torch.sigmoid(a_o) * torch.tanh(torch.layer_norm(c, [c.shape[1]], g_c, b_c, eps))
    return h, c


def step_and_params(cell) -> tuple:
    """The step function for ``cell`` and the cell parameters it takes after (xp_t, h, c)."""
    if cell.norm == "layer":
        params = (cell.weight_hh, cell.bias_hh, cell.ln_hh_weight, cell.ln_c_weight)
        return layer_norm_step, (*params, cell.ln_c_bias, cell.eps)
    params = (cell.weight_hh, cell.bias_hh, cell.weight_ci, cell.weight_cf, cell.weight_co)
    return peephole_step, params


def python_loop(step, cell):
    """A training-ready loop over time that calls ``step`` (scripted or compiled) once a step."""
    _, params = step_and_params(cell)

    def run(x: Tensor) -> Tensor:
        xp = cell.project_input(x)  # (T, B, 4H): one matmul for all steps
        h, c = cell.initial_state(x.shape[1], dtype=x.dtype)
        outs = []
        for xp_t in xp.unbind(0):  # unbind, not xp[t]: indexing costs O(T^2) in backward
            h, c = step(xp_t, h, c, *params)
            outs.append(h)
        return torch.stack(outs)  # (T, B, H)

    return run


# -- the candidates: (name, setup); setup() builds the callable x (T, B, D) -> out (T, B, H) ----
def candidates(model: Recurrent, D: int, H: int) -> list:
    cell = model.cells[0]  # eager, TorchScript and compile rows share the custom row's weights
    step, _ = step_and_params(cell)

    def torch_lstm():
        lstm = nn.LSTM(D, H)  # time-major, like the runner's internals
        return lambda x: lstm(x)[0]

    def eager():
        return lambda x: _loop(cell, x, cell.initial_state(x.shape[1]), None, hoist=True)[0]

    def scripted():
        return python_loop(torch.jit.script(step), cell)

    def compiled():
        # fullgraph: a graph break would silently fall back to eager and be timed as "compile".
        return python_loop(torch.compile(step, dynamic=False, fullgraph=True), cell)

    def custom():
        return lambda x: model(x)[0]

    return [
        ("torch.nn.LSTM (plain, reference row)", torch_lstm),
        ("eager loop, hoisted projection", eager),
        ("TorchScript step, Python loop", scripted),
        ("torch.compile step, Python loop", compiled),
        ("rnnkit custom (autograd.Function)", custom),
    ]


def grads(x: Tensor, module: nn.Module) -> dict[str, Tensor]:
    found = {"input": x.grad} | {n: p.grad for n, p in module.named_parameters()}
    return {name: g for name, g in found.items() if g is not None}


def worst_error(out, got: dict, ref_out, ref: dict) -> tuple[float, str]:
    """Largest error over output and gradients, relative to the reference's scale (at least 1),
    so sums over T*B terms (weight gradients) get float32 room and outputs an absolute bound."""
    pairs = [("output", out, ref_out)] + [(n, got.get(n), g) for n, g in ref.items()]
    worst, where = 0.0, "output"
    for name, a, b in pairs:
        if a is None:
            return float("inf"), f"{name} (no gradient)"
        err = float((a - b).abs().max()) / max(1.0, float(b.abs().max()))
        if err > worst:
            worst, where = err, name
    return worst, where


def measure_cell(title: str, options: dict, args) -> None:
    T, B, D, H = args.length, args.batch, args.input, args.hidden
    torch.manual_seed(0)
    model = Recurrent("lstm", D, H, batch_first=False, path="custom", **options)
    x = torch.randn(T, B, D, requires_grad=True)  # (T, B, D)

    # The reference path once, eagerly and in float64: the answer every candidate's first call
    # must give. float64, because the layer-norm LSTM's float32 gradients at this size carry
    # ~1e-3 relative rounding error whichever way they are computed (the float32 reference
    # itself is off by 4e-3), which would hide a real mismatch or flag a correct variant.
    ref_model = Recurrent("lstm", D, H, batch_first=False, path="reference", **options).double()
    ref_model.load_state_dict(model.state_dict())
    x_ref = x.detach().double().requires_grad_()
    ref_out = ref_model(x_ref)[0]
    ref_out.sum().backward()
    ref_out = ref_out.detach().float()
    ref_grads = {n: g.float() for n, g in grads(x_ref, ref_model.cells[0]).items()}

    print(f"{title}:", flush=True)
    rows = []  # (name, median ms or failure text, first-call s, check note)
    for name, setup in candidates(model, D, H):
        x.grad = None
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run = setup()
                out = run(x)
                out.sum().backward()
            first_s = time.perf_counter() - start
        except Exception as e:  # any failure of a candidate is a result, not a crash
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            rows.append((name, f"failed: {type(e).__name__}: {reason}", None, ""))
            print(f"  {name}: FAILED: {reason}", flush=True)
            continue
        note = "; ".join(sorted({str(w.message).splitlines()[0] for w in caught}))
        if name.startswith("torch.nn.LSTM"):
            check = "not checked (plain LSTM, different cell)"
        else:
            err, where = worst_error(out.detach(), grads(x, model.cells[0]), ref_out, ref_grads)
            check = f"max error {err:.1e} ({where})"
            tolerance = TOLERANCE[options.get("norm")]
            if not err <= tolerance:
                check = f"MISMATCH: {check} > {tolerance:g}"
                print(f"  !!!!! {name}: {check} !!!!!", flush=True)

        def train_step(run=run):
            run(x).sum().backward()

        ms = time_ms(train_step, args.repeat, args.warmup, lambda: None)
        rows.append((name, ms, first_s, check + (f"; warned: {note}" if note else "")))
        print(f"  {name}: {ms:.1f} ms, first call {first_s:.2f} s, {check}", flush=True)

    ref_ms = rows[0][1] if isinstance(rows[0][1], float) else None
    print(f"\n{title}\n")
    print("| variant | median ms | ratio to torch.nn.LSTM | first call (compile) s |")
    print("|---|---|---|---|")
    for name, ms, first_s, check in rows:
        if not isinstance(ms, float):
            print(f"| {name} | {ms} | - | - |")
            continue
        ratio = f"{ms / ref_ms:.2f}x" if ref_ms else "-"
        flag = " **WRONG**" if check.startswith("MISMATCH") else ""
        print(f"| {name}{flag} | {ms:.1f} | {ratio} | {first_s:.2f} |")
    print()
    for name, _, _, check in rows:  # checks and warnings (e.g. deprecations) under the table
        if check:
            print(f"- {name}: {check}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-cache", action="store_true", help="reuse torch's compile cache")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_inductor_") as cache:
        if not args.warm_cache:  # read by torch at each compile, so setting it here suffices
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        print(
            f"device=cpu threads={args.threads} B={args.batch} D={args.input} H={args.hidden} "
            f"T={args.length} float32 torch={torch.__version__} "
            f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')} "
            f"compile cache={'warm' if args.warm_cache else 'cold'} median of {args.repeat}\n"
        )
        measure_cell("peephole LSTM (peephole=True)", {"peephole": True}, args)
        measure_cell("layer-norm LSTM (norm='layer')", {"norm": "layer"}, args)


if __name__ == "__main__":
    main()
