"""Atomic file writes: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from byolbench.errors import StorageError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path next to ``path``; renames it onto ``path`` on success.

    Readers see either the old file or the complete new one, never a partial write. On an
    exception the temporary file is removed and ``path`` is untouched; a failed write (disk
    full, read-only folder) is a ``StorageError`` naming ``path``.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(
            f"could not write {target}: {exc.strerror or exc} (an earlier version of the file, "
            "if any, is unchanged); free disk space or fix the folder's permissions, then run "
            "the command again",
            exc.errno,
        ) from exc
    finally:
        if tmp is not None and tmp.exists():
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically writes ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically writes ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
