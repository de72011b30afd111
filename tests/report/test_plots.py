"""Attention heatmaps: a PNG file for weights that match the tokens, a plain error otherwise."""

import pytest
import torch

from rnnkit.report.plots import plot_attention

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_attention_writes_a_png(tmp_path):
    source, output = ["a", "b", "c", "<eos>"], ["c", "b", "a"]
    weights = torch.randn(len(output), len(source)).softmax(-1)  # (T, S), rows sum to 1
    path = tmp_path / "run" / "attention.png"  # the folder is created
    returned = plot_attention(weights, source, output, path, title="'abc' -> 'cba'")
    assert returned == path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def test_plot_attention_accepts_nested_lists_and_strings(tmp_path):
    path = plot_attention([[0.25, 0.75]], ["x", "\t"], ["y"], str(tmp_path / "a.png"))
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_attention_rejects_weights_that_do_not_match_the_tokens(tmp_path):
    source, output = ["a", "b", "c", "<eos>"], ["c", "b", "a"]
    transposed = torch.rand(len(source), len(output))  # (S, T): the wrong way round
    path = tmp_path / "attention.png"
    with pytest.raises(ValueError, match=r"weights: expected shape \(3, 4\) .*got \(4, 3\)"):
        plot_attention(transposed, source, output, path)
    with pytest.raises(ValueError, match=r"weights: expected shape \(3, 4\) .*got \(3, 5\)"):
        plot_attention(torch.rand(3, 5), source, output, path)
    assert not path.exists()
