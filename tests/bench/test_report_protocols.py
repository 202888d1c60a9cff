"""Report features of the evaluation suite on hand-built rows: variants on request, RankMe,
transfer tables, the RankMe/kNN plot, embedding maps and protocol-matched references."""

import json

import pandas as pd
import pytest

from byolbench.bench.aggregate import aggregate, comparison_table
from byolbench.bench.plots import PNG_SIGNATURE
from byolbench.bench.report import build_report, load_rows, write_report
from byolbench.bench.report_tables import report_tables, tables_statement
from byolbench.bench.transfer_tables import transfer_tables
from byolbench.errors import ConfigError
from byolbench.eval import embedding_map
from tests.bench.fake_results import result_row, write_metrics, write_runs


def _knn(seed, method, k, top1, **extra):
    details = json.dumps({"k": k, "temperature": 0.1})
    return result_row(
        "cifar10",
        "resnet18",
        seed,
        method,
        "knn",
        top1,
        variant=f"k={k}",
        protocol_details=details,
        **extra,
    )


def _rows():
    rows = []
    for seed in (0, 1):
        for k, gain in ((20, 0.0), (200, 1.0)):
            rows.append(_knn(seed, "byol", k, 80.0 + gain + seed, rankme=30.0 + seed))
            rows.append(_knn(seed, "random", k, 30.0 + gain, rankme=8.0))
        for method, top1 in (("byol", 88.0), ("random", 20.0)):
            rows.append(result_row("cifar10", "resnet18", seed, method, "online-linear", top1))
        for ev, top1 in (("cifar100", 50.0), ("stl10", 60.0)):
            rows.append(_knn(seed, "byol", 200, top1 + seed, eval_dataset=ev))
            rows.append(_knn(seed, "random", 200, top1 - 30, eval_dataset=ev))
    return pd.DataFrame(rows)


def test_headline_knn_by_default_every_k_on_request():
    summary = aggregate(_rows())
    default = comparison_table(summary, "cifar10")
    assert "kNN BYOL" in default.columns and not any("k=20" in c for c in default.columns)
    assert default.loc[0, "kNN BYOL"] == "81.50 ± 0.71"  # k=200, not k=20
    every = comparison_table(summary, "cifar10", variants=True)
    assert {"kNN k=20 BYOL", "kNN k=200 BYOL"} <= set(every.columns)
    assert every.loc[0, "RankMe BYOL"] == "30.5" and every.loc[0, "RankMe random"] == "8.0"


def test_in_domain_tables_leave_transfer_rows_out_and_transfer_tables_show_them():
    rows = _rows()
    (cifar,) = report_tables(rows)
    assert cifar.display.loc[0, "kNN BYOL"] == "81.50 ± 0.71"
    (knn,) = transfer_tables(aggregate(rows))
    assert knn.protocol == "knn" and knn.variant == "k=200"
    row = knn.display.iloc[0]
    assert row["pretrained on"] == "cifar10" and row["backbone"] == "resnet18"
    assert row["cifar100 BYOL"] == "50.50 ± 0.71" and row["cifar100 random"] == "20.00 ± 0.00"
    assert row["stl10 gain"] == "+30.50"
    assert set(knn.data["eval_dataset"]) == {"cifar100", "stl10"}


def test_online_linear_rows_get_solo_learns_online_numbers():
    (cifar,) = report_tables(_rows())
    data = cifar.data[cifar.data["variant"].isin(["", "k=200"])].set_index("protocol")
    assert data.loc["online-linear", "ref_protocol"] == "online linear"
    assert data.loc["online-linear", "ref_top1"] == pytest.approx(92.58)
    assert "fitted after pretraining" not in data.loc["online-linear", "ref_caveat"]
    assert "trained online during pretraining" not in data.loc["online-linear", "ref_caveat"]
    assert data.loc["knn", "ref_protocol"].startswith("knn")


