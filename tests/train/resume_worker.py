"""Trains a tiny BYOL run with frequent checkpoints; used by the kill-and-resume tests.

python -m tests.train.resume_worker RUN_DIR OUT_FILE [EPOCHS]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.conftest import make_splits
from tests.train.helpers import tiny_config


def main() -> None:
    """Trains to the end (resuming if RUN_DIR has checkpoints) and saves the final weights."""
    run_dir, out_file = Path(sys.argv[1]), Path(sys.argv[2])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    torch.set_num_threads(1)
    config = tiny_config(
        **{
            "train.epochs": epochs,
            "train.checkpoint_every": 3,
            "train.keep_checkpoints": 2,
            "optim.warmup_epochs": 1.0,
        }
    )
    result = Trainer(config, make_splits(n_train=128), make_accelerator("no"), run_dir).fit()
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, out_file)
    print(f"done step={result.state.step} resumed_from={result.resumed_from}", flush=True)


if __name__ == "__main__":
    main()
