"""Ctrl-C and SIGTERM outside the training loop: the same message and resume hint as inside it.

The trainer turns the first Ctrl-C or SIGTERM into a checkpoint and a ``TrainingInterrupted``.
Around it (start-up, data loading, evaluation, writing results, between cells) SIGTERM is
turned into ``KeyboardInterrupt`` (``sigterm_as_interrupt``), and each stage turns that into a
``TrainingInterrupted`` saying what was being done, what is kept and how to resume
(``interruptible``), so a SLURM preemption reads like a Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from byolbench.errors import TrainingInterrupted

RESUME_HINT = "run the same command again to resume"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interruptible(doing: str, kept: str) -> Iterator[None]:
    """Turns a ``KeyboardInterrupt`` in the block into ``TrainingInterrupted``.

    Args:
        doing: What was being done, e.g. ``"evaluating cell X"``.
        kept: What is kept for the rerun, e.g. ``"its pretrained weights are saved"``.
    """
    try:
        yield
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"stopped while {doing}; {kept}; {RESUME_HINT}") from None


@contextlib.contextmanager
def signals_held() -> Iterator[list[int]]:
    """Within the block a first Ctrl-C or SIGTERM is noted in the yielded list, not raised.

    For short steps that must happen together or not at all (claiming a cell and opening its
    session): the caller raises ``KeyboardInterrupt`` after the block when the list is not
    empty. A second signal inside the block raises at once, so a hung step can still be left.
    Outside the main thread signals are left alone.
    """
    arrived: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        del frame
        if arrived:
            raise KeyboardInterrupt
        arrived.append(signum)

    try:
        previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield arrived
        return
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
