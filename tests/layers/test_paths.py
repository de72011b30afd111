"""Path choice by measurement (rnnkit.layers.paths) and the float32 fallback of fused ops that
have no kernel in the autocast dtype on this CPU."""

import json

import pytest
import torch

from rnnkit.layers import Recurrent, fused, paths

B, T, D, H = 8, 20, 5, 16


@pytest.fixture
def measuring(monkeypatch, tmp_path):
    """Measuring on, with a cache folder of the test's own and an empty process cache."""
    monkeypatch.setenv("RNNKIT_MEASURE_PATHS", "1")
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNKIT_PATH_CACHE", raising=False)
    paths.CACHE.clear()
    yield tmp_path / "cache"
    paths.CACHE.clear()


def test_bucket_is_the_power_of_two_at_or_above():
    assert [paths.bucket(n) for n in (1, 2, 3, 4, 5, 64, 65, 100)] == [1, 2, 4, 4, 8, 64, 128, 128]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_auto_times_both_paths_and_takes_the_faster(measuring, monkeypatch, cell):
    rnn = Recurrent(cell, D, H)
    x = torch.randn(B, T, D)
    choice = rnn.explain_path(x)
    assert set(choice.timings) == {"fused", "custom"}
    assert choice.path == min(choice.timings, key=choice.timings.get)
    assert choice.reason.startswith("measured: ")
    assert all(ms > 0 for ms in choice.timings.values())
    # The forward pass takes the same path without timing again.
    monkeypatch.setattr(paths, "fastest", lambda jobs, **kw: pytest.fail("timed again"))
    assert rnn.explain_path(x).path == choice.path
    rnn(x)


