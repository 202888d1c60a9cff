"""Report plots rendered to PNG bytes with matplotlib's Agg canvas (no pyplot, no display).

matplotlib is imported when a figure is drawn, so commands that never plot do not pay for it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from byolbench.bench.aggregate import (
    DISPLAY_LABELS,
    METHOD_LABELS,
    PROTOCOL_LABELS,
    comparison_records,
    headline_variants,
)
from byolbench.bench.curves import Curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CURVE_METRICS = {
    "loss": "BYOL loss",
    "knn_top1": "kNN top-1 (%)",
    "rankme": "RankMe of the online features",
}


@dataclass
class Plot:
    """One rendered figure.

    Attributes:
        name: File name (``*.png``).
        title: Caption.
        dataset: Dataset it shows.
        png: PNG bytes.
    """

    name: str
    title: str
    dataset: str
    png: bytes


def _figure(width: float, height: float) -> Figure:
    """A figure attached to an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


SETTING_COLUMNS = ["source", "config_group", "backbone", "augmentation", "epochs", "differs"]


def _setting_labels(settings: pd.DataFrame) -> list[str]:
    varied = settings[["augmentation", "epochs"]].drop_duplicates().shape[0] > 1
    labels = []
    for _, s in settings.iterrows():
        epochs = pd.to_numeric(s["epochs"], errors="coerce")
        extra = f"\n{s['augmentation']}, {epochs:g} ep" if varied else ""
        differs = f"\n{s['differs']}" if s["differs"] else ""
        source = f"\n({s['source']})" if s["source"] != "run" else ""
        labels.append(f"{s['backbone']}{extra}{differs}{source}")
    return labels


def _colour(methods: list[str], protocols: list[str], method: str, protocol: str) -> str:
    """BYOL and random share a colour per protocol (random is hatched); others get new ones."""
    block = max(0, methods.index(method) - 1)
    return f"C{(protocols.index(protocol) + len(protocols) * block) % 10}"


def accuracy_plot(summary: pd.DataFrame, dataset: str, name: str) -> Plot | None:
    """Grouped bars of top-1 per backbone setting and method/protocol, std over seeds as
    error bars; ``None`` when the dataset has no rows."""
    records = comparison_records(summary, dataset)
    if records.empty:
        return None
    records = headline_variants(records)
    records = records.assign(protocol=records["protocol"] + " " + records["variant"])
    settings = records[SETTING_COLUMNS].drop_duplicates()
    methods = [c[: -len("_top1_mean")] for c in records.columns if c.endswith("_top1_mean")]
    protocols = list(dict.fromkeys(records["protocol"]))
    series = [
        (m, p)
        for m in methods
        for p in protocols
        if records.loc[records["protocol"] == p, f"{m}_top1_mean"].notna().any()
    ]
    figure = _figure(max(5.0, 1.6 * len(settings) + 2.5), 4.0)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    top = 0.0
    for index, (method, protocol) in enumerate(series):
        means, stds = [], []
        for _, setting in settings.iterrows():
            hit = records[
                (records["config_group"] == setting["config_group"])
                & (records["source"] == setting["source"])
                & (records["protocol"] == protocol)
            ]
            mean = hit[f"{method}_top1_mean"].iloc[0] if not hit.empty else math.nan
            std = hit[f"{method}_top1_std"].iloc[0] if not hit.empty else math.nan
            means.append(mean)
            stds.append(0.0 if std != std else std)
            if mean == mean:
                top = max(top, mean + stds[-1])
        xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(settings))]
        base, _, variant = protocol.partition(" ")
        label = f"{DISPLAY_LABELS.get(method, method)} {PROTOCOL_LABELS.get(base, base)}"
        label = f"{label} {variant}" if variant and variant != "k=200" else label
        byol = method == "byol"
        axes.bar(
            xs,
            means,
            width,
            yerr=stds,
            capsize=3,
            label=label,
            color=_colour(methods, protocols, method, protocol),
            alpha=1.0 if byol else 0.45,
            hatch=None if byol else "//",
            edgecolor="black",
            linewidth=0.5,
        )
    axes.set_xticks(range(len(settings)), _setting_labels(settings))
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, min(100.0, top * 1.15 + 1) if top > 0 else 100.0)
    axes.set_title(f"{dataset}: top-1, mean ± std over seeds")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="y", alpha=0.3)
    title = f"{dataset}: top-1 accuracy per backbone (error bars: std over seeds)"
    return Plot(name, title, dataset, _png(figure))


