"""Report files from hand-built results folders: produced, parsable and consistent."""

import base64
import json
from html.parser import HTMLParser

import pandas as pd
import pytest

from byolbench.bench.curves import read_metrics, training_curves
from byolbench.bench.plots import PNG_SIGNATURE
from byolbench.bench.report import build_report, load_rows, write_report
from byolbench.bench.report_tables import file_slug, protocols_as_run
from byolbench.errors import DataError
from tests.bench.fake_results import (
    result_row,
    two_dataset_results,
    write_metrics,
    write_runs,
)


class PageParser(HTMLParser):
    """Collects tables (caption and cell text per row), images and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"id": attrs.get("id"), "caption": "", "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "caption"):
            self._text = []
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "a":
            self.links.append(attrs.get("href", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._text or []))
            self._text = None
        elif tag == "caption":
            self.tables[-1]["caption"] = "".join(self._text or [])
            self._text = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


@pytest.fixture
def written(tmp_path):
    results = tmp_path / "results"
    two_dataset_results(results)
    report = build_report(load_rows(results), results)
    paths = write_report(report, tmp_path / "out")
    return report, tmp_path / "out", paths


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_every_expected_file_is_written(written):
    _, out, paths = written
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "cifar10.md",
            "cifar10.csv",
            "stl10.md",
            "stl10.csv",
            "accuracy_cifar10.png",
            "accuracy_stl10.png",
            "loss_cifar10.png",
            "report.md",
            "report.html",
        ]
    )
    assert all((out / name).is_file() for name in names)


def test_markdown_tables_have_one_row_per_backbone_setting(written):
    _, out, _ = written
    cifar = _table_lines((out / "cifar10.md").read_text())
    assert len(cifar) == 2 + 2  # header, separator, resnet18, vit_small
    assert cifar[0].count("|") == cifar[2].count("|") == cifar[3].count("|")
    resnet = next(line for line in cifar if line.startswith("| resnet18 |"))
    assert "81.00 ± 1.41" in resnet and "+50.50" in resnet  # BYOL kNN, gain over random
    assert "86.9 (knn k=200 t=0.1, 200 ep) [1]" in resnet
    text = (out / "cifar10.md").read_text()
    assert "1. resnet18 (cifar stem) on cifar10, knn k=200 t=0.1, 200 epochs, batch 128" in text
    assert "k=200 neighbours, votes weighted by exp(sim/0.1)" in text  # protocol statement
    stl = _table_lines((out / "stl10.md").read_text())
    assert len(stl) == 3 and "| resnet50 |" in stl[2]
    combined = _table_lines((out / "report.md").read_text())
    assert len(combined) == len(cifar) + len(stl)


def test_csv_columns_and_values(written):
    _, out, _ = written
    frame = pd.read_csv(out / "cifar10.csv")
    for column in (
        "dataset",
        "backbone",
        "augmentation",
        "epochs",
        "protocol",
        "byol_top1_mean",
        "byol_top1_std",
        "byol_n_seeds",
        "random_top1_mean",
        "random_top1_std",
        "random_n_seeds",
        "gain_top1",
        "ref_top1",
        "ref_protocol",
        "ref_epochs",
        "ref_batch_size",
        "ref_source",
        "ref_caveat",
    ):
        assert column in frame.columns, column
    assert len(frame) == 3  # resnet18 knn + linear, vit_small knn
    knn = frame[(frame["backbone"] == "resnet18") & (frame["protocol"] == "knn")].iloc[0]
    assert knn["byol_top1_mean"] == pytest.approx(81.0)
    assert knn["byol_top1_std"] == pytest.approx(1.4142, abs=1e-4)
    assert knn["byol_n_seeds"] == 2 and knn["gain_top1"] == pytest.approx(50.5)
    assert knn["ref_top1"] == pytest.approx(86.9) and knn["ref_epochs"] == 200
    linear = frame[(frame["backbone"] == "resnet18") & (frame["protocol"] == "linear")].iloc[0]
    assert pd.isna(linear["ref_top1"])  # only online heads are published: none beside a probe
    stl = pd.read_csv(out / "stl10.csv")
    assert stl["ref_top1"].isna().all()  # no published stl10 result


def test_html_contains_each_table_and_inlines_each_plot(written):
    report, out, paths = written
    page = (out / "report.html").read_text()
    parser = PageParser()
    parser.feed(page)
    captions = [t["caption"] for t in parser.tables]
    assert captions == ["cifar10: top-1 accuracy (%)", "stl10: top-1 accuracy (%)"]
    md_rows = {entry.dataset: len(entry.display) for entry in report.tables}
    for table, dataset in zip(parser.tables, ("cifar10", "stl10"), strict=True):
        assert len(table["rows"]) == md_rows[dataset] + 1  # header row
        assert table["rows"][0][0] == "backbone"
    assert [r[0] for r in parser.tables[0]["rows"][1:]] == ["resnet18", "vit_small"]
    pngs = sorted(p.name for p in paths if p.suffix == ".png")
    assert sorted(img["data-file"] for img in parser.images) == pngs
    for img in parser.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        inline = base64.b64decode(img["src"][len(prefix) :])
        assert inline == (out / img["data-file"]).read_bytes()
        assert inline.startswith(PNG_SIGNATURE) and len(inline) > 1000
        assert img["data-file"] in parser.links
    assert "exp(sim/0.1)" in page and "held-out 10%" in page and "random initialisation" in page


def test_html_escapes_text_from_results(tmp_path):
    results = tmp_path / "results"
    write_runs(
        results,
        [
            result_row("cifar10", "<script>alert(1)</script>", 0, "byol", "knn", 50.0),
            result_row("cifar10", "<script>alert(1)</script>", 0, "random", "knn", 10.0),
        ],
    )
    write_report(build_report(load_rows(results), results), tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_knn_curve_plot_when_logged_and_none_without_metrics(tmp_path):
    results = tmp_path / "results"
    two_dataset_results(results, with_metrics=False)
    report = build_report(load_rows(results), results)
    assert [p.name for p in report.plots] == ["accuracy_cifar10.png", "accuracy_stl10.png"]
    write_metrics(
        results,
        "stl10__resnet50__auto__s0__h",
        [
            {"step": 500, "epoch": 50, "loss": 2.0, "knn_top1": 40.0},
            {"step": 1000, "epoch": 100, "loss": 1.5, "knn_top1": 55.0},
        ],
    )
    names = [p.name for p in build_report(load_rows(results), results).plots]
    assert names == [
        "accuracy_cifar10.png",
        "accuracy_stl10.png",
        "loss_stl10.png",
        "knn_stl10.png",
    ]


def test_metrics_reader_skips_cut_lines_and_keeps_last_record_per_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 10, "loss": 3.0}, {"step": 20, "loss": 2.0}, {"step": 20, "loss": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 30, "lo')
    frame = read_metrics(path)
    assert frame["step"].tolist() == [10, 20] and frame["loss"].tolist() == [3.0, 1.0]


def test_curve_x_axis_is_in_epochs_and_run_dir_column_is_a_fallback(tmp_path):
    results = tmp_path / "results"
    elsewhere = tmp_path / "moved" / "cell"
    write_runs(
        results,
        [
            result_row(
                "cifar10",
                "resnet18",
                0,
                "byol",
                "knn",
                50.0,
                run_dir=str(elsewhere),
                epochs=10,
                steps=200,
            )
        ],
    )
    elsewhere.mkdir(parents=True)
    (elsewhere / "metrics.jsonl").write_text(json.dumps({"step": 100, "loss": 1.0}) + "\n")
    curves = training_curves(load_rows(results), results)
    assert len(curves) == 1 and curves[0].frame["epoch"].tolist() == [5.0]


def test_protocols_as_run_reads_protocol_details(tmp_path):
    results = tmp_path / "results"
    two_dataset_results(results, with_metrics=False)
    text = protocols_as_run(load_rows(results))
    assert text == (
        "As run here: kNN k=200, temperature 0.1; linear probe held-out fraction "
        "0.1, L2 chosen per run: 0.001."
    )


def test_file_slug_is_safe_and_distinct():
    assert file_slug("cifar10-mini") == "cifar10-mini"
    a, b = file_slug("imagefolder:/data/a b"), file_slug("imagefolder:/data/a-b")
    assert a != b and "/" not in a and ":" not in a and " " not in a


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("timestamp,cell_id\n", "has a header but no rows"),
    ],
)
def test_missing_or_empty_results_are_one_line_errors(tmp_path, content, message):
    if content is not None:
        (tmp_path / "runs.csv").write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_rows(tmp_path)
    assert "\n" not in str(info.value) and "byolbench run" in str(info.value)


def test_foreign_csv_names_missing_columns(tmp_path):
    (tmp_path / "runs.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="lacks columns"):
        load_rows(tmp_path)
