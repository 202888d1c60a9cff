"""Runs on each of several processes (accelerate launch); writes what it saw as JSON.

accelerate launch --multi_gpu --num_processes 2 -m tests.train.dist_worker OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from byolbench.augment.transforms import EvalTransform
from byolbench.eval.features import extract_features
from byolbench.train import batches as batches_module
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.conftest import make_splits
from tests.train.helpers import tiny_config


def main() -> None:
    """Trains 2 epochs of 64 images, batch 8 per process, and records what happened."""
    out_dir = Path(sys.argv[1])
    seen: dict[int, list[int]] = {}
    original = batches_module.ShardedBatches.epoch

    def recording(self, epoch, start=0):
        batches = original(self, epoch, start)
        seen.setdefault(epoch, []).extend(int(i) for b in batches for i in b)
        return batches

    batches_module.ShardedBatches.epoch = recording
    accelerator = make_accelerator("no")
    splits = make_splits(n_train=64)
    config = tiny_config(
        **{
            "train.epochs": 2,
            "train.log_every": 1,
            "optim.name": "sgd",
            "optim.lr": 0.8,
            "optim.warmup_epochs": 1.0,
        }
    )
    trainer = Trainer(config, splits, accelerator, None)
    result = trainer.fit()
    model = result.model
    transform = EvalTransform(16, splits.info.mean, splits.info.std)
    gathered = extract_features(
        model.backbone, splits.test.images, transform, batch_size=5, accelerator=accelerator
    )
    local = extract_features(model.backbone, splits.test.images, transform, batch_size=5)
    record = {
        "rank": accelerator.process_index,
        "world": accelerator.num_processes,
        "seen": seen,
        "global_batch": trainer.global_batch,
        "ema_updates": trainer.ema_updates,
        "steps": result.state.step,
        "lrs": [r["lr"] for r in result.history],
        "losses": [r["loss"] for r in result.history],
        "online": [float(p.double().sum()) for p in model.online_parameters()],
        "target": [float(p.double().sum()) for p in model.target_parameters()],
        "features_shape": list(gathered.shape),
        "features_max_diff": float((gathered - local).abs().max()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"rank{accelerator.process_index}.json").write_text(json.dumps(record))
    torch.distributed.barrier()


if __name__ == "__main__":
    main()
