"""Tiny real runs for the export tests: made once per session and shared by the modules."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.config import parse_overrides

BACKBONES = ("test_resnet", "test_vit")
SETS = [
    "model.projector_hidden_dim=32",
    "model.predictor_hidden_dim=32",
    "model.projector_dim=16",
    "eval.protocols=knn",
    "eval.knn_sweep=",
    "eval.random_baseline=false",
    "train.checkpoint_every=1",
]


def write_image_folder(
    root: Path, classes: int = 4, train: int = 4, test: int = 3, size: int = 32, seed: int = 0
) -> Path:
    """``root/{train,test}/c<k>/<i>.png``: noisy images whose mean colour depends on the class."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for label in range(classes):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = rng.integers(0, 100, (size, size, 3)) + 40 * label
                Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


@functools.cache
def tiny_runs(base: Path) -> dict[str, Path]:
    """Pretrains ``test_resnet`` and ``test_vit`` (1 epoch, 2 steps) on a 16-image folder.

    Returns:
        ``{"data": image folder, "results": results folder, <backbone>: run folder}``; each run
        keeps its training checkpoints (step 1 and step 2).
    """
    root = base / "export-runs"
    shutil.rmtree(root, ignore_errors=True)
    data = write_image_folder(root / "pets")
    spec = MatrixSpec(list(BACKBONES), [f"imagefolder:{data}"], preset="standard")
    spec.cli = {"train.epochs": 1, "train.batch_size": 8, "train.mixed_precision": "no"}
    spec.sets = parse_overrides(SETS)
    options = RunOptions(results_dir=root / "results", keep_checkpoints=True, cpu=True)
    outcomes = run_matrix(expand(spec), options)
    assert all(o.status == "done" for o in outcomes), [o.error for o in outcomes]
    found: dict[str, Path] = {"data": data, "results": root / "results"}
    for outcome in outcomes:
        assert outcome.run_dir is not None
        found[outcome.cell.backbone] = outcome.run_dir
    return found


def fake_hub_cache(cache_dir: Path, repo_id: str, state: dict) -> Path:
    """Puts ``state`` where huggingface_hub keeps a downloaded ``model.safetensors``."""
    from safetensors.torch import save_file

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    return snapshot / "model.safetensors"
