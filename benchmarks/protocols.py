"""What each evaluation protocol costs: the quick preset with every protocol, timed.

Runs `byolbench run`'s default matrix (the quick preset: resnet10t on the embedded
cifar10-mini, 4 epochs) with all protocols (knn sweep, linear, few-shot, fine-tune, online
linear), then prints and writes one table: per protocol and variant, BYOL and random-init
top-1 and the seconds each spent (the protocol's own work plus the feature extraction it
needs; an online probe's seconds are its updates during pretraining for BYOL, and the replay
on the frozen backbone for random). The pretraining time and the cell's whole evaluation time
are printed beside it. Results and the full report go to ``results/protocols/``.

    python benchmarks/protocols.py                       # quick preset, all protocols (CPU)
    python benchmarks/protocols.py --embedding-map umap  # also time the 2-D map
    python benchmarks/protocols.py --tiny                # seconds: a check of the script

Rerunning skips the finished cell and rebuilds the table from its rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from byolbench.augment.transforms import EvalTransform
from byolbench.bench.aggregate import to_markdown
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.presets import preset_overrides
from byolbench.bench.report import build_report, write_report
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.bench.store import ResultsStore
from byolbench.config import PROTOCOL_CHOICES, parse_overrides
from byolbench.eval.embedding_map import check_map_method, embed_2d, map_subset
from byolbench.eval.features import extract_features
from byolbench.export import open_source

ALL_PROTOCOLS = ",".join(PROTOCOL_CHOICES)
DEFAULT_RESULTS = Path("results/protocols")
TINY_SETS = [
    "model.projector_hidden_dim=32",
    "model.predictor_hidden_dim=32",
    "model.projector_dim=16",
    "eval.linear_max_iter=20",
    "eval.finetune_epochs=1",
    "eval.finetune_batch_size=16",
    "eval.fewshot_fractions=0.25,0.5",
    "eval.embedding_map_samples=40",
]


def tiny_folder(root: Path, classes: int = 4, train: int = 12, test: int = 6) -> Path:
    """A 16 px image folder whose mean colour depends on the class (for ``--tiny``)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        for label in range(classes):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 100, (16, 16, 3)) + 40 * label
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def _spec(args: argparse.Namespace, scratch: Path) -> MatrixSpec:
    sets = [f"eval.protocols={ALL_PROTOCOLS}", *args.set]
    if args.embedding_map != "off":
        sets.append(f"eval.embedding_map={args.embedding_map}")
    if args.tiny:
        data = tiny_folder(scratch / "tiny")
        spec = MatrixSpec(["test_resnet"], [f"imagefolder:{data}"], preset="quick")
        spec.cli = {"train.epochs": 2, "train.batch_size": 8}
        sets = [*TINY_SETS, *sets]
    else:
        quick = preset_overrides("quick")
        spec = MatrixSpec([quick["model.backbone"]], [quick["data.dataset"]], preset="quick")
    spec.sets = parse_overrides(sets)
    return spec


def protocol_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per in-domain (protocol, variant): top-1 and seconds of BYOL and random."""
    rows = rows.assign(variant=rows["variant"].fillna(""))
    own = rows[rows["eval_dataset"].fillna(rows["dataset"]) == rows["dataset"]]
    out = []
    for (protocol, variant), part in own.groupby(["protocol", "variant"], sort=False):
        line: dict[str, object] = {"protocol": protocol, "variant": variant}
        for method in ("byol", "random"):
            hit = part[part["method"] == method]
            details = json.loads(hit["protocol_details"].iloc[0]) if not hit.empty else {}
            line[f"{method} top-1"] = round(float(hit["top1"].iloc[0]), 2) if len(hit) else None
            line[f"{method} seconds"] = details.get("seconds")
        out.append(line)
    return pd.DataFrame(out)


def time_embedding_map(run_dir: Path, method: str, samples: int, cpu: bool) -> float:
    """Seconds to map ``samples`` test features of the run's backbone (one method's map)."""
    from byolbench.data import load_dataset

    source = open_source(run_dir)
    config = source.run_config()
    assert config is not None
    splits = load_dataset(config.data.dataset, config.data.data_dir or None, False, 0)
    device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
    transform = EvalTransform(source.spec.image_size, source.mean, source.std, source.crop_pct)
    subset = map_subset(len(splits.test), samples)
    features = extract_features(
        source.load().to(device), splits.test.images[subset], transform, device
    )
    start = time.perf_counter()
    embed_2d(features, method)
    return time.perf_counter() - start


def main() -> None:
    """Runs the cell, prints the table and writes ``protocols.md`` / ``protocols.csv``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        help="default results/protocols (with --tiny: a temporary folder, removed)",
    )
    parser.add_argument("--embedding-map", default="off", help="off, umap or tsne")
    parser.add_argument("--tiny", action="store_true", help="seconds-long check of the script")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    parser.add_argument("--set", action="append", default=[], help="dotted override")
    args = parser.parse_args()
    check_map_method(args.embedding_map)
    scratch = Path(tempfile.mkdtemp(prefix="byolbench-protocols-"))
    results = args.results_dir or (scratch / "results" if args.tiny else DEFAULT_RESULTS)
    try:
        cells = expand(_spec(args, scratch))
        start = time.perf_counter()
        (outcome,) = run_matrix(cells, RunOptions(results_dir=results, cpu=args.cpu))
        wall = time.perf_counter() - start
        if outcome.status not in ("done", "skipped"):
            raise SystemExit(f"the cell failed: {outcome.error}")
        store = ResultsStore(results)
        cell = outcome.cell
        rows = pd.DataFrame(store.cell_rows(cell.cell_id, cell.config.config_hash()) or [])
        rows["protocol_details"] = rows["protocol_details"].map(
            lambda d: d if isinstance(d, str) else json.dumps(d)
        )
        table = protocol_table(rows)
        first = rows.iloc[0]
        lines = [
            f"cell {outcome.cell.cell_id} ({outcome.status}; this call {wall:.0f} s)",
            f"pretraining: {float(first['pretrain_seconds']):.1f} s "
            f"({int(first['steps'])} steps, {float(first['images_per_second']):.1f} img/s, "
            "online probe and RankMe monitor included)",
            f"evaluation of the cell (every protocol, BYOL and random): "
            f"{float(first['eval_seconds']):.1f} s on {first['device']}",
        ]
        if args.embedding_map != "off" and outcome.run_dir is not None:
            samples = outcome.cell.config.eval.embedding_map_samples
            seconds = time_embedding_map(outcome.run_dir, args.embedding_map, samples, args.cpu)
            lines.append(
                f"embedding map ({args.embedding_map}, {samples} test images): {seconds:.1f} s "
                "per method"
            )
        text = "\n".join(lines) + "\n\n" + to_markdown(table.fillna("-"))
        print(text)
        results.mkdir(parents=True, exist_ok=True)
        table.to_csv(results / "protocols.csv", index=False)
        command = "python benchmarks/protocols.py" + (" --tiny" if args.tiny else "")
        (results / "protocols.md").write_text(f"    {command}\n\n{text}", encoding="utf-8")
        report = build_report(ResultsStore(results).read(), results)
        write_report(report, results / "report")
        if results != scratch / "results":
            print(f"wrote {results / 'protocols.md'}, protocols.csv and report/")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
