"""Where the time-to-accuracy targets stand, from results already saved (nothing trains).

Reads the default run's rows (``byolbench run --seeds 0,1,2`` writes them to
``results/runs.csv``) and the ten-minute race's saved results (``race.py --seed N``, one
folder per seed), keeps only those of the quick preset as it is now (by configuration hash
and recipe key, so rows of an earlier preset or of a lever never count), and prints one table:

* the default run's kNN gain over the same net at random init (target: at least +15 points),
* its linear-probe gain (at least +8),
* byolbench's lead over Lightly's documented loop in the race at ten minutes, in kNN gain over
  each one's own random init (at least +10), with the lead in kNN top-1 beside it.

    python benchmarks/targets.py
    python benchmarks/targets.py --results results --race benchmarks/results \
        --race benchmarks/results/seed1 --race benchmarks/results/seed2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

KNN_GAIN_TARGET = 15.0
LINEAR_GAIN_TARGET = 8.0
RACE_LEAD_TARGET = 10.0
RACE_BUDGET = "10m"
DOCS = "lightly-docs"


@dataclass
class SeedFigures:
    """One seed's top-1 of the trained net and of the same net at random init."""

    seed: int
    trained: float
    random: float


def _is_headline(details: object) -> bool:
    """Whether a kNN row's ``protocol_details`` mark it as the headline k."""
    return isinstance(details, str) and bool(json.loads(details).get("headline"))


def default_run_figures(runs_csv: Path, protocol: str) -> list[SeedFigures]:
    """Per seed, the headline top-1 of the current quick preset's cell and of its random net.

    ``protocol``: ``knn`` (the headline k, 200) or ``linear``. Seeds whose cell is missing
    a row are left out.
    """
    import pandas as pd

    from byolbench.bench.matrix import MatrixSpec, expand
    from byolbench.bench.presets import preset_overrides

    rows = pd.read_csv(runs_csv)
    seeds = sorted({int(s) for s in rows["seed"].dropna()})
    quick = preset_overrides("quick")
    spec = MatrixSpec(
        [quick["model.backbone"]], [quick["data.dataset"]], seeds=seeds, preset="quick"
    )
    figures = []
    for cell in expand(spec) if seeds else []:
        mine = rows[(rows["config_hash"] == cell.config.config_hash())]
        mine = mine[mine["protocol"] == protocol]
        if protocol == "knn":
            mine = mine[mine["protocol_details"].map(_is_headline).astype(bool)]
        top1 = {m: mine[mine["method"] == m]["top1"].tolist() for m in ("byol", "random")}
        if top1["byol"] and top1["random"]:
            figures.append(
                SeedFigures(cell.config.train.seed, top1["byol"][-1], top1["random"][-1])
            )
    return figures


def race_figures(folders: list[Path], dataset: str) -> tuple[list[SeedFigures], list[SeedFigures]]:
    """Per seed, (byolbench's quick preset, Lightly's documented loop) at ``RACE_BUDGET``.

    A seed's byolbench figure is the mean over its saved runs of the current preset (a
    ``--variant`` whose settings are the preset's has its recipe key); a seed needs both.
    """
    from race import RESULT_NAME, recipe_key, table_rows

    from byolbench.bench.report_tables import file_slug

    ours: list[SeedFigures] = []
    theirs: list[SeedFigures] = []
    for folder in folders:
        cache = folder / f"race-{file_slug(dataset)}"
        names = cache.glob("*.json") if cache.is_dir() else []
        for seed in sorted({int(m["seed"]) for p in names if (m := RESULT_NAME.match(p.name))}):
            rows = [r for r in table_rows(cache, seed) if r["budget"] == RACE_BUDGET]
            key = recipe_key("byolbench", RACE_BUDGET, seed, {}, 0)
            mine = [
                r
                for r in rows
                if r["contender"].startswith("byolbench") and r.get("recipe_key") == key
            ]
            docs_key = recipe_key(DOCS, RACE_BUDGET, seed, {}, 0)
            docs = [r for r in rows if r["contender"] == DOCS and r.get("recipe_key") == docs_key]
            if mine and docs:
                trained = statistics.mean(r["knn_top1"] for r in mine)
                ours.append(SeedFigures(seed, trained, mine[0]["random_top1"]))
                theirs.append(SeedFigures(seed, docs[0]["knn_top1"], docs[0]["random_top1"]))
    return ours, theirs


