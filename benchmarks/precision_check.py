"""Does byolbench's default precision learn as well as fp32? Same data, same steps, kNN top-1.

Trains the same short BYOL run (same seed, data and number of steps) once with the default
precision (bf16 autocast where the device supports it) and once in fp32, then evaluates both
online backbones with the kNN protocol and prints top-1 and the difference.

    python benchmarks/precision_check.py                         # resnet18, cifar10-mini, CPU
    python benchmarks/precision_check.py --steps 300 --backbone resnet10t
"""

from __future__ import annotations

import argparse
import time

import torch

from byolbench.bench.presets import preset_overrides
from byolbench.config import RunConfig
from byolbench.data import load_dataset
from byolbench.eval.evaluate import evaluate_backbone
from byolbench.train.accel import make_accelerator
from byolbench.train.precision import autocast_dtype
from byolbench.train.trainer import Trainer


def run(precision: str, args: argparse.Namespace) -> tuple[str, float, float, float]:
    """Trains and evaluates with ``precision``; returns (resolved, kNN top-1, s, img/s)."""
    config = RunConfig().replace(
        {
            **preset_overrides("quick"),
            "model.backbone": args.backbone,
            "train.batch_size": args.batch_size,
            "train.max_steps": args.steps,
            "train.mixed_precision": precision,
            "train.seed": args.seed,
            "eval.protocols": "knn",
        }
    )
    splits = load_dataset("cifar10-mini")
    accelerator = make_accelerator(precision, cpu=args.device == "cpu")
    start = time.perf_counter()
    result = Trainer(config, splits, accelerator, None).fit()
    seconds = time.perf_counter() - start
    rows = evaluate_backbone(
        result.model.backbone,
        splits,
        config.eval,
        32,
        "byol",
        device=accelerator.device,
        autocast_dtype=autocast_dtype(accelerator.mixed_precision),
        channels_last=config.model.channels_last,
    )
    return accelerator.mixed_precision, rows[0].top1, seconds, result.images_per_second


def main() -> None:
    """Runs both precisions and prints the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    print(
        f"{args.backbone}, cifar10-mini, {args.steps} steps of batch {args.batch_size}, "
        f"seed {args.seed}, torch {torch.__version__}, {torch.get_num_threads()} threads\n",
        flush=True,
    )
    results = {}
    for precision in ("auto", "no"):
        resolved, top1, seconds, rate = run(precision, args)
        results[precision] = top1
        print(
            f"{precision:>4} -> {resolved:>4}: kNN top-1 {top1:.2f}  "
            f"train {seconds:.0f} s ({rate:.1f} img/s)",
            flush=True,
        )
    diff = results["auto"] - results["no"]
    print(f"\ndefault minus fp32: {diff:+.2f} points")


if __name__ == "__main__":
    main()
