"""Does the ViT family recipe make BYOL learn at 32 px? The same ViT with the ViT and the ResNet
recipe, each against the same ViT at random initialisation.

Both arms run what `byolbench run --backbones vit_tiny --datasets cifar10-mini` runs (the
standard preset; vit_tiny gets patch 4 at 32 px, 8x8 tokens), shortened to a CPU budget with
`--time-budget` (default 14 minutes of pretraining per arm; the trainer plans the steps from
its measured step time) and `--batch-size`, and differ only in the optimiser part of the family
recipe (`--recipe vit`: AdamW; `--recipe convnet`: LARS). Both get the same warm-up, a tenth of
the run (the ViT recipe's own value; the preset's 10 warm-up epochs would outlast a short run),
the ViT recipe's token options (average pooling, half the patch tokens dropped while
pretraining) and crops of at least 20% of the image (the quick preset's short-run crops), set
for both arms so that only the optimiser differs. Evaluation: kNN (k=200, cosine, votes
exp(sim/0.1)) on frozen online-backbone features of the whole labelled split, top-1 on the
test split; "random" is the same backbone, same seed, at random initialisation.

    python benchmarks/vit_recipe.py          # vit_tiny, 14 minutes of batch 64 per arm
    python benchmarks/vit_recipe.py --backbone test_vit --dataset imagefolder:PATH \\
        --time-budget "" --epochs 1 --batch-size 8 --out /tmp/vit-recipe   # a quick check

It prints the table and writes it to benchmarks/results/vit-recipe-cpu.md and .csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lib.measure import cpu_kind  # noqa: E402

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.config import parse_overrides

ARMS = (("vit", "ViT recipe"), ("convnet", "ResNet recipe"))
COLUMNS = (
    "recipe",
    "optimizer",
    "knn_byol",
    "knn_random",
    "gain",
    "pretrain_minutes",
    "steps",
    "images_per_second",
)
# Set for both arms (the ViT recipe's token options and short-run crops).
SHARED = {
    "model.global_pool": "avg",
    "model.patch_drop_rate": "0.5",
    "augment.crop_min_scale": "0.2",
}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "vit-recipe-cpu"


def arm_spec(recipe: str, args: argparse.Namespace) -> MatrixSpec:
    """The matrix of one arm: one cell, the standard preset, the given family recipe."""
    sets = {
        "optim.warmup_epochs": str(round(0.1 * args.epochs, 4)),
        "eval.protocols": "knn",
        "eval.knn_sweep": "",
        **SHARED,
        **parse_overrides(args.set or []),
    }
    cli: dict[str, Any] = {"train.epochs": args.epochs, "train.batch_size": args.batch_size}
    if args.time_budget:
        cli["train.time_budget"] = args.time_budget
    if args.max_train_samples:
        cli["data.max_train_samples"] = args.max_train_samples
    return MatrixSpec(
        [args.backbone],
        [args.dataset],
        seeds=[args.seed],
        preset="standard",
        recipe=recipe,
        cli=cli,
        sets=sets,
    )


def run_arm(recipe: str, label: str, args: argparse.Namespace, results: Path) -> dict[str, Any]:
    """Pretrains and evaluates one arm; returns its table row."""
    (cell,) = expand(arm_spec(recipe, args))
    optim = cell.config.optim
    eta = f" eta {optim.lars_eta:g}" if optim.name == "lars" else ""
    optimizer = (
        f"{optim.name}{eta} lr {optim.lr:g} per 256, wd {optim.weight_decay:g}, "
        f"clip {optim.grad_clip:g}, tau {cell.config.byol.tau_base:g}"
    )
    print(f"{label}: {cell.cell_id} ({optimizer})", flush=True)
    start = time.perf_counter()
    (outcome,) = run_matrix([cell], RunOptions(results_dir=results, cpu=args.device == "cpu"))
    if outcome.status not in ("done", "skipped"):
        raise SystemExit(f"{label} failed: {outcome.error}")
    knn = {r["method"]: r for r in outcome.rows if r["protocol"] == "knn"}
    byol, random = knn["byol"], knn["random"]
    row = {
        "recipe": label,
        "optimizer": optimizer,
        "knn_byol": float(byol["top1"]),
        "knn_random": float(random["top1"]),
        "gain": float(byol["top1"]) - float(random["top1"]),
        "pretrain_minutes": float(byol["pretrain_seconds"]) / 60,
        "steps": int(byol["steps"]),
        "images_per_second": float(byol["images_per_second"]),
    }
    print(
        f"  kNN {row['knn_byol']:.2f} vs random {row['knn_random']:.2f} "
        f"({row['gain']:+.2f}), {row['pretrain_minutes']:.1f} min pretraining, "
        f"{row['steps']} steps, cell wall {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return row


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, machine: str) -> str:
    """The table in Markdown with the protocol above it."""
    if args.time_budget:
        length = (
            f"pretraining to a {args.time_budget} time budget (steps planned from the measured "
            f"step time) at batch {args.batch_size}, warm-up a tenth of the planned steps"
        )
    else:
        length = (
            f"{args.epochs} epoch(s) of batch {args.batch_size}, "
            f"warm-up {round(0.1 * args.epochs, 4)} epochs"
        )
    lines = [
        f"{args.backbone} on {args.dataset}, {length}, seed {args.seed}, standard preset, "
        f"both arms {', '.join(f'{k}={v}' for k, v in SHARED.items())}; {machine}",
        "",
        "| recipe | optimizer | kNN BYOL | kNN random | gain | pretrain min | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['optimizer']} | {r['knn_byol']:.2f} | {r['knn_random']:.2f} "
            f"| **{r['gain']:+.2f}** | {r['pretrain_minutes']:.1f} | {r['steps']} |"
        )
    return "\n".join(lines) + "\n"


def write_results(rows: list[dict[str, Any]], text: str, out: Path) -> None:
    """Writes ``out.md`` and ``out.csv``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    with out.with_suffix(".csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def main() -> None:
    """Runs both arms and prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--dataset", default="cifar10-mini")
    parser.add_argument(
        "--epochs", type=int, default=8, help="epochs, or the nominal length under a budget"
    )
    parser.add_argument(
        "--time-budget",
        default="14m",
        help="pretraining budget per arm (e.g. 14m; '' trains for --epochs instead)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-samples", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--set", action="append", help="extra --set overrides for both arms")
    parser.add_argument("--results-dir", type=Path, help="keep the runs here (resumable)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="table path, no suffix")
    args = parser.parse_args()
    machine = f"{cpu_kind()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"{args.backbone} on {args.dataset}: ViT recipe vs ResNet recipe; {machine}\n")
    results = args.results_dir or Path(tempfile.mkdtemp(prefix="vit-recipe-"))
    rows = [run_arm(recipe, label, args, results) for recipe, label in ARMS]
    text = markdown(rows, args, machine)
    print("\n" + text)
    write_results(rows, text, args.out)
    print(f"wrote {args.out.with_suffix('.md')} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