def mean_gain(figures: list[SeedFigures]) -> float:
    """Mean trained top-1 minus mean random-init top-1 over the seeds."""
    return statistics.mean(f.trained - f.random for f in figures)


def _seeds(figures: list[SeedFigures]) -> str:
    return ", ".join(str(f.seed) for f in figures)


def _row(what: str, goal: float, figures: list[SeedFigures], value: float, detail: str) -> str:
    """A table row: the measured ``value`` against ``goal`` (``figures`` empty: not measured)."""
    if not figures:
        return f"| {what} | >= +{goal:g} | not measured | | |"
    met = "yes" if value >= goal else f"no ({value - goal:+.2f})"
    return f"| {what} | >= +{goal:g} | **{value:+.2f}** ({detail}) | {_seeds(figures)} | {met} |"


def _gain_row(what: str, goal: float, figures: list[SeedFigures]) -> str:
    if not figures:
        return _row(what, goal, figures, 0.0, "")
    trained = statistics.mean(f.trained for f in figures)
    random = statistics.mean(f.random for f in figures)
    detail = f"{trained:.2f} against {random:.2f} at random init"
    return _row(what, goal, figures, mean_gain(figures), detail)


def _race_row(ours: list[SeedFigures], theirs: list[SeedFigures]) -> str:
    what = f"race at {RACE_BUDGET}: lead over {DOCS} in kNN gain"
    if not ours:
        return _row(what, RACE_LEAD_TARGET, ours, 0.0, "")
    top1_lead = statistics.mean(o.trained - t.trained for o, t in zip(ours, theirs, strict=True))
    detail = (
        f"gain {mean_gain(ours):+.2f} against {mean_gain(theirs):+.2f}; "
        f"lead in kNN top-1 {top1_lead:+.2f}"
    )
    return _row(what, RACE_LEAD_TARGET, ours, mean_gain(ours) - mean_gain(theirs), detail)


def table(
    knn: list[SeedFigures],
    linear: list[SeedFigures],
    ours: list[SeedFigures],
    theirs: list[SeedFigures],
) -> str:
    """The targets as a Markdown table, each seed's figures under it."""
    lines = [
        "| target | goal | measured | seeds | met |",
        "|---|---|---|---|---|",
        _gain_row("default run: kNN gain (k=200)", KNN_GAIN_TARGET, knn),
        _gain_row("default run: linear-probe gain", LINEAR_GAIN_TARGET, linear),
        _race_row(ours, theirs),
        "",
    ]
    named = (("kNN", knn), ("linear", linear), ("race byolbench", ours), (f"race {DOCS}", theirs))
    for name, figures in named:
        per_seed = ", ".join(f"s{f.seed} {f.trained:.2f}/{f.random:.2f}" for f in figures)
        lines.append(f"- {name} (trained/random): {per_seed or 'none'}")
    return "\n".join(lines)


def main() -> None:
    """Prints the targets table; exit status 2 when a named file or folder does not exist."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="byolbench run's folder"
    )
    parser.add_argument(
        "--race",
        type=Path,
        action="append",
        help="a race.py --out folder (repeatable; default: benchmarks/results, its seed* folders)",
    )
    parser.add_argument("--dataset", default="cifar10-mini")
    args = parser.parse_args()
    folders = args.race or [HERE / "results", *sorted((HERE / "results").glob("seed*"))]
    runs_csv = args.results / "runs.csv"
    missing = [str(p) for p in (runs_csv, *folders) if not p.exists()]
    if missing:
        print(
            f"error: {', '.join(missing)} not found; run `byolbench run --seeds 0,1,2` and "
            "`python benchmarks/race.py --budgets 10m --seed N`, or name the folders with "
            "--results and --race",
            file=sys.stderr,
        )
        sys.exit(2)
    from bench_lib.measure import cpu_kind

    ours, theirs = race_figures(folders, args.dataset)
    print(f"this machine: {cpu_kind()}; figures as saved (the machine that made them may differ)")
    print(
        table(
            default_run_figures(runs_csv, "knn"),
            default_run_figures(runs_csv, "linear"),
            ours,
            theirs,
        )
    )


if __name__ == "__main__":
    main()
