"""Time to accuracy: byolbench against BYOL written with Lightly SSL, at equal wall-clock budgets.

Contenders, each trained for every budget on the same images, then evaluated with the same
kNN protocol (k=200, T=0.1, cosine on L2-normalised fp32 features of the ONLINE backbone; the
training split is the bank, the test split is classified), each beside the same network at
random initialisation:

* ``byolbench``: ``byolbench run``'s quick recipe through byolbench's own trainer
  (``train.time_budget``: schedules fitted to the budget; checkpoints at epoch ends);
* ``lightly-engine``: Lightly's documented loop (its heads, loss, momentum update, PIL
  transforms in a DataLoader worker) given byolbench's recipe (backbone, batch, precision,
  optimizer and schedule, tau, crops) and the same budget planning: the gap to ``byolbench``
  is what the engine buys;
* ``lightly-docs``: the loop exactly as Lightly's docs show it (ResNet-18 with the CIFAR stem,
  SGD 0.06, batch 256, fp32, crops >= 8%): the gap to ``lightly-engine`` is what the recipe
  buys.

Every (contender, budget) run is a fresh process; its result is saved as soon as it is done,
so an interrupted race resumes where it stopped. Writes ``race-<dataset>.csv``, ``.md`` and a
plot of kNN against minutes into ``--out``.

    pip install -e ".[bench]"
    python benchmarks/race.py --dataset cifar10-mini --budgets 5m,10m,20m
    python benchmarks/race.py --dataset cifar10 --data-dir ~/.cache/byolbench-dev --budgets 10m,30m
    python benchmarks/race.py --table-only                   # the table of what has run
    python benchmarks/race.py --budgets 10m --contenders byolbench --variant progressive \
        --set augment.progressive_min_size=16               # a recipe lever, raced apart

The table and plot show every result saved in ``--out`` for the dataset and seed, whichever
contenders and variants this invocation trains, so racing one more lever keeps the earlier rows.
Results are cached per ``--out``: give each machine kind its own folder so their rows do not
mix.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_lib.isolated import run_isolated  # noqa: E402

CONTENDERS = ("byolbench", "lightly-engine", "lightly-docs")
# LightlyRecipe fields added after results were saved: at these values they stay out of the
# recipe key (as HASHED_ONLY_WHEN_SET does for byolbench's configuration hash), so saved
# results keep their keys
KEYED_ONLY_WHEN_SET: dict[str, Any] = {"tau_final": 1.0}
KNN_K = 200
KNN_TEMPERATURE = 0.1
DEFAULT_STEM = "auto"
# A saved result: <label>-<budget>-s<seed>.json
RESULT_NAME = re.compile(r"^(?P<label>.+)-(?P<budget>[^-]+)-s(?P<seed>\d+)\.json$")


def _splits(args: dict[str, Any]) -> Any:
    from byolbench.data import load_dataset

    return load_dataset(args["dataset"], args["data_dir"] or None, False, 0)


def quick_config(budget: str, seed: int, overrides: dict[str, str] | None = None) -> Any:
    """byolbench's quick recipe with a time budget (and ``--set`` overrides, which win)."""
    from byolbench.bench.presets import preset_overrides
    from byolbench.config import RunConfig

    settings = {**preset_overrides("quick"), "train.time_budget": budget, "train.seed": seed}
    return RunConfig().replace({**settings, **(overrides or {})}, "--set").validate()


def _views(config: Any, image_size: int) -> str:
    """The recipe label's note on the pretraining views (their side, progressive resizing and
    whether both go through a network in one pass)."""
    from byolbench.train.trainer import view_side_for

    side = view_side_for(config.augment.view_size_fraction, image_size)
    start = config.augment.progressive_min_size
    sized = f", {side} px views of {image_size} px images" if side < image_size else ""
    growing = f", views growing from {start} px" if start else ""
    return sized + growing + (", both views in one pass" if config.byol.fuse_views else "")


