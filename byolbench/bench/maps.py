"""Embedding maps read back from run folders (``embedding_map.csv``, see
``byolbench.eval.embedding_map``) for the report: the first seed of each setting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from byolbench.bench.aggregate import latest_per_cell, normalise_rows
from byolbench.eval.embedding_map import MAP_FILE, read_embedding_map

MAX_SETTINGS = 4
BACKBONE_FILE = "backbone.json"

MapEntry = tuple[str, str, pd.DataFrame]


def _run_dir(results_dir: Path, row: pd.Series) -> Path | None:
    candidates = [Path(results_dir) / "runs" / str(row["cell_id"])]
    run_dir = row.get("run_dir")
    if isinstance(run_dir, str) and run_dir:
        candidates.append(Path(run_dir))
    return next((p for p in candidates if (p / MAP_FILE).is_file()), None)


def _class_names(folder: Path) -> list[str]:
    try:
        info = json.loads((folder / BACKBONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = info.get("class_names") if isinstance(info, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else []


def embedding_maps(
    rows: pd.DataFrame, results_dir: Path
) -> dict[str, tuple[list[MapEntry], list[str]]]:
    """Per pretraining dataset: ``([(setting label, method, map rows), ...], class names)``,
    one entry per setting (its lowest seed with a map), at most ``MAX_SETTINGS``."""
    if rows.empty:
        return {}
    cells = latest_per_cell(normalise_rows(rows))
    cells = cells[cells["source"] == "run"].drop_duplicates("cell_id", keep="last")
    out: dict[str, tuple[list[MapEntry], list[str]]] = {}
    seen: set[tuple[str, str]] = set()
    ordered = cells.sort_values(["dataset", "backbone", "config_group", "seed"], kind="stable")
    for _, row in ordered.iterrows():
        dataset, group = str(row["dataset"]), str(row["config_group"])
        if (dataset, group) in seen:
            continue
        folder = _run_dir(results_dir, row)
        found = read_embedding_map(folder / MAP_FILE) if folder is not None else None
        if found is None:
            continue
        entries, names = out.setdefault(dataset, ([], []))
        if len(entries) >= MAX_SETTINGS:
            continue
        seen.add((dataset, group))
        epochs = pd.to_numeric(row.get("epochs"), errors="coerce")
        label = f"{row['backbone']} / {row['augmentation']}"
        if epochs == epochs:
            label += f" / {float(epochs):g} ep"
        label += f" / seed {row['seed']}"
        entries.append((label, found[0], found[1]))
        if not names:
            names.extend(_class_names(folder))  # type: ignore[arg-type]
    return out
