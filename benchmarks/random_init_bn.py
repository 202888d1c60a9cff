"""How much of "BYOL minus random init" is BatchNorm statistics? kNN with and without them.

The random-init rows evaluate the backbone as it is built: its BatchNorm layers hold their
initial running statistics (mean 0, variance 1), so in eval mode they normalise nothing. A
trained network's BatchNorm layers hold statistics of the data. This script separates the two
effects. For each seed it evaluates, with byolbench's kNN protocol (k=200, T=0.1, online
backbone features of the training split as the bank):

* ``as built``: the quick preset's backbone at random init, as the random-init rows do;
* ``BN statistics``: the same weights after one pass over the training images (evaluation
  transform, no augmentation, no gradient) that sets every BatchNorm layer's running mean and
  variance to the data's (no weight changes).

With ``--run`` it does the same for a trained run's online backbone (``byolbench run``'s
results folder ``runs/<cell>``), so that both sides of the gain can be read with the data's
statistics.

    python benchmarks/random_init_bn.py                       # seeds 0, 1, 2 on cifar10-mini
    python benchmarks/random_init_bn.py --run results/runs/<cell>
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate.utils import set_seed
from torch import nn

from byolbench.augment.transforms import EvalTransform
from byolbench.bench.presets import preset_overrides
from byolbench.config import RunConfig
from byolbench.data import load_dataset
from byolbench.data.base import DatasetSplits
from byolbench.eval.evaluate import evaluate_backbone
from byolbench.export.rebuild import load_backbone
from byolbench.export.source import open_source
from byolbench.train.precision import autocast_dtype, resolve_mixed_precision
from byolbench.train.trainer import build_model

BATCH = 250


def knn_top1(backbone: nn.Module, splits: DatasetSplits, config: RunConfig) -> float:
    """byolbench's headline kNN top-1 (``config.eval``'s k and temperature) of ``backbone``."""
    precision = resolve_mixed_precision(config.train.mixed_precision, "cpu")
    rows = evaluate_backbone(
        backbone,
        splits,
        config.eval,
        splits.info.training_size,
        "probe",
        autocast_dtype=autocast_dtype(precision),
        channels_last=config.model.channels_last,
    )
    return next(r.top1 for r in rows if r.protocol == "knn" and r.details.get("headline"))


@torch.no_grad()
def set_batchnorm_statistics(backbone: nn.Module, splits: DatasetSplits) -> nn.Module:
    """Sets every BatchNorm layer's running statistics to the training images' (cumulative
    average over one pass, evaluation transform); the weights do not change."""
    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the pass
    info = splits.info
    transform = EvalTransform(info.training_size, info.mean, info.std, info.crop_pct)
    backbone.train()
    images = splits.train.images
    for start in range(0, len(images), BATCH):
        backbone(transform(images[start : start + BATCH]))
    backbone.eval()
    return backbone


def main() -> None:
    """Prints the kNN top-1 of each backbone as built and with the data's statistics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--dataset", default="cifar10-mini")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--run", type=Path, default=None, help="a trained run's folder")
    args = parser.parse_args()
    splits = load_dataset(args.dataset, args.data_dir or None, False, 0)
    overrides = preset_overrides("quick")
    overrides["data.dataset"] = args.dataset
    overrides["eval.protocols"] = "knn"  # only the headline kNN: no probe, no k sweep
    overrides["eval.knn_sweep"] = ""
    config = RunConfig().replace(overrides, "preset").validate()
    size = splits.info.training_size
    knn = f"kNN k={config.eval.knn_k} T={config.eval.knn_temperature}"
    print(f"{config.model.backbone} {config.model.channels}, {args.dataset}, {knn}")
    print("| backbone | kNN as built | kNN with BN statistics | difference |")
    print("|---|---|---|---|")
    nets: list[tuple[str, nn.Module]] = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        set_seed(seed)  # the runner's random-init baseline: seed, then build
        nets.append((f"random init, seed {seed}", build_model(config, size).backbone))
    if args.run is not None:
        source = open_source(args.run)
        nets.append(
            (
                f"trained: {args.run.name}",
                load_backbone(source.spec, source.backbone_state, str(args.run)),
            )
        )
    for name, backbone in nets:
        before = knn_top1(backbone, splits, config)
        after = knn_top1(set_batchnorm_statistics(backbone, splits), splits, config)
        print(f"| {name} | {before:.2f} | {after:.2f} | {after - before:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