def engine_recipe(steps_per_epoch: int) -> Any:
    """Lightly's loop given byolbench's quick recipe, in the precision byolbench's trainer
    resolves on this machine (bf16 only where the CPU computes it natively)."""
    from bench_lib.race_lightly import LightlyRecipe

    from byolbench.train.precision import resolve_mixed_precision

    config = quick_config("1m", 0)
    precision = resolve_mixed_precision(config.train.mixed_precision, "cpu")
    return LightlyRecipe(
        backbone=config.model.backbone,
        channels=config.model.channels,
        batch_size=config.train.batch_size,
        optimizer=config.optim.name,
        lr=config.optim.lr,
        weight_decay=config.optim.weight_decay,
        warmup_steps=int(round(config.optim.warmup_epochs * steps_per_epoch)),
        tau_base=config.byol.tau_base,
        tau_final=config.byol.tau_final,
        bf16=precision == "bf16",
        crop_min_scale=config.augment.crop_min_scale,
        projector_hidden_dim=config.model.projector_hidden_dim,
        projector_dim=config.model.projector_dim,
    )


def _knn(backbone: Any, splits: Any) -> tuple[float, float]:
    """kNN top-1 of ``backbone`` (fp32 features) and the seconds it took."""
    import torch

    from byolbench.augment.transforms import EvalTransform
    from byolbench.eval.features import extract_features
    from byolbench.eval.knn import knn_classify

    start = time.perf_counter()
    transform = EvalTransform(
        splits.info.training_size, splits.info.mean, splits.info.std, splits.info.crop_pct
    )
    backbone = backbone.float().to(memory_format=torch.contiguous_format)
    train = extract_features(backbone, splits.train.images, transform)
    test = extract_features(backbone, splits.test.images, transform)
    result = knn_classify(
        train,
        splits.train.labels,
        test,
        splits.test.labels,
        splits.info.num_classes,
        KNN_K,
        KNN_TEMPERATURE,
    )
    return result.top1, time.perf_counter() - start