def test_protocol_statement_names_only_what_the_tables_show():
    tables = report_tables(_rows())
    statement = " ".join(tables_statement(tables, transfer_tables(aggregate(_rows()))))
    assert "Online linear:" in statement and "kNN:" in statement and "RankMe:" in statement
    assert "Transfer:" in statement and "Fine-tune:" not in statement
    assert "Few-shot:" not in statement and "random:" in statement


def test_quality_plot_and_embedding_map_in_the_report(tmp_path):
    results = tmp_path / "results"
    rows = [r for r in _rows().to_dict("records")]
    write_runs(results, rows)
    cell = rows[0]["cell_id"]
    write_metrics(
        results,
        cell,
        [{"step": s, "epoch": s // 10, "loss": 3.0, "rankme": 5.0 + s} for s in (10, 20, 30)]
        + [{"step": 30, "epoch": 3, "knn_top1": 40.0}],
    )
    frame = pd.DataFrame(
        {
            "method": ["byol"] * 4 + ["random"] * 4,
            "x": range(8),
            "y": range(8),
            "label": [0, 1, 0, 1] * 2,
        }
    )
    (results / "runs" / cell / "embedding_map.csv").write_text(
        "# tsne\n" + frame.to_csv(index=False)
    )
    report = build_report(load_rows(results), results)
    names = {p.name for p in report.plots}
    assert {"quality_cifar10.png", "embedding_cifar10.png"} <= names
    paths = write_report(report, tmp_path / "out")
    quality = next(p for p in paths if p.name == "quality_cifar10.png")
    assert quality.read_bytes().startswith(PNG_SIGNATURE)
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "(embedding_cifar10.png)" in markdown and "## Transfer" in markdown
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'data-file="embedding_cifar10.png"' in html


def test_missing_map_library_is_a_one_line_message(monkeypatch):
    monkeypatch.setattr(embedding_map, "library_available", lambda method: False)
    with pytest.raises(ConfigError) as info:
        embedding_map.check_map_method("umap")
    text = str(info.value)
    assert "umap-learn" in text and "pip install 'byolbench[maps]'" in text and "\n" not in text
    with pytest.raises(ConfigError) as info:
        embedding_map.check_map_method("pca")
    assert "valid: off, umap, tsne" in str(info.value)
    embedding_map.check_map_method("off")  # never needs a library


def test_tsne_map_is_written_read_back_and_drawn(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn (the maps extra) is not installed")
    import torch

    from byolbench.bench.plots import embedding_map_plot

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    features = {
        "byol": torch.randn(4, 32, generator=generator)[labels] * 3 + torch.randn(40, 32),
        "random": torch.randn(40, 32, generator=generator),
    }
    path = embedding_map.write_embedding_maps(
        tmp_path / "embedding_map.csv", features, labels, "tsne", max_samples=30
    )
    method, frame = embedding_map.read_embedding_map(path)
    assert method == "tsne" and len(frame) == 60 and set(frame["method"]) == {"byol", "random"}
    assert (
        frame[frame["method"] == "byol"]["label"].values
        == frame[frame["method"] == "random"]["label"].values
    ).all()
    plot = embedding_map_plot([("resnet18", method, frame)], "d", ["a", "b", "c", "d"], "m.png")
    assert plot is not None and plot.png.startswith(PNG_SIGNATURE)


def test_the_runs_own_headline_k_wins_over_k200():
    rows = []
    for k in (20, 200):
        details = json.dumps(
            {"k": k, "temperature": 0.1, **({"headline": True} if k == 20 else {})}
        )
        for method, top1 in (("byol", 60.0 + k / 100), ("random", 20.0)):
            rows.append(
                result_row(
                    "cifar10",
                    "resnet18",
                    0,
                    method,
                    "knn",
                    top1,
                    variant=f"k={k}",
                    protocol_details=details,
                )
            )
    table = comparison_table(aggregate(pd.DataFrame(rows)), "cifar10")
    assert table.loc[0, "kNN BYOL"] == "60.20"  # eval.knn_k=20, not the swept k=200
