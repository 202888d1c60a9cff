"""``runs/<cell>/progress.json``: every session that worked on a cell, for readers of results.

A session is one process's attempt at a cell: when it started and ended, how it ended
(``done``, ``failed``, ``interrupted``, or ``killed`` when a later session found it still
marked ``running``), the optimizer steps it started and ended at, and the checkpoint it resumed
from. A run that was interrupted and resumed shows it here.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from byolbench.bench.store import read_json, utc_now, write_json

logger = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
WRITE_EVERY_SECONDS = 30.0


def resume_message(
    cell_id: str, checkpoint: str, step: int, total: int, images: int, seconds: float
) -> str:
    """``resuming cell X at step N of M from CHECKPOINT (... already done)``."""
    done = f"{step} step(s), {images:,} images, {seconds / 60:.1f} min of training already done"
    return f"resuming cell {cell_id} at step {step} of {total} from {checkpoint} ({done})"


class CellProgress:
    """The sessions of one cell, kept in its ``progress.json`` (written atomically).

    Args:
        run_dir: The cell's folder.
        cell_id: The cell.
        enabled: Write nothing when false (processes other than the main one).
    """

    def __init__(self, run_dir: Path, cell_id: str, enabled: bool = True) -> None:
        self.path = run_dir / PROGRESS_FILE
        self.cell_id = cell_id
        self.enabled = enabled
        self.record: dict[str, Any] = {"cell_id": cell_id, "sessions": []}
        self.session: dict[str, Any] = {}
        self._last_write = 0.0

    def _load(self) -> None:
        try:
            record = read_json(self.path)
        except (OSError, ValueError):
            return
        if isinstance(record, dict) and isinstance(record.get("sessions"), list):
            self.record = record

    def _write(self) -> None:
        if not self.enabled:
            return
        self._last_write = time.monotonic()
        try:
            write_json(self.path, self.record)
        except OSError as exc:  # a record of progress must never stop the work
            logger.warning("could not update %s: %s", self.path, exc)

    def start(self) -> None:
        """Opens a session; sessions still marked ``running`` were killed (this process holds
        the cell's claim now)."""
        if not self.enabled:
            return
        self._load()
        for old in self.record["sessions"]:
            if isinstance(old, dict) and old.get("status") == "running":
                old["status"] = "killed"
        self.session = {
            "start": utc_now(),
            "end": None,
            "status": "running",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start_step": 0,
            "end_step": 0,
            "total_steps": None,
            "resumed_from": None,
        }
        self.record["sessions"].append(self.session)
        self._write()

    def resumed(self, checkpoint: str, step: int, total: int) -> None:
        """Records the checkpoint this session resumed from."""
        if not self.session:
            return
        self.session.update(
            resumed_from=checkpoint, start_step=step, end_step=step, total_steps=total
        )
        self._write()

    def step(self, step: int, total: int) -> None:
        """Notes the newest optimizer step (written at most every ``WRITE_EVERY_SECONDS``)."""
        if not self.session:
            return
        self.session.update(end_step=step, total_steps=total)
        if time.monotonic() - self._last_write >= WRITE_EVERY_SECONDS:
            self._write()

    def end(self, status: str, step: int | None = None) -> None:
        """Closes the session as ``done``, ``failed`` or ``interrupted``."""
        if not self.session:
            return
        self.session.update(end=utc_now(), status=status)
        if step is not None:
            self.session["end_step"] = step
        self._write()
        self.session = {}


def read_sessions(run_dir: Path) -> list[dict[str, Any]]:
    """The sessions recorded for the cell in ``run_dir`` (empty when there is no record)."""
    try:
        record = read_json(run_dir / PROGRESS_FILE)
    except (OSError, ValueError):
        return []
    sessions = record.get("sessions") if isinstance(record, dict) else None
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []
