"""The results store: one rows file per cell, and ``runs.csv`` as an index rebuilt from them.

Every cell (a ``byolbench run`` cell or a ``byolbench evaluate`` call) writes its own rows
atomically into ``runs/<cell_id>/eval.json``; a failed cell writes ``runs/<cell_id>/error.json``.
No two processes ever write the same rows file, so many jobs on many hosts can share one
results folder on a network filesystem where ``flock`` is not reliable. ``runs.csv`` and
``failures.csv`` are indexes rebuilt from those files (``rebuild_index``): each rebuild writes
a complete file and renames it into place, so readers see the old index or the new one, and
two rebuilds running at once write the same content.

Rows of ``runs.csv`` whose cell has no rows file (results copied from elsewhere, or a folder
written by an older version) are kept as they are: nothing computed is dropped by a rebuild.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from byolbench.atomic import write_text
from byolbench.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

RESULT_COLUMNS = (
    "timestamp",
    "cell_id",
    "config_hash",
    "config_group",
    "source",
    "dataset",
    "eval_dataset",
    "backbone",
    "augmentation",
    "recipe",
    "seed",
    "method",
    "protocol",
    "variant",
    "top1",
    "top5",
    "rankme",
    "protocol_details",
    "epochs",
    "steps",
    "time_budget",
    "batch_size",
    "image_size",
    "pretrain_samples",
    "train_samples",
    "pretrain_seconds",
    "eval_seconds",
    "images_per_second",
    "mixed_precision",
    "device",
    "num_processes",
    "settings",
    "byolbench_version",
    "git_commit",
    "run_dir",
)
RUNS_FILE = "runs.csv"
FAILURES_FILE = "failures.csv"
ROWS_FILE = "eval.json"
ERROR_FILE = "error.json"
RUNS_DIR = "runs"
FAILURE_COLUMNS = ("timestamp", "cell_id", "config_hash", "dataset", "backbone", "seed", "error")
# A temporary file of an atomic write older than this was left by a killed process.
STALE_TEMP_SECONDS = 600


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _format(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else "nan"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """``rows`` as CSV with a header; keys outside ``columns`` are ignored, missing ones empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(row.get(k, "")) for k in columns})
    return buffer.getvalue()


