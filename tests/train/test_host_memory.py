"""Freed host memory kept for reuse: a step's buffers stay in the process instead of being
handed back to the kernel and faulted in again (page faults per step: ``preset_step.py``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from byolbench.config import RunConfig
from byolbench.train import trainer as trainer_module
from byolbench.train.accel import make_accelerator
from byolbench.train.host_memory import glibc_version
from byolbench.train.trainer import Trainer
from tests.train.helpers import tiny_config

# In a fresh process: where glibc's malloc puts blocks of a step's size, read from mallinfo2
# (glibc >= 2.33): bytes in mmapped blocks (``hblkhd``, handed back to the kernel when freed) and
# bytes of the heap (``arena``) left after three freed 12 MiB blocks (kept, or trimmed away).
MALLOC_STATE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "reuse":
    from byolbench.train.host_memory import reuse_freed_memory
    assert reuse_freed_memory()
MIB = 2**20
before = libc.mallinfo2().hblkhd
block = libc.malloc(16 * MIB)
mmapped = libc.mallinfo2().hblkhd - before
libc.free(block)
blocks = [libc.malloc(12 * MIB) for _ in range(3)]
for block in blocks:
    libc.free(block)
print(mmapped // MIB, libc.mallinfo2().arena // MIB)
"""


def _malloc_state(mode: str) -> tuple[int, int]:
    """MiB of a 16 MiB block that were mmapped, and MiB of heap after the freed blocks."""
    done = subprocess.run(
        [sys.executable, "-c", MALLOC_STATE, mode], capture_output=True, text=True, check=True
    )
    mmapped, heap = done.stdout.split()
    return int(mmapped), int(heap)


def _has_mallinfo2() -> bool:
    version = glibc_version()
    return version is not None and tuple(int(p) for p in version.split(".")[:2]) >= (2, 33)


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc >= 2.33 only (Linux): mallinfo2")
def test_freed_blocks_stay_in_the_heap_for_the_next_step():
    mmapped, heap = _malloc_state("default")
    assert mmapped >= 16 and heap < 36  # unmapped or trimmed: faulted in again when reused
    mmapped, heap = _malloc_state("reuse")
    assert mmapped == 0 and heap >= 36  # from the heap, and kept there once freed


@pytest.mark.parametrize("reuse", [True, False])
def test_trainer_keeps_freed_memory_only_when_set(tiny_splits, reuse, monkeypatch):
    calls: list[bool] = []
    monkeypatch.setattr(trainer_module, "reuse_freed_memory", lambda: calls.append(True))
    config = tiny_config(**{"train.max_steps": 1, "train.reuse_freed_memory": reuse})
    Trainer(config, tiny_splits, make_accelerator("no", cpu=True), None).fit()
    assert calls == ([True] if reuse else [])


def test_reuse_does_not_change_the_configuration_hash():
    on = RunConfig().replace({"train.reuse_freed_memory": True})
    off = RunConfig().replace({"train.reuse_freed_memory": False})
    assert on.config_hash() == off.config_hash()
