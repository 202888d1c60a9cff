"""Run one measurement in a fresh process, tied to the script that started it.

Each timed run gets its own process (its own oneDNN caches, allocator and threads). Two
failure modes made earlier figures wrong or hung a script:

* the child dies (an exception, the OOM killer): the parent waited forever for its result;
* the parent is killed (``kill``, a closed terminal): the child trained on, alone, for the rest
  of its budget, and shared the cores with whatever ran next, halving that run's steps.

``run_isolated`` stops with a one-line ``SystemExit`` in the first case, and in the second the
child notices within a second that its parent is gone and exits. Ctrl-C in the parent also
stops the child.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from multiprocessing.connection import wait
from queue import Empty
from typing import Any

POLL_SECONDS = 1.0


def _exit_with_parent() -> None:
    """In the child: a daemon thread that ends the process once the parent is gone."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _child(fn: Any, args: dict[str, Any], queue: Any) -> None:
    _exit_with_parent()
    queue.put(fn(args))


def run_isolated(fn: Any, args: dict[str, Any]) -> Any:
    """``fn(args)`` in a fresh, non-daemonic process (it may start DataLoader workers).

    ``fn`` must be importable by name (a module-level function): the process is spawned.

    Raises:
        SystemExit: When the child dies without a result (its traceback is printed above).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, args, queue))
    process.start()
    try:
        while True:
            try:
                result = queue.get(timeout=POLL_SECONDS)
                break
            except Empty as waited:  # a child that died never puts its result
                if not process.is_alive():
                    failed = f"{fn.__name__} failed in its process (see the traceback above)"
                    raise SystemExit(failed) from waited
        process.join()
        return result
    finally:
        if process.is_alive():  # interrupted while waiting: the measurement goes too
            process.terminate()
            process.join()
