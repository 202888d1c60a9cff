"""What runs inside a SLURM job: one cell, through the same ``run_cell`` as a local run.

Each of the job's tasks (one per GPU, on every node) is one Accelerate process: the job
exports ``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from SLURM's variables
(submitit's ``TorchDistributedEnvironment``) and Accelerate builds the process group.

Stopping and resuming, with submitit's checkpointing:

* SLURM's warning signal (``USR2``, sent ``signal_delay`` seconds before the time limit, or by
  ``scancel --signal=USR2``) during training makes the trainer finish its step and write a
  checkpoint; then submitit's handler calls ``CellJob.checkpoint`` (which resubmits the same
  cell) and requeues the job. Outside training (loading data, evaluating) the job is requeued
  at once.
* ``SIGTERM`` (preemption, ``scontrol requeue``, ``scancel``) also makes the trainer write a
  checkpoint; SLURM itself requeues (or ends) the job.

The requeued job claims its own cell again (a claim written by the same SLURM job is stale)
and resumes from the newest checkpoint. A cell's rows are written once, at its end.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import submitit

from byolbench.bench.matrix import Cell
from byolbench.bench.runner import RunCallbacks, RunOptions, record_failure, run_cell
from byolbench.bench.store import ResultsStore
from byolbench.errors import TrainingInterrupted
from byolbench.train.accel import use_cpu

logger = logging.getLogger(__name__)

WARNING_SIGNAL = signal.SIGUSR2
# Exit status of a job stopped by SIGTERM after its checkpoint (128 + SIGTERM).
EXIT_STOPPED = 143

Handler = Callable[[int, FrameType | None], Any]


class PreemptionRelay:
    """Turns SLURM's warning signal into a graceful stop, then hands over to submitit.

    While the trainer trains it owns ``SIGTERM`` (finish the step, checkpoint, raise
    ``TrainingInterrupted``); the warning signal is passed to that handler. At any other time
    the warning goes straight to submitit's handler (``checkpoint`` and requeue).

    Args:
        requeue: submitit's handler of the warning signal (``checkpoint_and_try_requeue``);
            ``None`` takes the one installed now.
    """

    def __init__(self, requeue: Handler | None = None) -> None:
        installed = signal.getsignal(WARNING_SIGNAL)
        self._requeue = requeue if requeue is not None else installed
        self._idle_term = signal.getsignal(signal.SIGTERM)
        self.signalled = False

    def install(self) -> PreemptionRelay:
        """Takes over the warning signal."""
        signal.signal(WARNING_SIGNAL, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = True
        stop = signal.getsignal(signal.SIGTERM)
        if callable(stop) and stop != self._idle_term:
            logger.warning("SLURM's warning signal: stopping after this step to checkpoint")
            stop(signal.SIGTERM, frame)
        else:
            self.requeue(frame)

    def requeue(self, frame: FrameType | None = None) -> None:
        """Runs submitit's checkpoint-and-requeue (which exits the process)."""
        if callable(self._requeue):
            self._requeue(WARNING_SIGNAL, frame)
        else:
            logger.warning("no requeue handler is installed: the job ends; rerun to resume")


def export_distributed_env() -> int:
    """Exports torch.distributed's variables for a job of several tasks; returns the number
    of processes."""
    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(
            set_cuda_visible_devices=False, overwrite=True
        )
    return int(env.num_tasks)


def _main_process(cpu: bool) -> bool:
    from accelerate import PartialState

    return bool(PartialState(cpu=use_cpu(cpu)).is_main_process)


def _setup_job_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("byolbench")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("accelerate", "timm"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


class CellJob(submitit.helpers.Checkpointable):
    """One cell as a submitit job; ``checkpoint`` resubmits the same cell, which resumes from
    its newest training checkpoint.

    Args:
        cell: The cell.
        options: How to run it (``results_dir`` absolute, shared by every node).
    """

    def __init__(self, cell: Cell, options: RunOptions) -> None:
        self.cell = cell
        self.options = options

    def __call__(self) -> dict[str, Any]:
        """Runs the cell; returns its outcome (``status``, rows, error)."""
        _setup_job_logging()
        processes = export_distributed_env()
        relay = PreemptionRelay().install()
        store = ResultsStore(self.options.results_dir)
        cell = self.cell
        logger.info("cell %s in %d process(es)", cell.cell_id, processes)
        try:
            outcome = run_cell(cell, store, self.options, RunCallbacks())
        except TrainingInterrupted as exc:
            logger.warning("%s: %s", cell.cell_id, exc)
            if relay.signalled:
                relay.requeue()
            sys.exit(EXIT_STOPPED)
        except Exception as exc:
            if _main_process(self.options.cpu):
                message = record_failure(store, cell, exc)
                logger.error("cell %s failed: %s", cell.cell_id, message.splitlines()[0])
            raise
        if outcome.status == "done" and _main_process(self.options.cpu):
            logger.info(
                "cell %s: %d rows written to %s",
                cell.cell_id,
                len(outcome.rows),
                store.run_dir(cell.cell_id) / "eval.json",
            )
        elif outcome.status != "done":
            logger.info("cell %s: %s %s", cell.cell_id, outcome.status, outcome.error)
        return {"cell_id": cell.cell_id, "status": outcome.status, "rows": len(outcome.rows)}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Called by submitit before it requeues the job: the same cell again (the trainer's
        checkpoint on disk holds the progress)."""
        logger.info("requeueing cell %s; it resumes from its newest checkpoint", self.cell.cell_id)
        return submitit.helpers.DelayedSubmission(CellJob(self.cell, self.options))
