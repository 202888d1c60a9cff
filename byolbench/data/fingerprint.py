"""Content digests of a folder's files, remembered between runs.

Each file's SHA-256 is kept in a small JSON memo in the data directory's cache, next to its
size and modification time. On the next load a file whose size and modification time are
unchanged reuses its digest; only new or changed files are read again. So a cached load of
a large folder costs one ``stat`` per file instead of reading every byte.

A file modified within ``SETTLE_SECONDS`` of being hashed is not remembered (its time stamp
could be reused by a second write in the same tick), the rule git uses for its index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from byolbench.atomic import write_text
from byolbench.hashing import sha256_file

logger = logging.getLogger(__name__)

MEMO_FORMAT = 1
SETTLE_SECONDS = 2.0
READ_THREADS = 4


def memo_file(cache_dir: Path, root: Path) -> Path:
    """Where the digests of the files below ``root`` are remembered."""
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"digests-{tag}.json"


def _read_memo(path: Path) -> dict[str, list]:
    if not path.is_file():
        return {}
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
        if memo.get("format") == MEMO_FORMAT and isinstance(memo.get("files"), dict):
            return memo["files"]
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("ignoring unreadable digest memo %s (%s)", path, exc)
    return {}


def file_digests(root: Path, files: Sequence[Path], cache_dir: Path | None) -> list[str]:
    """SHA-256 of each file, reusing remembered digests of unchanged files.

    Args:
        root: Folder the files lie below; memo entries are keyed by the path relative to it.
        files: The files, in the order the digests are returned.
        cache_dir: Folder for the memo; ``None`` reads every file and remembers nothing.
    """
    memo_path = memo_file(cache_dir, root) if cache_dir is not None else None
    memo = _read_memo(memo_path) if memo_path is not None else {}
    names = [str(path.relative_to(root)) for path in files]
    stats = [path.stat() for path in files]
    digests: list[str | None] = []
    for name, stat in zip(names, stats, strict=True):
        entry = memo.get(name)
        fresh = (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[:2] == [stat.st_size, stat.st_mtime_ns]
        )
        digests.append(entry[2] if fresh else None)
    missing = [i for i, digest in enumerate(digests) if digest is None]
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        read = pool.map(sha256_file, [files[i] for i in missing])
        for i, digest in zip(missing, read, strict=True):
            digests[i] = digest
    if memo_path is not None and missing:
        settled = time.time_ns() - int(SETTLE_SECONDS * 1e9)
        remembered = {
            name: [stat.st_size, stat.st_mtime_ns, digest]
            for name, stat, digest in zip(names, stats, digests, strict=True)
            if stat.st_mtime_ns < settled
        }
        try:
            write_text(memo_path, json.dumps({"format": MEMO_FORMAT, "files": remembered}))
        except OSError as exc:
            logger.warning("could not write digest memo %s (%s)", memo_path, exc)
    return [digest for digest in digests if digest is not None]


def folder_fingerprint(
    root: Path, files: Sequence[Path], labels: Sequence[int], settings: str, cache_dir: Path | None
) -> str:
    """One hash of the files' relative paths, labels and content digests, and ``settings``."""
    overall = hashlib.sha256(settings.encode())
    for path, label, digest in zip(
        files, labels, file_digests(root, files, cache_dir), strict=True
    ):
        overall.update(str(path.relative_to(root)).encode())
        overall.update(label.to_bytes(8, "little", signed=True))
        overall.update(bytes.fromhex(digest))
    return overall.hexdigest()[:20]
