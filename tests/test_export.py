"""export: ONNX (run by onnxruntime) and TorchScript files compute what the PyTorch model does,
for other batch sizes too, and for other lengths where the exporter keeps the time loop."""

import json
import warnings

import pytest
import torch

from rnnkit.cells import RNNCell
from rnnkit.export import ExportError, export
from rnnkit.models.sequence import SequenceModel

# torch 2.13 deprecates all of torch.jit; TorchScript files are still what libtorch loads.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

D, H, OUT, B, T = 3, 4, 2, 4, 7

# (model options, whether ONNX keeps any T, whether TorchScript keeps any T)
CASES = [
    pytest.param({"cell": "lstm", "path": "fused"}, True, True, id="lstm-fused"),
    pytest.param({"cell": "lstm", "path": "custom"}, True, True, id="lstm-custom"),
    pytest.param({"cell": "gru", "path": "fused"}, True, True, id="gru-fused"),
    pytest.param(
        {"cell": "gru", "path": "custom", "head": "step"}, True, True, id="gru-custom-step"
    ),
    pytest.param({"cell": "rnn", "path": "fused"}, False, True, id="rnn-fused"),
    pytest.param({"cell": "rnn", "path": "custom"}, False, True, id="rnn-custom"),
    pytest.param(
        {"cell": "lstm", "path": "fused", "num_layers": 2, "bidirectional": True},
        True,
        True,
        id="lstm-bi2",
    ),
    pytest.param({"cell": "lstm", "path": "custom", "proj_size": 2}, False, True, id="lstm-proj"),
    pytest.param({"cell": "lstm", "path": "custom", "peephole": True}, False, False, id="peephole"),
    pytest.param({"cell": "lstm", "norm": "batch"}, False, False, id="lstm-batchnorm"),
]


def make_model(options: dict) -> SequenceModel:
    torch.manual_seed(0)
    model = SequenceModel(D, OUT, hidden_size=H, **options)
    if options.get("norm") == "batch":  # per-step running statistics worth freezing
        with torch.no_grad():
            for _ in range(2):
                model(torch.randn(8, T, D))
    return model.eval()


def export_recording(model, path, fmt):
    """Export; return the path and the 'length fixed' warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = export(model, path, format=fmt, example=torch.randn(B, T, D))
    return out, [w for w in caught if "sequence length fixed" in str(w.message)]


def check_shapes(dynamic_time: bool) -> list[tuple[int, int, int]]:
    shapes = [(B, T, D), (2, T, D), (1, T, D)]
    return shapes + ([(3, T + 4, D), (2, 2, D)] if dynamic_time else [])


@pytest.mark.parametrize(("options", "onnx_dynamic", "ts_dynamic"), CASES)
def test_onnx_matches_torch(tmp_path, options, onnx_dynamic, ts_dynamic):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = make_model(options)
    path_before = model.encoder.path
    out, fixed = export_recording(model, tmp_path / "model.onnx", "onnx")

    assert out == tmp_path / "model.onnx"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no external data file
    assert model.encoder.path == path_before and not model.training
    assert len(fixed) == (0 if onnx_dynamic else 1)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    steps = session.get_modelmeta().custom_metadata_map["rnnkit.time_steps"]
    assert steps == ("dynamic" if onnx_dynamic else str(T))
    for shape in check_shapes(onnx_dynamic):
        x = torch.randn(shape)
        (got,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            want = model(x)
        torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-5, atol=1e-5)
    if not onnx_dynamic:
        with pytest.raises(Exception, match="invalid dimensions for input: x"):
            session.run(None, {"x": torch.randn(B, T + 1, D).numpy()})


@pytest.mark.parametrize(("options", "onnx_dynamic", "ts_dynamic"), CASES)
def test_torchscript_matches_torch(tmp_path, options, onnx_dynamic, ts_dynamic):
    model = make_model(options)
    path_before = model.encoder.path
    out, fixed = export_recording(model, tmp_path / "model.pt", "torchscript")

    assert model.encoder.path == path_before and not model.training
    assert len(fixed) == (0 if ts_dynamic else 1)
    extra = {"rnnkit.json": ""}
    loaded = torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(extra["rnnkit.json"]) == {"time_steps": "dynamic" if ts_dynamic else T}
    for shape in check_shapes(ts_dynamic):
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)
    if not ts_dynamic:
        with pytest.raises(torch.jit.Error, match=f"unrolled for T={T} steps, got T={T + 1}"):
            loaded(torch.randn(B, T + 1, D))


class _BranchyCell(RNNCell):
    """An Elman cell that branches on a tensor value: no exporter can keep both branches."""

    def recur(self, xp, state, valid=None):
        h, _ = super().recur(xp, state, valid)
        if bool(xp[0, 0] > 0):
            h = -h
        return h, h


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("onnx", r"^onnx export failed: .*data-dependent"),
        ("torchscript", r"^torchscript export failed: the traced model disagrees"),
    ],
)
def test_data_dependent_control_flow_raises(tmp_path, fmt, message):
    if fmt == "onnx":
        pytest.importorskip("onnxscript")
    model = SequenceModel(D, OUT, cell=_BranchyCell, hidden_size=H)  # left in training mode
    with pytest.raises(ExportError, match=message) as info:
        export(model, tmp_path / "model", format=fmt, example=torch.randn(B, T, D))
    assert "\n" not in str(info.value)
    assert model.training and model.encoder.path == "auto"
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "tflite"}, "format: expected one of ('onnx', 'torchscript'), got 'tflite'"),
        (
            {"example": torch.randn(B, T, D + 1)},
            "example: the model fails on it: ValueError: input: expected last dimension "
            f"(features) {D}, got shape ({B}, {T}, {D + 1})",
        ),
        (
            {"example": torch.randn(1, T, D)},
            "example: expected B >= 2 and T >= 2 (the exporters freeze size-1 dimensions), "
            f"got shape (1, {T}, {D})",
        ),
        (
            {"example": torch.randn(B, D)},
            f"example: expected a floating-point (B, T, D) tensor, got torch.float32 of shape "
            f"({B}, {D})",
        ),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs, message):
    model = make_model({"cell": "gru"})
    kwargs = {"format": "torchscript", "example": torch.randn(B, T, D), **kwargs}
    with pytest.raises(ExportError) as info:
        export(model, tmp_path / "model", **kwargs)
    assert str(info.value) == message


def test_missing_folder_raises(tmp_path):
    with pytest.raises(ExportError, match="path: folder .* does not exist"):
        export(
            make_model({"cell": "gru"}),
            tmp_path / "nowhere" / "model.pt",
            format="torchscript",
            example=torch.randn(B, T, D),
        )
