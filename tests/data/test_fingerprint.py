import hashlib
import logging
import os
import time

import pytest

from byolbench.data import fingerprint
from byolbench.data.fingerprint import file_digests, folder_fingerprint, memo_file


def _write(root, names, content=b"x"):
    files = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content + name.encode())
        files.append(path)
    return files


def _age(files, seconds=100):
    """Moves modification times into the past, as for files that have settled."""
    past = time.time() - seconds
    for path in files:
        os.utime(path, (past, past))


@pytest.fixture
def reads(monkeypatch):
    """Records every file whose bytes are hashed."""
    seen = []
    real = fingerprint.sha256_file

    def counting(path):
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(fingerprint, "sha256_file", counting)
    return seen


def test_digests_are_the_files_sha256(tmp_path):
    files = _write(tmp_path / "data", ["a/1.png", "b/2.png"])
    expected = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert file_digests(tmp_path / "data", files, None) == expected
    assert file_digests(tmp_path / "data", files, tmp_path / "cache") == expected


def test_unchanged_files_are_not_read_again(tmp_path, reads):
    root, cache = tmp_path / "data", tmp_path / "cache"
    files = _write(root, ["a/1.png", "a/2.png", "b/3.png"])
    _age(files)
    first = folder_fingerprint(root, files, [0, 0, 1], "s", cache)
    assert sorted(reads) == ["1.png", "2.png", "3.png"] and memo_file(cache, root).is_file()

    reads.clear()
    assert folder_fingerprint(root, files, [0, 0, 1], "s", cache) == first
    assert reads == []  # one stat per file, no bytes read

    files[1].write_bytes(b"y" + files[1].read_bytes()[1:])  # same size, new content
    _age(files[1:2], seconds=50)
    changed = folder_fingerprint(root, files, [0, 0, 1], "s", cache)
    assert reads == ["2.png"] and changed != first


def test_recently_written_files_are_not_remembered(tmp_path, reads):
    root, cache = tmp_path / "data", tmp_path / "cache"
    files = _write(root, ["a/1.png", "a/2.png"])
    _age(files[:1])
    file_digests(root, files, cache)
    reads.clear()
    file_digests(root, files, cache)
    assert reads == ["2.png"]  # its time stamp could still be reused by another write


def test_labels_paths_and_settings_change_the_fingerprint(tmp_path):
    root = tmp_path / "data"
    files = _write(root, ["a/1.png", "b/2.png"])
    base = folder_fingerprint(root, files, [0, 1], "v:32:3", None)
    assert folder_fingerprint(root, files, [1, 0], "v:32:3", None) != base
    assert folder_fingerprint(root, files, [0, 1], "v:64:3", None) != base
    moved = root / "c" / "1.png"
    moved.parent.mkdir()
    files[0].rename(moved)
    assert folder_fingerprint(root, [moved, files[1]], [0, 1], "v:32:3", None) != base


def test_damaged_memo_is_ignored_with_a_warning(tmp_path, caplog):
    root, cache = tmp_path / "data", tmp_path / "cache"
    files = _write(root, ["a/1.png"])
    memo = memo_file(cache, root)
    memo.parent.mkdir(parents=True)
    memo.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        digests = file_digests(root, files, cache)
    assert digests == [hashlib.sha256(files[0].read_bytes()).hexdigest()]
    assert "ignoring unreadable digest memo" in caplog.text