def _byolbench_worker(args: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    from byolbench.train.accel import make_accelerator
    from byolbench.train.trainer import Trainer

    splits = _splits(args)
    overrides = args.get("overrides") or {}
    config = quick_config(args["budget"], args["seed"], overrides)
    accelerator = make_accelerator(config.train.mixed_precision)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = Trainer(config, splits, accelerator, Path(run_dir)).fit()
        seconds = time.perf_counter() - start
    top1, eval_seconds = _knn(result.model.backbone, splits)
    return {
        "backbone": config.model.backbone,
        "small_image_stem": config.model.small_image_stem,
        "channels": list(config.model.channels),
        "stem_width": config.model.stem_width,
        "recipe": f"quick preset ({config.optim.name}, batch {config.train.batch_size}, "
        f"{'fp32' if accelerator.mixed_precision == 'no' else accelerator.mixed_precision}"
        + _views(config, int(splits.test.images.shape[-1]))
        + ")"
        + "".join(f", {key}={value}" for key, value in overrides.items()),
        "steps": result.state.step,
        "pretrain_seconds": seconds,
        "images_per_second": result.images_per_second,
        "knn_top1": top1,
        "eval_seconds": eval_seconds,
    }


def _lightly_worker(args: dict[str, Any]) -> dict[str, Any]:
    from bench_lib.race_lightly import LightlyRecipe, train_lightly

    from byolbench.train.budget import parse_duration

    splits = _splits(args)
    images = splits.pretrain.images
    if args["contender"] == "lightly-engine":
        recipe = engine_recipe(len(images) // quick_config("1m", 0).train.batch_size)
    else:
        recipe = LightlyRecipe()
    start = time.perf_counter()
    backbone, info = train_lightly(
        images,
        splits.info.mean,
        splits.info.std,
        recipe,
        parse_duration(args["budget"]),
        args["seed"],
    )
    seconds = time.perf_counter() - start
    top1, eval_seconds = _knn(backbone, splits)
    return {
        "backbone": recipe.backbone,
        "channels": list(recipe.channels),
        "recipe": f"{recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, "
        f"{'bf16' if recipe.bf16 else 'fp32'}",
        "steps": info["steps"],
        "pretrain_seconds": seconds,
        "images_per_second": info["images_per_second"],
        "knn_top1": top1,
        "eval_seconds": eval_seconds,
    }


def _random_worker(args: dict[str, Any]) -> dict[str, Any]:
    import torch

    from byolbench.models.backbone import create_backbone

    splits = _splits(args)
    torch.manual_seed(args["seed"])
    options = net_options(args)
    stem = options.pop("small_image_stem", DEFAULT_STEM)
    backbone = create_backbone(
        args["backbone"], int(splits.test.images.shape[-1]), small_image_stem=stem, **options
    )
    top1, eval_seconds = _knn(backbone, splits)
    return {
        "backbone": args["backbone"],
        "small_image_stem": stem,
        "channels": list(args.get("channels") or []),
        "stem_width": args.get("stem_width") or 0,
        "knn_top1": top1,
        "eval_seconds": eval_seconds,
    }


def net_options(result: dict[str, Any]) -> dict[str, Any]:
    """What a lever changed in the network ``result`` trained beyond its timm name: the stem
    (``model.small_image_stem``, ``model.stem_width``) and the stage widths
    (``model.channels``)."""
    options: dict[str, Any] = {}
    stem = result.get("small_image_stem", DEFAULT_STEM)
    if stem != DEFAULT_STEM:
        options["small_image_stem"] = stem
    if result.get("channels"):
        options["channels"] = list(result["channels"])
    if result.get("stem_width"):
        options["stem_width"] = result["stem_width"]
    return options


def random_init_name(result: dict[str, Any], seed: int) -> str:
    """File name of the random-init kNN of the net ``result`` trained: its backbone and
    whatever a lever changed in it (``net_options``)."""
    options = net_options(result)
    net = result["backbone"]
    if "small_image_stem" in options:
        net += f"-stem-{options['small_image_stem']}"
    if "channels" in options:
        net += "-c" + "-".join(str(c) for c in options["channels"])
    if "stem_width" in options:
        net += f"-sw{options['stem_width']}"
    return f"random-{net}-s{seed}.json"


def net_label(row: dict[str, Any]) -> str:
    """The backbone column: the timm name, with what a lever changed in the network."""
    options = net_options(row)
    changes = []
    if "small_image_stem" in options:
        changes.append(f"stem {options['small_image_stem']}")
    if "channels" in options:
        changes.append("channels " + ",".join(str(c) for c in options["channels"]))
    if "stem_width" in options:
        changes.append(f"stem width {options['stem_width']}")
    return f"{row['backbone']} ({', '.join(changes)})" if changes else row["backbone"]


WORKERS = {
    "byolbench": _byolbench_worker,
    "lightly-engine": _lightly_worker,
    "lightly-docs": _lightly_worker,
}


def recipe_key(
    contender: str, budget: str, seed: int, overrides: dict[str, str], steps_per_epoch: int
) -> str:
    """A short hash of everything a contender's run is given, saved with its result.

    byolbench: the resolved configuration's hash (the quick preset, the budget, the seed and
    ``--set``); Lightly's loops: the recipe they are handed (``lightly-engine`` takes
    byolbench's preset, so a preset change changes it too).
    """
    from bench_lib.race_lightly import LightlyRecipe

    if contender == "byolbench":
        return quick_config(budget, seed, overrides).config_hash()
    recipe = engine_recipe(steps_per_epoch) if contender == "lightly-engine" else LightlyRecipe()
    fields = {
        name: value
        for name, value in dataclasses.asdict(recipe).items()
        if KEYED_ONLY_WHEN_SET.get(name, object()) != value
    }
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def retire_stale(path: Path, key: str) -> Path | None:
    """Sets aside a result saved at ``path`` by another recipe than ``key`` describes.

    A result made before its contender's recipe changed (say the quick preset's) is not the
    current recipe's: it is renamed ``<label>@<its key>-<budget>-s<seed>.json`` (``@earlier``
    when it predates saved keys), so the table keeps it as its own row and the current recipe
    trains again. Returns the new path, or ``None`` when nothing was set aside.
    """
    if not path.is_file():
        return None
    saved = json.loads(path.read_text()).get("recipe_key")
    if saved == key:
        return None
    match = RESULT_NAME.match(path.name)
    assert match is not None, path.name  # the names main() gives
    label, rest = match["label"], f"{match['budget']}-s{match['seed']}.json"
    tag = saved[:6] if saved else "earlier"
    target = path.with_name(f"{label}@{tag}-{rest}")
    number = 2
    while target.exists():
        target = path.with_name(f"{label}@{tag}.{number}-{rest}")
        number += 1
    path.rename(target)
    return target


def retire_earlier_recipes(cache: Path, seed: int, steps_per_epoch: int) -> list[Path]:
    """Sets aside every saved plain-contender result (``byolbench``, ``lightly-engine``,
    ``lightly-docs``) of ``seed`` made by another recipe than the contender's current one, so
    that a row labelled with a contender's name is always its current recipe. Variants keep
    their rows until they run again (their ``--set`` is not known here)."""
    retired = []
    for path in sorted(cache.glob(f"*-s{seed}.json")) if cache.is_dir() else []:
        match = RESULT_NAME.match(path.name)
        if match is None or match["label"] not in CONTENDERS:
            continue
        key = recipe_key(match["label"], match["budget"], seed, {}, steps_per_epoch)
        moved = retire_stale(path, key)
        if moved is not None:
            retired.append(moved)
    return retired


def _cached(path: Path, compute: Any) -> dict[str, Any]:
    """The saved result at ``path``, or ``compute()`` saved there atomically."""
    from byolbench.bench.store import write_json

    if path.is_file():
        return json.loads(path.read_text())
    result = compute()
    write_json(path, result)
    return result


def _environment() -> dict[str, str]:
    import timm
    import torch
    from bench_lib.measure import cpu_kind

    import byolbench

    try:
        import lightly

        lightly_version = lightly.__version__
    except ImportError:
        lightly_version = "not installed"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_kind()}, {torch.get_num_threads()} threads",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "lightly": lightly_version,
        "byolbench": byolbench.__version__,
    }