def test_a_choice_is_kept_on_disk_and_read_by_the_next_process(measuring, monkeypatch):
    rnn = Recurrent("gru", D, H)
    x = torch.randn(B, T, D)
    first = rnn.explain_path(x)
    files = list(measuring.glob("paths-*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert [v["path"] for v in saved.values()] == [first.path]
    paths.CACHE.clear()  # as a new process: only the disk knows
    monkeypatch.setattr(paths, "fastest", lambda jobs, **kw: pytest.fail("timed again"))
    assert rnn.explain_path(x).path == first.path
    # Another batch size in the same bucket shares the choice; another bucket does not.
    assert rnn.explain_path(torch.randn(B - 1, T, D)).path == first.path
    with pytest.raises(pytest.fail.Exception, match="timed again"):
        rnn.explain_path(torch.randn(4 * B, T, D))


def test_path_cache_off_writes_nothing(measuring, monkeypatch):
    monkeypatch.setenv("RNNKIT_PATH_CACHE", "0")
    Recurrent("gru", D, H).explain_path(torch.randn(B, T, D))
    assert not measuring.exists() or not list(measuring.iterdir())


def test_a_damaged_cache_file_is_measured_again(measuring):
    measuring.mkdir(parents=True)
    paths.cache_file().write_text("{not json")
    choice = Recurrent("gru", D, H).explain_path(torch.randn(B, T, D))
    assert choice.reason.startswith("measured: ")
    assert json.loads(paths.cache_file().read_text())  # rewritten whole


def test_measuring_off_uses_the_fixed_rule(monkeypatch):
    monkeypatch.setenv("RNNKIT_MEASURE_PATHS", "0")
    monkeypatch.setattr(paths, "fastest", lambda jobs, **kw: pytest.fail("timed"))
    choice = Recurrent("gru", D, 256).explain_path(torch.randn(64, 100, D))
    assert (choice.path, choice.reason) == ("custom", "fixed rule (measuring off)")


def test_timing_leaves_the_run_unchanged(measuring):
    """Timing a shape inside a training forward pass draws no random numbers from the run's
    stream, accumulates no gradient and leaves the output and gradients what the chosen path
    gives on its own."""
    torch.manual_seed(1)
    rnn = Recurrent("gru", D, H, num_layers=2, dropout=0.3, weight_drop=0.2)
    x = torch.randn(B, T, D, requires_grad=True)

    def step(model):
        torch.manual_seed(2)
        out, _ = model(x)
        out.square().sum().backward()
        after = torch.rand(3)  # the stream's next numbers
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        x.grad = None
        return out.detach(), grads, after

    out, grads, after = step(rnn)  # measured here, inside the forward
    path = rnn.resolve_path(x)
    assert rnn.explain_path(x).reason.startswith("measured")
    twin = Recurrent("gru", D, H, num_layers=2, dropout=0.3, weight_drop=0.2, path=path)
    twin.load_state_dict(rnn.state_dict())
    out2, grads2, after2 = step(twin)
    assert torch.equal(after, after2)
    torch.testing.assert_close(out, out2)
    for g, g2 in zip(grads, grads2, strict=True):
        torch.testing.assert_close(g, g2)


def test_explaining_without_gradients_accumulates_none(measuring):
    rnn = Recurrent("lstm", D, H)
    rnn.explain_path(torch.randn(B, T, D))
    assert all(p.grad is None for p in rnn.parameters())


def test_cells_without_a_fused_op_are_not_timed(measuring, monkeypatch):
    monkeypatch.setattr(paths, "fastest", lambda jobs, **kw: pytest.fail("timed"))
    x = torch.randn(B, T, D)
    assert Recurrent("lstm", D, H, peephole=True).resolve_path(x) == "custom"
    assert Recurrent("lstm", D, H, zoneout=0.1).resolve_path(x) == "custom"
    assert Recurrent("gru", D, H, path="fused").explain_path(x).reason == "asked for"


# -- low precision ----------------------------------------------------------------------------


def test_the_probe_agrees_with_a_real_call():
    """Whatever this CPU supports, the probe's answer is what a real bf16 LSTM call does."""
    ok = paths.fused_runs_in("lstm", "cpu", torch.bfloat16)
    rnn = torch.nn.LSTM(D, H)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rnn(torch.randn(T, B, D))[0].float().sum().backward()
        ran = True
    except RuntimeError:
        ran = False
    assert ok == ran
    assert paths.fused_runs_in("lstm", "cpu", torch.float32)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_a_kernel_in_the_autocast_dtype_the_fused_op_runs_in_float32(monkeypatch, cell):
    """Forced here, so every CPU tests the fallback that CPUs without bf16 kernels take."""
    monkeypatch.setattr(fused, "runs_in", lambda c, device, dtype: dtype == torch.float32)
    rnn = Recurrent(cell, D, H, path="fused", num_layers=2, bidirectional=True)
    x = torch.randn(B, T, D, requires_grad=True)
    lengths = torch.randint(1, T + 1, (B,))
    expected, expected_state = rnn(x, lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = rnn(x, lengths=lengths)
        reason = rnn.explain_path(x).reason
    assert out.dtype == torch.float32
    assert torch.equal(out, expected)  # float32 all through: the very same numbers
    assert "no bfloat16 version on this CPU, so it runs in float32" in reason
    out.sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in rnn.parameters())


def test_timing_is_invisible_to_the_callers_saved_tensor_hooks(measuring):
    """Non-reentrant checkpointing and the trainer's memory check count saved tensors through
    saved-tensor hooks: a first call that times the paths saves what the chosen path alone
    saves, and checkpointing works on it."""
    torch.manual_seed(0)
    rnn = Recurrent("gru", D, H, num_layers=2)
    x = torch.randn(B, T, D, requires_grad=True)
    counts = []

    def count(tensor):
        counts[-1] += 1
        return tensor

    for _ in range(2):  # the first call times the paths, the second finds the choice
        counts.append(0)
        with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
            rnn(x)[0].sum().backward()
    assert counts[0] == counts[1]
    paths.CACHE.clear()
    twin = Recurrent("lstm", D, H)
    out = torch.utils.checkpoint.checkpoint(lambda v: twin(v)[0], x, use_reentrant=False)
    out.sum().backward()  # would raise CheckpointError if the timing's tensors were counted
    assert twin.explain_path(x).reason.startswith("measured")


def test_deterministic_algorithms_take_the_fixed_rule(measuring, monkeypatch):
    monkeypatch.setattr(paths, "fastest", lambda jobs, **kw: pytest.fail("timed"))
    torch.use_deterministic_algorithms(True)
    try:
        choice = Recurrent("gru", D, H).explain_path(torch.randn(B, T, D))
    finally:
        torch.use_deterministic_algorithms(False)
    assert choice.reason == "fixed rule (deterministic: no timing-dependent choice)"


def test_a_cache_entry_naming_another_path_is_measured_again(measuring):
    rnn = Recurrent("gru", D, H)
    x = torch.randn(B, T, D)
    rnn.explain_path(x)
    file = paths.cache_file()
    data = json.loads(file.read_text())
    for value in data.values():
        value["path"] = "reference"
    file.write_text(json.dumps(data))
    paths.CACHE.clear()
    assert rnn.explain_path(x).path in ("fused", "custom")


def test_the_precision_probe_ignores_grad_mode_and_draws_no_random_numbers():
    paths.fused_runs_in.cache_clear()
    try:
        rng = torch.random.get_rng_state()
        with torch.no_grad():
            in_no_grad = paths.fused_runs_in("gru", "cpu", torch.bfloat16)
        assert torch.equal(rng, torch.random.get_rng_state())
        paths.fused_runs_in.cache_clear()
        with torch.inference_mode():
            in_inference = paths.fused_runs_in("gru", "cpu", torch.bfloat16)
        paths.fused_runs_in.cache_clear()
        assert in_no_grad == in_inference == paths.fused_runs_in("gru", "cpu", torch.bfloat16)
        assert in_no_grad  # torch's GRU has a generic bfloat16 kernel on every CPU
    finally:
        paths.fused_runs_in.cache_clear()