def write_json(path: Path, payload: Any) -> None:
    """Atomically writes pretty JSON."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Reads JSON written by ``write_json``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _read_record(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or ``None`` when it is missing, truncated or not an object."""
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as strings (empty when the file is missing).

    Raises:
        DataError: When the file exists but is not readable CSV text.
    """
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
        return list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(
            f"{path} is not a readable results CSV ({exc}); move it aside and run "
            "`byolbench status` to rebuild it from the run folders"
        ) from exc


def remove_stale_temporaries(folder: Path, max_age: float = STALE_TEMP_SECONDS) -> int:
    """Deletes temporary files of atomic writes (``.<name>.*.tmp``) left by killed processes.

    Only files older than ``max_age`` seconds go, so another process's write in progress is
    never touched. Returns how many were removed.
    """
    removed = 0
    now = time.time()
    try:
        candidates = list(folder.glob(".*.tmp"))
    except OSError:
        return 0
    for path in candidates:
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


class ResultsStore:
    """``results_dir/runs/<cell_id>/{eval,error}.json`` and the indexes built from them.

    Args:
        results_dir: The results folder (``results/`` by default).
    """

    def __init__(self, results_dir: Path) -> None:
        self.root = Path(results_dir)

    @property
    def runs_csv(self) -> Path:
        """Path of ``runs.csv``."""
        return self.root / RUNS_FILE

    @property
    def failures_csv(self) -> Path:
        """Path of ``failures.csv``."""
        return self.root / FAILURES_FILE

    def run_dir(self, cell_id: str) -> Path:
        """The folder of one cell."""
        return self.root / RUNS_DIR / cell_id

    def cell_ids(self) -> list[str]:
        """Names of every cell folder, sorted."""
        runs = self.root / RUNS_DIR
        if not runs.is_dir():
            return []
        return sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))

    # -- one cell -------------------------------------------------------------------------

    def cell_record(self, cell_id: str) -> dict[str, Any] | None:
        """The cell's ``eval.json`` record (``config_hash``, ``rows``), or ``None``."""
        record = _read_record(self.run_dir(cell_id) / ROWS_FILE)
        if record is None or not isinstance(record.get("rows"), list):
            return None
        return record

    def cell_rows(self, cell_id: str, config_hash: str) -> list[dict[str, Any]] | None:
        """The stored rows of a finished cell with this config hash, else ``None``."""
        record = self.cell_record(cell_id)
        if record is None or str(record.get("config_hash")) != config_hash:
            return None
        return list(record["rows"])

    def write_cell_rows(
        self,
        cell_id: str,
        config_hash: str,
        rows: Sequence[dict[str, Any]],
        rebuild: bool = True,
    ) -> None:
        """Writes a finished cell's rows (atomically, replacing any earlier ones of the cell),
        clears its failure record and, by default, rebuilds the indexes."""
        write_json(
            self.run_dir(cell_id) / ROWS_FILE,
            {"config_hash": config_hash, "cell_id": cell_id, "rows": list(rows)},
        )
        self.clear_failure(cell_id)
        if rebuild:
            self.rebuild_index()

    def indexed_rows(self, cell_id: str, config_hash: str) -> list[dict[str, str]]:
        """Rows of this cell and config hash that ``runs.csv`` holds (to restore a lost
        ``eval.json`` without training again)."""
        return [
            row
            for row in _read_csv_rows(self.runs_csv)
            if row.get("cell_id") == cell_id and row.get("config_hash") == config_hash
        ]

    def record_failure(self, cell_id: str, failure: dict[str, Any], traceback: list[str]) -> None:
        """Writes the cell's ``error.json`` (the failure row and its traceback)."""
        write_json(self.run_dir(cell_id) / ERROR_FILE, {**failure, "traceback": traceback})

    def clear_failure(self, cell_id: str) -> None:
        """Removes the cell's ``error.json`` (it succeeded since)."""
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir(cell_id) / ERROR_FILE).unlink()

    def failure(self, cell_id: str) -> dict[str, Any] | None:
        """The cell's current failure record, or ``None``."""
        return _read_record(self.run_dir(cell_id) / ERROR_FILE)

    # -- indexes --------------------------------------------------------------------------

    def collect_rows(self) -> list[dict[str, Any]]:
        """Every result row: from each cell's rows file, plus rows of ``runs.csv`` whose cell
        has no rows file; ordered by timestamp (stable)."""
        rows: list[dict[str, Any]] = []
        with_files: set[str] = set()
        for cell_id in self.cell_ids():
            record = self.cell_record(cell_id)
            if record is None:
                continue
            with_files.add(cell_id)
            rows.extend(row for row in record["rows"] if isinstance(row, dict))
        rows.extend(
            row for row in _read_csv_rows(self.runs_csv) if row.get("cell_id") not in with_files
        )
        return sorted(rows, key=lambda row: str(row.get("timestamp", "")))

    def current_failures(self) -> list[dict[str, Any]]:
        """Failure records of cells that failed and have not succeeded since."""
        found = []
        for cell_id in self.cell_ids():
            failure = self.failure(cell_id)
            if failure is None:
                continue
            finished = self.cell_record(cell_id)
            if finished is not None and finished.get("config_hash") == failure.get("config_hash"):
                continue
            found.append({k: failure.get(k, "") for k in FAILURE_COLUMNS})
        return sorted(found, key=lambda row: str(row.get("timestamp", "")))

    def rebuild_index(self) -> int:
        """Rewrites ``runs.csv`` and ``failures.csv`` from the run folders; returns the number
        of result rows. Temporary files that killed rewrites left behind are removed."""
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.root)
        rows = self.collect_rows()
        if rows or self.runs_csv.exists():
            write_text(self.runs_csv, csv_text(RESULT_COLUMNS, rows))
        failures = self.current_failures()
        if failures:
            write_text(self.failures_csv, csv_text(FAILURE_COLUMNS, failures))
        elif self.failures_csv.exists():
            self.failures_csv.unlink()
        return len(rows)

    def read(self, fill_missing: bool = True) -> pd.DataFrame:
        """All rows of ``runs.csv`` (an empty frame when there are none).

        Args:
            fill_missing: Add every result column a file lacks (files of older versions),
                empty.
        """
        import pandas as pd

        if not self.runs_csv.is_file():
            return pd.DataFrame(columns=list(RESULT_COLUMNS))
        try:
            frame = pd.read_csv(self.runs_csv)
        except pd.errors.EmptyDataError:
            return pd.DataFrame(columns=list(RESULT_COLUMNS))
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise DataError(f"{self.runs_csv} is not a readable results CSV ({exc})") from exc
        for column in RESULT_COLUMNS if fill_missing else ():
            if column not in frame.columns:
                frame[column] = pd.NA
        return frame

    def read_failures(self) -> pd.DataFrame:
        """Current failures (from the run folders, so never a cell that succeeded since)."""
        import pandas as pd

        return pd.DataFrame(self.current_failures(), columns=list(FAILURE_COLUMNS))


def is_writable_dir(path: Path) -> bool:
    """Whether ``path`` is (or can become) a folder this process may write into."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
