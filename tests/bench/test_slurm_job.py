"""What runs inside a SLURM job, in this process with SLURM's variables set: the warning
signal during training checkpoints and hands over to submitit's requeue, SIGTERM checkpoints
and exits, and the next run of the same job resumes and writes the rows once."""

import json
import logging
import os
import signal
import threading
import time

import pytest

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions
from byolbench.bench.store import ResultsStore
from byolbench.config import parse_overrides
from tests.export_helpers import write_image_folder

submitit = pytest.importorskip("submitit")

from byolbench.bench.slurm.job import EXIT_STOPPED, CellJob, PreemptionRelay  # noqa: E402


@pytest.fixture
def slurm_env(monkeypatch):
    """This process looks like task 0 of SLURM job 4242 started by submitit."""
    for key, value in {
        "SUBMITIT_EXECUTOR": "slurm",
        "SLURM_JOB_ID": "4242",
        "SLURM_NTASKS": "1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    logger = logging.getLogger("byolbench")
    handlers, level = logger.handlers[:], logger.level
    previous = {s: signal.getsignal(s) for s in (signal.SIGUSR2, signal.SIGTERM)}
    yield
    logger.handlers[:], logger.level = handlers, level
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _cell(tmp_path):
    data = write_image_folder(tmp_path / "data", classes=4, train=8, test=2, size=16)
    spec = MatrixSpec(["test_resnet"], [f"imagefolder:{data}"])
    spec.cli = {"train.epochs": 8, "train.batch_size": 4, "train.mixed_precision": "no"}
    spec.sets = parse_overrides(
        [
            "model.projector_hidden_dim=16",
            "model.predictor_hidden_dim=16",
            "model.projector_dim=8",
            "eval.protocols=knn",
            "eval.knn_sweep=",
            "eval.random_baseline=false",
            "train.log_every=1",
            "train.checkpoint_every=0",
        ]
    )
    return expand(spec)[0]


def _signal_at_step(run_dir, signum, step=3):
    """Sends ``signum`` to this process once ``metrics.jsonl`` reaches ``step``."""

    def watch():
        deadline = time.time() + 120
        path = run_dir / "metrics.jsonl"
        while time.time() < deadline:
            if path.is_file() and len(path.read_text().splitlines()) >= step:
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _steps(run_dir):
    """Steps of the loss records (other records, e.g. RankMe, share steps with them)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [record["step"] for record in records if "loss" in record]


def _stop_then_resume(tmp_path, signum, requeue):
    cell = _cell(tmp_path)
    options = RunOptions(results_dir=tmp_path / "results", cpu=True)
    store = ResultsStore(options.results_dir)
    run_dir = store.run_dir(cell.cell_id)
    job = CellJob(cell, options)
    signal.signal(signal.SIGUSR2, requeue(job))
    watcher = _signal_at_step(run_dir, signum)
    with pytest.raises(SystemExit) as stopped:
        job()
    watcher.join()
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
    assert checkpoints, "the stop wrote no checkpoint"
    assert store.cell_record(cell.cell_id) is None  # no rows before the cell ends
    stopped_at = int(checkpoints[-1].name.split("-")[1])
    assert 3 <= stopped_at < 64
    assert not (run_dir / "claim.json").exists()  # released on the way out
    # as if the job had been killed on another node: its claim stays behind, and the requeued
    # job (same SLURM job id) takes it over instead of waiting half an hour for it to go stale
    left = {"host": "node-gone", "pid": 1, "started": "?", "slurm_job": "4242"}
    (run_dir / "claim.json").write_text(json.dumps(left))

    signal.signal(signal.SIGUSR2, requeue(job))
    outcome = CellJob(cell, options)()  # the requeued job: same SLURM job id
    assert outcome == {"cell_id": cell.cell_id, "status": "done", "rows": 1}
    assert _steps(run_dir) == list(range(1, 65))  # each step once: resumed, not restarted
    rows = store.read()
    assert len(rows) == 1 and int(rows["steps"].iloc[0]) == 64
    return stopped.value.code, stopped_at


def test_warning_signal_checkpoints_then_submitit_requeues(tmp_path, slurm_env, caplog):
    caplog.set_level(logging.INFO, logger="byolbench")
    requeued = []

    def requeue(job):
        def handler(signum, frame):  # what submitit's checkpoint_and_try_requeue does
            requeued.append(job.checkpoint())
            raise SystemExit(255)

        return handler

    code, stopped_at = _stop_then_resume(tmp_path, signal.SIGUSR2, requeue)
    assert code == 255 and len(requeued) == 1
    delayed = requeued[0]
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert isinstance(delayed.function, CellJob) and delayed.function.cell.cell_id
    assert f"(step {stopped_at})" in caplog.text  # "resumed from .../step-N (step N)"
    assert caplog.text.count("1 rows written") == 1


def test_sigterm_checkpoints_and_exits_without_requeue(tmp_path, slurm_env):
    requeued = []

    def requeue(job):
        return lambda signum, frame: requeued.append(signum)

    code, _ = _stop_then_resume(tmp_path, signal.SIGTERM, requeue)
    assert code == EXIT_STOPPED and requeued == []  # SLURM itself requeues on SIGTERM


def test_warning_outside_training_requeues_at_once(slurm_env):
    calls = []
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    relay = PreemptionRelay(requeue=lambda signum, frame: calls.append("requeue")).install()
    relay._handle(signal.SIGUSR2, None)
    assert calls == ["requeue"] and relay.signalled

    stops = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stops.append(signum))  # the trainer's
    relay._handle(signal.SIGUSR2, None)
    assert stops == [signal.SIGTERM] and calls == ["requeue"]  # the trainer stops first
