"""Freed host memory kept for reuse by glibc's malloc, so CPU steps stop faulting pages in.

A training step on the CPU allocates and frees the same activation buffers every step. By
default glibc's malloc hands large freed blocks back to the kernel: blocks above its mmap
threshold are unmapped, and free memory at the top of the heap beyond the trim threshold is
released. The next step's buffers then arrive as fresh pages that the kernel faults in and
zeroes one page at a time. Fixing both thresholds high keeps the blocks in the process for the
next step (the advice of PyTorch's CPU performance guides, which reach it by preloading jemalloc
or tcmalloc; glibc reaches it with two ``mallopt`` calls). On the quick preset's step (two
threads, AVX-512 BF16 AMD EPYC) page faults fell from 12,500-14,000 a step to 2-7 and the CPU
time of a step by a sixth to a quarter (``benchmarks/README.md``, "Freed memory kept for
reuse"). The cost: the process keeps its peak heap instead of shrinking between steps.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys

logger = logging.getLogger(__name__)

# glibc's malloc.h parameter numbers.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit platforms (DEFAULT_MMAP_THRESHOLD_MAX): blocks up
# to this size come from the heap, where freed ones are reused.
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
# mallopt takes an int: the largest keeps the freed top of the heap.
TRIM_THRESHOLD_MAX = 2**31 - 1


def glibc_version() -> str | None:
    """The running glibc's version (``"2.36"``), or ``None`` off Linux or on another libc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        name, _, version = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")
    except (AttributeError, ValueError, OSError):
        return None
    return version if name == "glibc" and version else None


@functools.cache
def reuse_freed_memory() -> bool:
    """Makes glibc's malloc keep freed memory for reuse (once per process).

    Returns:
        Whether it applied: ``False`` on other platforms and libcs, which keep their default.
    """
    if glibc_version() is None:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_MAX) == 1
    )
    if not applied:
        logger.debug("glibc's mallopt refused the thresholds; freed memory is not kept")
    return applied
