"""Cell claims: a live holder keeps its cell; a dead one, or a pid reused by a later process
after a kill, gives it up."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from byolbench.bench.claim import (
    CLAIM_FILE,
    Claim,
    ClaimHolder,
    process_alive,
    process_created,
    read_holder,
    try_claim,
)


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen]:
    """A live process on this host that is not the test's own."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def _claim_of(run_dir: Path, pid: int, created: float | None) -> None:
    """Writes a claim as process ``pid`` (started at ``created``) would have."""
    assert isinstance(try_claim(run_dir), Claim)
    path = run_dir / CLAIM_FILE
    record = json.loads(path.read_text())
    assert record["pid"] == os.getpid()
    assert record["process_created"] == process_created(os.getpid())
    record.update(pid=pid, process_created=created)
    path.write_text(json.dumps(record))


def test_a_live_holder_keeps_its_cell(tmp_path, other_process):
    _claim_of(tmp_path, other_process.pid, process_created(other_process.pid))
    holder = try_claim(tmp_path)
    assert isinstance(holder, ClaimHolder) and holder.pid == other_process.pid


def test_a_claim_without_start_time_is_judged_by_its_pid(tmp_path, other_process):
    _claim_of(tmp_path, other_process.pid, None)  # written by an earlier version
    assert isinstance(try_claim(tmp_path), ClaimHolder)
    other_process.kill()
    other_process.wait(timeout=30)
    assert isinstance(try_claim(tmp_path), Claim)


def test_a_reused_pid_does_not_hold_the_cell(tmp_path, other_process):
    # the claim's writer was killed and a later process got its pid
    _claim_of(tmp_path, other_process.pid, process_created(other_process.pid) - 60.0)
    assert not process_alive(other_process.pid, read_holder(tmp_path).process_created)
    claim = try_claim(tmp_path)
    assert isinstance(claim, Claim)
    assert json.loads(claim.path.read_text())["pid"] == os.getpid()


def test_a_dead_pid_does_not_hold_the_cell(tmp_path, other_process):
    created = process_created(other_process.pid)
    other_process.kill()
    other_process.wait(timeout=30)
    assert process_created(other_process.pid) is None
    _claim_of(tmp_path, other_process.pid, created)
    assert isinstance(try_claim(tmp_path), Claim)


def test_process_alive_rejects_impossible_pids():
    assert not process_alive(-1) and not process_alive(0) and not process_alive(2**22 + 12345)
    assert process_alive(os.getpid(), process_created(os.getpid()))
