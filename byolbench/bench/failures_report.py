"""The failures a report shows: cells that failed and have not succeeded since."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from byolbench.atomic import write_text
from byolbench.bench.store import ResultsStore

FAILURES_REPORT = "failures.md"


def current_failures(results_dir: Path) -> list[dict[str, Any]]:
    """Failure records of the cells under ``results_dir`` that are still failed."""
    return ResultsStore(results_dir).current_failures()


def failures_markdown(failures: list[dict[str, Any]]) -> str:
    """A Markdown list of the failures (cell, when, first line of the error)."""
    lines = [f"# Failed cells ({len(failures)})\n"]
    lines += [f"- `{f['cell_id']}` ({f['timestamp']}): {f['error']}" for f in failures]
    return "\n".join(lines) + "\n"


def write_failures(failures: list[dict[str, Any]], out_dir: Path) -> Path | None:
    """Writes ``failures.md`` into ``out_dir`` when there are failures (removes a stale one
    otherwise); returns its path or ``None``."""
    path = Path(out_dir) / FAILURES_REPORT
    if not failures:
        path.unlink(missing_ok=True)
        return None
    write_text(path, failures_markdown(failures))
    return path