def curve_plot(curves: Sequence[Curve], dataset: str, metric: str, name: str) -> Plot | None:
    """One line per run of ``metric`` (``loss`` or ``knn_top1``) over training epochs;
    ``None`` when no run of ``dataset`` logged it."""
    chosen = [
        c
        for c in curves
        if c.dataset == dataset and metric in c.frame and c.frame[metric].notna().any()
    ]
    if not chosen:
        return None
    figure = _figure(6.5, 4.0)
    axes = figure.add_subplot()
    colours: dict[str, str] = {}
    for curve in chosen:
        first = curve.setting not in colours
        colours.setdefault(curve.setting, f"C{len(colours) % 10}")
        frame = curve.frame[curve.frame[metric].notna()]  # records of other metrics: no gaps
        axes.plot(
            frame["epoch"],
            frame[metric],
            color=colours[curve.setting],
            alpha=0.8,
            linewidth=1.2,
            marker="o" if len(frame) <= 30 else None,  # a short run is still visible
            markersize=3,
            label=curve.setting if first else None,
        )
    ylabel = CURVE_METRICS.get(metric, metric)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.set_title(f"{dataset}: {ylabel} over training (one line per seed)")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    return Plot(name, f"{dataset}: {ylabel} over training", dataset, _png(figure))


def _curve_lines(axes: Axes, chosen: Sequence[Curve], metric: str, x: str) -> None:
    colours: dict[str, str] = {}
    for curve in chosen:
        frame = curve.frame[curve.frame[metric].notna()]
        first = curve.setting not in colours
        colours.setdefault(curve.setting, f"C{len(colours) % 10}")
        axes.plot(
            frame[x],
            frame[metric],
            color=colours[curve.setting],
            alpha=0.8,
            linewidth=1.2,
            marker="o" if len(frame) <= 30 else None,
            markersize=3,
            label=curve.setting if first else None,
        )


def quality_plot(curves: Sequence[Curve], dataset: str, name: str) -> Plot | None:
    """RankMe (label-free) and, when logged, kNN top-1 against optimizer steps, side by side;
    ``None`` when no run of ``dataset`` logged RankMe."""
    chosen = [
        c
        for c in curves
        if c.dataset == dataset and "rankme" in c.frame and c.frame["rankme"].notna().any()
    ]
    if not chosen:
        return None
    knn = [c for c in chosen if "knn_top1" in c.frame and c.frame["knn_top1"].notna().any()]
    figure = _figure(11.0 if knn else 6.5, 4.0)
    panels = [("rankme", chosen)] + ([("knn_top1", knn)] if knn else [])
    for index, (metric, runs) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        _curve_lines(axes, runs, metric, "step")
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(CURVE_METRICS[metric])
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(f"{dataset}: RankMe and kNN top-1 over pretraining (one line per seed)")
    title = f"{dataset}: RankMe (label-free) and kNN top-1 against steps"
    return Plot(name, title, dataset, _png(figure))


def embedding_map_plot(
    maps: Sequence[tuple[str, str, pd.DataFrame]],
    dataset: str,
    class_names: Sequence[str],
    name: str,
) -> Plot | None:
    """2-D maps of test features coloured by class: one row per setting, BYOL beside random.

    Args:
        maps: ``(setting label, map method, rows with method, x, y, label)`` per run.
        dataset: Dataset shown.
        class_names: Label names for the legend (indices when empty).
        name: File name.
    """
    if not maps:
        return None
    methods = [m for m in METHOD_LABELS if any((f["method"] == m).any() for _, _, f in maps)]
    methods += sorted({str(m) for _, _, f in maps for m in f["method"]} - set(methods))
    figure = _figure(4.0 * len(methods) + 1.5, 3.8 * len(maps))
    labels = sorted({int(v) for _, _, f in maps for v in f["label"]})
    colours = _class_colours(len(labels))
    for row, (setting, method_name, frame) in enumerate(maps):
        for col, method in enumerate(methods):
            axes = figure.add_subplot(len(maps), len(methods), row * len(methods) + col + 1)
            part = frame[frame["method"] == method]
            for i, label in enumerate(labels):
                points = part[part["label"] == label]
                text = class_names[label] if 0 <= label < len(class_names) else str(label)
                axes.scatter(points["x"], points["y"], s=4, color=colours[i], label=text)
            axes.set_xticks([])
            axes.set_yticks([])
            title = f"{METHOD_LABELS.get(method, method)} ({method_name})"
            axes.set_title(
                f"{setting}\n{title}" if len(maps) > 1 or col == 0 else title, fontsize=9
            )
    handles, texts = figure.axes[0].get_legend_handles_labels()
    if len(labels) <= 20:
        figure.legend(handles, texts, loc="center right", fontsize="small", markerscale=3)
    title = f"{dataset}: 2-D map of test features coloured by class, BYOL beside random init"
    return Plot(name, title, dataset, _png(figure))


def _class_colours(n: int) -> list[tuple[float, ...]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [tuple(cmap(i % cmap.N)) for i in range(n)]