def _markdown(rows: list[dict[str, Any]], env: dict[str, str], dataset: str, sizes: str) -> str:
    lines = [
        f"# Race on {dataset}: kNN top-1 at equal pretraining time",
        "",
        *(f"- {k}: {v}" for k, v in env.items()),
        f"- data: {sizes}",
        f"- protocol: kNN k={KNN_K}, T={KNN_TEMPERATURE}, cosine on L2-normalised fp32 "
        "features of the online backbone; bank = training split, queries = test split",
        "",
        "| contender | backbone | recipe | budget | steps | pretrain s | img/s | kNN top-1 | "
        "same net at random init | gain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['contender']} | {net_label(row)} | {row['recipe']} | {row['budget']} | "
            f"{row['steps']} | {row['pretrain_seconds']:.0f} | {row['images_per_second']:.1f} | "
            f"{row['knn_top1']:.2f} | {row['random_top1']:.2f} | {row['gain']:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], dataset: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    randoms: dict[str, float] = {}
    for index, contender in enumerate(dict.fromkeys(r["contender"] for r in rows)):
        mine = sorted(
            (r for r in rows if r["contender"] == contender), key=lambda r: r["budget_seconds"]
        )
        if not mine:
            continue
        colour = f"C{index}"
        axes.plot(
            [r["budget_seconds"] / 60 for r in mine],
            [r["knn_top1"] for r in mine],
            marker="o",
            color=colour,
            label=f"{contender} ({net_label(mine[0])})",
        )
        randoms.setdefault(net_label(mine[0]), mine[0]["random_top1"])
    styles = ["--", ":", "-.", (0, (5, 5))]
    for index, (backbone, level) in enumerate(randoms.items()):
        style = styles[index % len(styles)]
        label = f"{backbone} at random init ({level:.2f})"
        axes.axhline(level, color="grey", linestyle=style, linewidth=1, label=label)
    axes.set_xlabel("pretraining budget (minutes)")
    axes.set_ylabel("kNN top-1 (%)")
    axes.set_title(f"{dataset}: kNN top-1 against pretraining time")
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    # beside the axes: random-init levels a few tenths apart would hide labels drawn on them
    axes.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")


def raced_rows(contenders: list[str], variant: str | None) -> list[tuple[str, str]]:
    """(contender, row label) of each run this race trains.

    With a variant, byolbench trains only as ``byolbench[variant]``; the plain byolbench rows
    and earlier variants saved in the same folder stay in the table without training again.
    """
    rows = []
    for contender in contenders:
        if contender == "byolbench" and variant:
            rows.append((contender, f"byolbench[{variant}]"))
        else:
            rows.append((contender, contender))
    return rows


def table_rows(cache: Path, seed: int) -> list[dict[str, Any]]:
    """Every result of ``seed`` saved in ``cache``, beside its net's random-init kNN.

    The table is cumulative: a race that trains one contender or one variant keeps the rows of
    the earlier races on the same machine kind. Rows are ordered by contender (byolbench,
    then its variants by name, then Lightly's loops), then by budget; a result whose
    random-init number is not saved yet is left out.
    """
    from byolbench.train.budget import parse_duration

    pattern = re.compile(rf"^(?P<label>.+)-(?P<budget>[^-]+)-s{seed}\.json$")
    rows = []
    for path in sorted(cache.glob(f"*-s{seed}.json")) if cache.is_dir() else []:
        match = pattern.match(path.name)
        if match is None or path.name.startswith("random-"):
            continue
        result = json.loads(path.read_text())
        random_path = cache / random_init_name(result, seed)
        if not random_path.is_file():
            continue
        random_top1 = json.loads(random_path.read_text())["knn_top1"]
        rows.append(
            {
                "contender": match["label"],
                "budget": match["budget"],
                "budget_seconds": parse_duration(match["budget"]),
                **result,
                "random_top1": random_top1,
                "gain": result["knn_top1"] - random_top1,
            }
        )

    def order(row: dict[str, Any]) -> tuple[int, str, float]:
        base = re.split(r"[\[@]", row["contender"], maxsplit=1)[0]
        rank = CONTENDERS.index(base) if base in CONTENDERS else len(CONTENDERS)
        return rank, row["contender"], row["budget_seconds"]

    return sorted(rows, key=order)


def main() -> None:
    """Runs (or resumes) the race and writes its table and plot."""
    from byolbench.atomic import write_text
    from byolbench.bench.report_tables import file_slug
    from byolbench.config import parse_overrides
    from byolbench.errors import ConfigError
    from byolbench.train.budget import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10-mini")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--budgets", default="5m,10m,20m")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override of byolbench's recipe (repeatable), e.g. augment.progressive_min_size=16; "
        "needs --variant",
    )
    parser.add_argument(
        "--variant",
        default="",
        help="name of the byolbench recipe given by --set: its rows are 'byolbench[NAME]'",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="rebuild the table from the saved results; train nothing",
    )
    args = parser.parse_args()
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = [c for c in contenders if c not in CONTENDERS]
    try:
        for budget in budgets:
            parse_duration(budget, "--budgets")
        if unknown:
            raise ConfigError(f"unknown contender(s) {unknown}; valid: {', '.join(CONTENDERS)}")
        if bool(args.set) != bool(args.variant):
            raise ConfigError("--set and --variant go together: name the recipe they make")
        overrides = parse_overrides(args.set)
        quick_config(budgets[0] if budgets else "1m", args.seed, overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    slug = file_slug(args.dataset)
    cache = args.out / f"race-{slug}"
    common = {"dataset": args.dataset, "data_dir": args.data_dir, "seed": args.seed}
    env = _environment()
    print("\n".join(f"{k}: {v}" for k, v in env.items()), flush=True)
    splits = _splits(common)
    steps_per_epoch = len(splits.pretrain) // quick_config("1m", 0).train.batch_size
    for retired in retire_earlier_recipes(cache, args.seed, steps_per_epoch):
        print(f"a result of an earlier recipe is kept as {retired.name}", flush=True)
    for budget in [] if args.table_only else budgets:
        for contender, label in raced_rows(contenders, args.variant):
            task = {**common, "budget": budget, "contender": contender}
            if label != contender:
                task["overrides"] = overrides
            print(f"{label} for {budget} ...", flush=True)
            path = cache / f"{label}-{budget}-s{args.seed}.json"
            key = recipe_key(
                contender, budget, args.seed, task.get("overrides", {}), steps_per_epoch
            )
            retired = retire_stale(path, key)
            if retired is not None:
                print(f"  a result of an earlier recipe is kept as {retired.name}", flush=True)
            result = _cached(
                path,
                lambda t=task, k=key: {**run_isolated(WORKERS[t["contender"]], t), "recipe_key": k},
            )
            net = {"backbone": result["backbone"], **net_options(result)}
            _cached(
                cache / random_init_name(result, args.seed),
                lambda n=net: run_isolated(_random_worker, {**common, **n}),
            )
    rows = table_rows(cache, args.seed)
    for row in rows:
        print(json.dumps(row), flush=True)
    sizes = (
        f"{len(splits.pretrain)} pretraining / {len(splits.train)} bank / {len(splits.test)} "
        f"test images of {splits.test.images.shape[-1]} px"
    )
    table = _markdown(rows, env, args.dataset, sizes)
    print("\n" + table)
    import pandas as pd

    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / f"race-{slug}.md", table)
    write_text(args.out / f"race-{slug}.csv", pd.DataFrame(rows).to_csv(index=False))
    _plot(rows, args.dataset, args.out / f"race-{slug}.png")
    print(f"wrote {args.out / f'race-{slug}'}.md, .csv and .png")


if __name__ == "__main__":
    main()
