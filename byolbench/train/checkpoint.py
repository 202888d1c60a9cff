"""Atomic, verified, resumable training checkpoints.

A checkpoint is a folder ``step-<N>`` holding:

* ``model.safetensors``: the whole BYOL module (online, target, heads, BatchNorm buffers);
* ``optimizer.pt``: optimizer (and fp16 scaler) state, read back with ``weights_only=True``;
* ``rng-<rank>.safetensors``: each process's torch and augmentation generator states;
* ``extra.safetensors`` (optional): tensors of training helpers (the online linear probe);
* ``state.json``: step, epoch, position in the epoch, counters, and a manifest of every file
  with its size and SHA-256.

It is written into a hidden temporary folder and renamed into place only once complete, so a
kill at any moment leaves either no new checkpoint or a whole one. On load, a checkpoint whose
files do not match their manifest, or whose ``optimizer.pt`` cannot be read safely (it holds
objects ``torch.load(weights_only=True)`` refuses to unpickle), is skipped with a warning
naming the file, and the previous one is used.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from byolbench.atomic import write_text
from byolbench.errors import CheckpointError
from byolbench.hashing import sha256_file
from byolbench.train.checkpoint_names import PREFIX, checkpoint_step

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
EXTRA_FILE = "extra.safetensors"
FORMAT_VERSION = 1


@dataclass
class TrainState:
    """Progress counters saved in every checkpoint.

    Attributes:
        step: Optimizer steps done.
        epoch: Epoch in progress.
        batch_in_epoch: Micro-batches of ``epoch`` already consumed.
        images_seen: Images consumed over all processes.
        train_seconds: Wall time spent training, summed over resumed sessions.
        last_finite_loss: Newest finite loss read.
        low_std_count: Consecutive metric reads below the collapse threshold.
        collapse_warned: Whether the collapse warning was given.
        planned_steps: Optimizer steps a time-budgeted run planned (0: not planned yet, or
            no budget); kept on resume.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0
    last_finite_loss: float = math.nan
    low_std_count: int = 0
    collapse_warned: bool = False
    planned_steps: int = 0


class CheckpointManager:
    """Saves, prunes, verifies and loads checkpoints under ``directory``.

    Args:
        directory: The run's ``checkpoints`` folder.
        keep: How many of the newest checkpoints to keep.
    """

    def __init__(self, directory: Path, keep: int = 2) -> None:
        self.directory = directory
        self.keep = max(1, keep)

    def candidates(self) -> list[Path]:
        """Checkpoint folders, newest first (not yet verified)."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if p.is_dir() and checkpoint_step(p) >= 0]
        return sorted(found, key=checkpoint_step, reverse=True)

    def save(
        self,
        accelerator: Any,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        state: TrainState,
        rng_state: dict[str, torch.Tensor],
        extra: dict[str, Any] | None = None,
        extra_tensors: dict[str, torch.Tensor] | None = None,
    ) -> Path:
        """Writes a checkpoint of ``state.step`` from every process; returns its folder.

        Every process must call this at the same step (it synchronises them). ``extra`` goes
        into ``state.json``, ``extra_tensors`` (the main process's) into ``extra.safetensors``.
        """
        final = self.directory / f"{PREFIX}{state.step:08d}"
        tmp = self.directory / f".tmp-{PREFIX}{state.step:08d}"
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in rng_state.items()},
            tmp / f"rng-{accelerator.process_index}.safetensors",
        )
        if accelerator.is_main_process:
            state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state_dict, tmp / MODEL_FILE)
            payload: dict[str, Any] = {"optimizer": optimizer.state_dict()}
            scaler = getattr(accelerator, "scaler", None)
            if scaler is not None:
                payload["scaler"] = scaler.state_dict()
            torch.save(payload, tmp / OPTIMIZER_FILE)
            if extra_tensors:
                tensors = {k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}
                save_file(tensors, tmp / EXTRA_FILE)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            manifest = {
                p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(tmp.iterdir())
            }
            record = {
                "format": FORMAT_VERSION,
                "state": asdict(state),
                "num_processes": accelerator.num_processes,
                "files": manifest,
                **(extra or {}),
            }
            write_text(tmp / STATE_FILE, json.dumps(record, indent=2))
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            self._prune()
        accelerator.wait_for_everyone()
        return final

    def _prune(self) -> None:
        for old in self.candidates()[self.keep :]:
            shutil.rmtree(old, ignore_errors=True)

    def verify(self, path: Path) -> dict[str, Any]:
        """Returns the checkpoint's ``state.json`` record after checking every file.

        Raises:
            CheckpointError: When a file is missing, truncated or altered.
        """
        state_file = path / STATE_FILE
        try:
            record = json.loads(state_file.read_text())
            files = record["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{state_file} is missing or unreadable ({exc})") from exc
        for name, expected in files.items():
            file = path / name
            if not file.is_file():
                raise CheckpointError(f"{file} is missing")
            if file.stat().st_size != expected["size"]:
                raise CheckpointError(
                    f"{file} is truncated or altered ({file.stat().st_size} bytes, "
                    f"expected {expected['size']})"
                )
            if sha256_file(file) != expected["sha256"]:
                raise CheckpointError(f"{file} does not match its recorded SHA-256")
        read_optimizer(path / OPTIMIZER_FILE)
        return record

    def latest_valid(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that verifies, warning about each one skipped."""
        for path in self.candidates():
            try:
                return path, self.verify(path)
            except CheckpointError as exc:
                logger.warning("skipping damaged checkpoint %s: %s", path.name, exc)
        return None

    @staticmethod
    def extra_tensors(path: Path) -> dict[str, torch.Tensor]:
        """The checkpoint's ``extra.safetensors`` tensors (empty when it has none)."""
        file = Path(path) / EXTRA_FILE
        return load_file(file, device="cpu") if file.is_file() else {}

    @staticmethod
    def load(
        path: Path,
        record: dict[str, Any],
        accelerator: Any,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
    ) -> tuple[TrainState, dict[str, torch.Tensor] | None]:
        """Restores model and optimizer; returns the train state and this process's RNG state.

        The RNG state is ``None`` when the checkpoint came from a different process count.
        """
        payload = read_optimizer(path / OPTIMIZER_FILE)
        model.load_state_dict(load_file(path / MODEL_FILE, device="cpu"))
        optimizer.load_state_dict(payload["optimizer"])
        scaler = getattr(accelerator, "scaler", None)
        if scaler is not None and "scaler" in payload:
            scaler.load_state_dict(payload["scaler"])
        state = TrainState(**record["state"])
        rng_file = path / f"rng-{accelerator.process_index}.safetensors"
        same_world = record.get("num_processes") == accelerator.num_processes
        rng = load_file(rng_file) if same_world and rng_file.is_file() else None
        if not same_world:
            logger.warning(
                "checkpoint %s was written by %s processes, this run has %s: resuming with "
                "fresh random streams (results will not match an uninterrupted run bit for bit)",
                path.name,
                record.get("num_processes"),
                accelerator.num_processes,
            )
        return state, rng


def read_optimizer(path: Path) -> dict[str, Any]:
    """Reads ``optimizer.pt`` with ``weights_only=True`` (tensors and plain containers only).

    Raises:
        CheckpointError: When the file is missing, damaged, or holds other pickled objects.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} cannot be read safely with torch.load(weights_only=True) ({reason}); "
            "it is never unpickled with weights_only=False"
        ) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("optimizer"), dict):
        raise CheckpointError(f"{path} holds no optimizer state")
    return payload
