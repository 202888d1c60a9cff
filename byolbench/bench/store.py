"""The results store: ``runs.csv`` rows appended atomically, one run folder per cell.

An append rewrites the whole file into a temporary file and renames it over ``runs.csv``
under an exclusive lock, so a crash never leaves half a row and two writers never interleave.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from byolbench.atomic import write_text
from byolbench.errors import DataError

RESULT_COLUMNS = (
    "timestamp",
    "cell_id",
    "config_hash",
    "dataset",
    "backbone",
    "augmentation",
    "seed",
    "method",
    "protocol",
    "top1",
    "top5",
    "protocol_details",
    "epochs",
    "steps",
    "batch_size",
    "image_size",
    "pretrain_seconds",
    "images_per_second",
    "mixed_precision",
    "device",
    "num_processes",
    "byolbench_version",
    "git_commit",
    "run_dir",
)
RUNS_FILE = "runs.csv"
FAILURES_FILE = "failures.csv"
FAILURE_COLUMNS = ("timestamp", "cell_id", "config_hash", "dataset", "backbone", "seed", "error")


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else "nan"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def append_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Appends ``rows`` to the CSV at ``path`` atomically (header written once).

    Raises:
        DataError: When the existing file has a different header.
    """
    with _locked(path):
        existing = path.read_text(encoding="utf-8") if path.is_file() else ""
        if existing:
            header = next(csv.reader(io.StringIO(existing.splitlines()[0])))
            if header != list(columns):
                raise DataError(
                    f"{path} has columns {header}, expected {list(columns)}; move it aside "
                    "to start a new results file"
                )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        if not existing:
            writer.writeheader()
        for row in rows:
            unknown = set(row) - set(columns)
            assert not unknown, f"unknown result columns {unknown}"
            writer.writerow({k: _format(row.get(k, "")) for k in columns})
        if existing and not existing.endswith("\n"):
            existing += "\n"
        write_text(path, existing + buffer.getvalue())


class ResultsStore:
    """``results_dir/runs.csv``, ``failures.csv`` and ``runs/<cell_id>/`` folders.

    Args:
        results_dir: The results folder (``results/`` by default).
    """

    def __init__(self, results_dir: Path) -> None:
        self.root = Path(results_dir)

    @property
    def runs_csv(self) -> Path:
        """Path of ``runs.csv``."""
        return self.root / RUNS_FILE

    def run_dir(self, cell_id: str) -> Path:
        """The folder of one cell."""
        return self.root / "runs" / cell_id

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Appends result rows atomically."""
        append_csv(self.runs_csv, RESULT_COLUMNS, rows)

    def append_failure(self, row: dict[str, Any]) -> None:
        """Records a failed cell."""
        append_csv(self.root / FAILURES_FILE, FAILURE_COLUMNS, [row])

    def read(self) -> pd.DataFrame:
        """All result rows (an empty frame with the right columns when there are none)."""
        if not self.runs_csv.is_file():
            return pd.DataFrame(columns=list(RESULT_COLUMNS))
        try:
            return pd.read_csv(self.runs_csv)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.runs_csv} is not a readable results CSV ({exc})") from exc

    def has_rows(self, cell_id: str, config_hash: str) -> bool:
        """Whether rows of this cell and config are already in ``runs.csv``."""
        frame = self.read()
        if frame.empty:
            return False
        match = (frame["cell_id"] == cell_id) & (frame["config_hash"].astype(str) == config_hash)
        return bool(match.any())


def write_json(path: Path, payload: Any) -> None:
    """Atomically writes pretty JSON."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Reads JSON written by ``write_json``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
