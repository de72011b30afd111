"""``rnnkit report``: one self-contained page (every image embedded and decodable, nothing
fetched), for a run and for an ablation."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest

from rnnkit.ablation import Budget, run_ablation
from rnnkit.cli.main import main
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer

TINY = dict(task="adding", seq_len=8, hidden=4, batch_size=4, eval_every=2, valid_size=8,
            test_size=8, quiet=True, tensorboard=False)  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The page's images, links, scripts and text."""

    def __init__(self) -> None:
        super().__init__()
        self.images, self.external, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for name in ("href", "src"):
            value = attrs.get(name) or ""
            if value and not value.startswith("data:"):
                self.external.append(value)

    def handle_data(self, data):
        self.text.append(data)


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_self_contained(page: Page, images: int) -> None:
    assert page.external == []  # nothing to fetch: no links, scripts or images by URL
    assert len(page.images) == images
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)


def test_a_run_report_embeds_curves_gradient_flow_and_the_diagnosis(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(
        RunConfig().replace(**TINY, cell="lstm", steps=6, out=str(run), grad_flow_every=2)
    ).fit()
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {run / 'report.html'}"
    page = parse(run / "report.html")
    # loss.png, grad_flow.png (heatmap), gradient_flow.png (diagnosed now, and saved)
    check_self_contained(page, images=3)
    text = " ".join(page.text)
    diagnosis = json.loads((run / "diagnosis.json").read_text())
    assert diagnosis["verdict"] in text and "model.cell" in text and "Resolved config" in text
    summary = json.loads((run / "summary.json").read_text())
    assert f"{summary['test']['mse']:.5g}" in text


def test_an_ablation_report_holds_the_ranking(tmp_path):
    out = tmp_path / "abl"
    base = RunConfig().replace(**{k: v for k, v in TINY.items() if k != "quiet"})
    run_ablation(base, {"rnn": {"cell": "rnn"}, "gru": {"cell": "gru"}}, out,
                 budget=Budget.parse("2"), seeds=2, log=lambda m: None)  # fmt: skip
    assert main(["report", str(out), "--output", str(tmp_path / "a.html")]) == 0
    page = parse(tmp_path / "a.html")
    check_self_contained(page, images=2)  # ablation.png, curves.png
    text = " ".join(page.text)
    assert "Ranking" in text and "mse_mean" in text and "rnn" in text and "gru" in text


@pytest.mark.parametrize("make", ["missing", "plain"])
def test_a_directory_that_is_neither_is_refused(make, tmp_path, capsys):
    target = tmp_path / "x"
    if make == "plain":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert ("no such directory" if make == "missing" else "neither a run directory") in err
