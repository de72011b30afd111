"""The pieces of a custom-path training step, timed alone: what bounds rnnkit's custom kernels.

For B=64, D=128, H=256 (an LSTM's 4H=1024 gates) and T steps, it times every matrix product of
one training step through MKL (``torch.mm``, what torch uses for float32 on CPU) and through
oneDNN (``torch.ops.mkldnn._linear_pointwise``, what rnnkit's kernels use), plus the transposes
oneDNN would need for the weight gradients, and tanh against sigmoid.

    THP_MEM_ALLOC_ENABLE=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        .venv/bin/python benchmarks/bench_gemm.py
"""

from __future__ import annotations

import argparse

import torch
from bench_core import time_ms  # python puts this folder on sys.path

onednn = torch.ops.mkldnn


def linear(x, packed):
    return onednn._linear_pointwise(x, packed, None, "none", [], "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, D, H, T = 64, 128, 256, args.length
    G, M = 4 * H, T * B
    h, da = torch.randn(B, H), torch.randn(B, G)  # one step's state and gate gradients
    w_hh, w_ih = torch.randn(G, H), torch.randn(G, D)
    x, h_all, d_all = torch.randn(M, D), torch.randn(M, H), torch.randn(M, G)
    packed_hh = onednn._reorder_linear_weight(w_hh, B)
    packed_hh_t = onednn._reorder_linear_weight(w_hh.t().contiguous(), B)
    packed_ih = onednn._reorder_linear_weight(w_ih, M)
    d_all_t, h_all_t, x_t = (t.t().contiguous() for t in (d_all, h_all, x))

    def steps(fn):  # T calls, as in the time loop; reported per call
        return lambda: [fn() for _ in range(T)]

    rows = [
        ("step product h W_hh^T (per call, us)", steps(lambda: h @ w_hh.t()),
         steps(lambda: linear(h, packed_hh)), 1000 / T),
        ("step product dA W_hh (per call, us)", steps(lambda: da @ w_hh),
         steps(lambda: linear(da, packed_hh_t)), 1000 / T),
        ("input projection X W_ih^T (ms)", lambda: x @ w_ih.t(), lambda: linear(x, packed_ih), 1),
        ("weight grad dA^T H_prev (ms)", lambda: d_all.t() @ h_all,
         lambda: linear(d_all_t, h_all_t), 1),
        ("weight grad dA^T X (ms)", lambda: d_all.t() @ x, lambda: linear(d_all_t, x_t), 1),
        ("  transposing copy of dA (ms)", None, lambda: d_all.t().contiguous(), 1),
        ("tanh vs sigmoid on (64, 256) (us)", steps(lambda: torch.tanh(h)),
         steps(lambda: torch.sigmoid(h)), 1000 / T),
    ]  # fmt: skip
    print(f"B={B} D={D} H={H} T={T} threads={args.threads} float32, median of {args.repeat}")
    print("| piece | MKL / first | oneDNN / second | ratio |")
    print("|---|---|---|---|")
    for name, first, second, scale in rows:
        b = time_ms(second, args.repeat, 2, lambda: None) * scale
        if first is None:
            print(f"| {name} | - | {b:.1f} | - |")
            continue
        a = time_ms(first, args.repeat, 2, lambda: None) * scale
        print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
