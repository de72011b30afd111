"""The runner on CUDA: fused (cuDNN), custom and reference paths agree with the CPU.

Skipped without a GPU; CI has none, sessions lent a GPU run them."""

import pytest
import torch

from rnnkit.layers import Recurrent

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CONFIGS = [
    ("lstm", {}),
    ("lstm", {"proj_size": 4}),
    ("lstm", {"peephole": True, "norm": "layer"}),
    ("lstm", {"norm": "batch"}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("rnn", {}),
]


@pytest.mark.parametrize("path", ["fused", "custom", "reference"])
@pytest.mark.parametrize(("name", "opts"), CONFIGS)
def test_cuda_matches_cpu(name, opts, path):
    if path == "fused" and (opts.get("peephole") or opts.get("norm") or "reset_after" in opts):
        pytest.skip("no fused path for this cell")
    cpu = Recurrent(name, 5, 8, num_layers=2, bidirectional=True, path=path, **opts).double()
    gpu = Recurrent(name, 5, 8, num_layers=2, bidirectional=True, path=path, **opts).double()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x = torch.randn(4, 7, 5, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5, 1])
    results = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        xd = x.to(device).requires_grad_()
        out, _ = model(xd, lengths=lengths)
        out.sum().backward()
        results.append((out.cpu(), xd.grad.cpu()))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-7, atol=1e-9)
