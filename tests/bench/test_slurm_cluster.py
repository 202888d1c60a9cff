"""``--executor slurm`` against a real SLURM cluster (``.ci/start-slurm.sh`` starts a one-node
one): a 4-cell CPU matrix submitted as a job array and followed with ``--wait``; one job
requeued (SIGTERM) and one warned (USR2, submitit's checkpoint-and-requeue) mid-training, both
resuming from their checkpoints; a failing cell; ``byolbench status`` through the states.

Runs wherever ``sbatch`` is on PATH, and only there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from byolbench.bench.slurm.queue import queued_jobs
from byolbench.bench.status import folder_status
from byolbench.bench.store import ResultsStore
from byolbench.cli.main import app
from tests.bench.folders import write_corrupt_folder

pytestmark = pytest.mark.skipif(
    shutil.which("sbatch") is None,
    reason="needs SLURM's sbatch on PATH (sudo .ci/start-slurm.sh starts a one-node cluster)",
)

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2, 3)
# long enough that a preemption seen at step 3 still lands mid-training on a loaded 2-core
# machine (observing and signalling can take several seconds there)
TRAIN_SAMPLES = 2048
STEPS = TRAIN_SAMPLES // 16  # max_train_samples // batch_size, one epoch
PREEMPT_AT_STEP = 3
# seed -> how its job is interrupted mid-training
PREEMPT = {0: "requeue", 1: "usr2"}
DEADLINE_SECONDS = 480

MATRIX = """
[matrix]
backbones = ["test_resnet"]
datasets = [{datasets}]
seeds = [{seeds}]

[defaults]
data.max_train_samples = {train_samples}
data.image_size = 16
train.epochs = 1
train.batch_size = 16
train.mixed_precision = "no"
train.log_every = 1
train.checkpoint_every = 4
model.projector_hidden_dim = 32
model.predictor_hidden_dim = 32
model.projector_dim = 16
eval.protocols = ["knn"]
eval.knn_sweep = []
eval.random_baseline = false

[executor]
cpus_per_task = 1
time = "20"
job_name = "{job_name}"
"""


def _cli(*args: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "byolbench", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _write_matrix(path: Path, datasets: list[str], seeds: tuple[int, ...], job_name: str) -> Path:
    path.write_text(
        MATRIX.format(
            datasets=", ".join(json.dumps(d) for d in datasets),
            seeds=", ".join(str(s) for s in seeds),
            job_name=job_name,
            train_samples=TRAIN_SAMPLES,
        )
    )
    return path


def _seed(cell_id: str) -> int:
    return int(re.search(r"__s(\d+)__", cell_id).group(1))


def _preempt(how: str, job: str) -> None:
    """Interrupts a running job the way SLURM does it."""
    if how == "requeue":  # preemption with requeue: SIGTERM, then SLURM requeues the job
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=60)
        return
    # the warning before the time limit. scancel delivers the signal to the job's steps, but
    # may then retry for a minute ("Job can not be altered now") while submitit requeues the
    # job, and could signal the requeued job again: it is stopped after a few seconds (the
    # requeued job cannot start that soon); the assertions check from the job's log that the
    # signal arrived once.
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["scancel", "--signal=USR2", job], timeout=5, check=False)


@dataclass
class Scenario:
    results: Path
    failing: Path
    output: str = ""
    returncode: int | None = None
    failing_output: str = ""
    failing_returncode: int | None = None
    # each cell's states in the order seen, repeats collapsed
    states: dict[str, list[str]] = field(default_factory=dict)
    preempted: dict[int, tuple[str, int]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    snapshot: dict | None = None
    seconds: float = 0.0


def _note(states: dict[str, list[str]], cell_id: str, state: str) -> None:
    seen = states.setdefault(cell_id, [])
    if not seen or seen[-1] != state:
        seen.append(state)


def _drive(tmp_path: Path) -> Scenario:
    job_name = f"bbtest-{os.getpid()}"
    scenario = Scenario(tmp_path / "results", tmp_path / "failing")
    corrupt = write_corrupt_folder(tmp_path / "corrupt")  # passes the checks, fails in the job
    failing = _write_matrix(tmp_path / "failing.toml", [f"imagefolder:{corrupt}"], (0,), job_name)
    matrix = _write_matrix(tmp_path / "matrix.toml", ["cifar10-mini"], SEEDS, job_name)
    start = time.monotonic()
    bad = _cli("run", "--config", str(failing), "--executor", "slurm", "--wait",
               "--results-dir", str(scenario.failing))  # fmt: skip
    run = _cli("run", "--config", str(matrix), "--executor", "slurm", "--wait",
               "--results-dir", str(scenario.results))  # fmt: skip
    snapshot: subprocess.Popen | None = None
    try:
        while run.poll() is None or bad.poll() is None:
            assert time.monotonic() - start < DEADLINE_SECONDS, "the jobs did not finish in time"
            for folder in (scenario.results, scenario.failing):
                for cell in folder_status(folder).cells:
                    _note(scenario.states, cell.cell_id, cell.state)
                    seed = _seed(cell.cell_id)
                    how = PREEMPT.get(seed) if folder == scenario.results else None
                    ready = cell.state == "running" and (cell.step or 0) >= PREEMPT_AT_STEP
                    if how and ready and seed not in scenario.preempted:
                        _preempt(how, cell.job)
                        scenario.preempted[seed] = (cell.job, int(cell.step or 0))
            # SLURM holds a requeued job for two minutes (BeginTime); let it start now
            for job in (queued_jobs([job_name]) or {}).values():
                if job.state == "PENDING" and job.reason == "BeginTime":
                    subprocess.run(
                        ["scontrol", "update", f"JobId={job.job_id}", "StartTime=now"],
                        check=False,
                        timeout=60,
                    )
                    scenario.released.append(job.job_id)
            if snapshot is None and len(scenario.preempted) == len(PREEMPT):
                snapshot = _cli("status", str(scenario.results), "--json")
            time.sleep(0.5)
        scenario.output, _ = run.communicate()
        scenario.returncode = run.returncode
        scenario.failing_output, _ = bad.communicate()
        scenario.failing_returncode = bad.returncode
        if snapshot is not None:
            text, _ = snapshot.communicate(timeout=300)
            scenario.snapshot = json.loads(text)
    finally:
        for proc in (run, bad, snapshot):
            if proc is not None and proc.poll() is None:
                proc.kill()
        subprocess.run(["scancel", "--name", job_name], check=False, timeout=60)
    scenario.seconds = time.monotonic() - start
    return scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return _drive(tmp_path_factory.mktemp("slurm"))


def _logs(results: Path, job: str, suffix: str) -> str:
    return "".join(p.read_text() for p in sorted((results / "slurm").glob(f"{job}_*log.{suffix}")))


def test_every_cell_finishes_with_its_rows_once(scenario):
    assert scenario.returncode == 0, scenario.output
    rows = ResultsStore(scenario.results).read()
    duplicates = int(rows.duplicated(["cell_id", "method", "protocol"]).sum())
    print(
        f"\nSLURM matrix: rows expected {len(SEEDS)}, rows found {len(rows)}, duplicates "
        f"{duplicates}; preempted (seed: job, step) {scenario.preempted}; released "
        f"{scenario.released}; {scenario.seconds:.0f} s"
    )
    assert len(rows) == len(SEEDS) and duplicates == 0
    assert sorted(rows["seed"]) == list(SEEDS)
    assert (rows["steps"] == STEPS).all() and (rows["method"] == "byol").all()
    assert "4 cell(s): 4 done, 0 running, 0 failed, 0 pending" in " ".join(scenario.output.split())
    assert "cifar10-mini: top-1 accuracy" in scenario.output  # the summary table at the end
    store = ResultsStore(scenario.results)
    for cell_id in store.cell_ids():
        metrics = (store.run_dir(cell_id) / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(line) for line in metrics]
        assert [r["step"] for r in steps if "loss" in r] == list(range(1, STEPS + 1))
        assert not (store.run_dir(cell_id) / "checkpoints").exists()  # dropped when done


def test_interrupted_jobs_resume_from_their_checkpoints(scenario):
    assert set(scenario.preempted) == set(PREEMPT), scenario.preempted
    store = ResultsStore(scenario.results)
    for seed, how in PREEMPT.items():
        job, step = scenario.preempted[seed]
        assert step >= PREEMPT_AT_STEP
        err, out = _logs(scenario.results, job, "err"), _logs(scenario.results, job, "out")
        resumed = [int(s) for s in re.findall(r"resumed from \S+ \(step (\d+)\)", err)]
        assert len(resumed) == 1 and step <= resumed[0] < STEPS, err
        assert err.count("rows written") == 1  # the cell's rows were written once
        assert out.count("Starting with JobEnvironment") == 2  # ran twice: the same job
        assert err.count("stop requested: finishing the step and writing a checkpoint") == 1
        if how == "usr2":  # submitit's checkpoint-and-requeue, after one warning
            assert out.count("Caught signal SIGUSR2") == 1
            assert "Calling checkpoint method" in out and f"Requeued job {job}" in out
        else:
            assert "Calling checkpoint method" not in out
        states = scenario.states[next(c for c in store.cell_ids() if _seed(c) == seed)]
        assert states[-3:] == ["pending", "running", "done"] and "running" in states[:-2]


def test_status_went_through_the_states(scenario):
    for cell_id, states in scenario.states.items():
        assert states[-1] in ("done", "failed"), (cell_id, states)
        assert "running" in states, (cell_id, states)
    waited = [s for c, s in scenario.states.items() if _seed(c) in (2, 3)]
    assert all(s[0] == "pending" for s in waited)  # 2 CPUs: two cells waited in the queue
    snapshot = scenario.snapshot
    assert snapshot is not None and snapshot["total"] == len(SEEDS)
    assert sum(snapshot["counts"].values()) == len(SEEDS)
    assert snapshot["counts"]["done"] < len(SEEDS)
    assert all(cell["job"] for cell in snapshot["cells"])  # every cell knows its job
    final = CliRunner().invoke(app, ["status", str(scenario.results)])
    assert final.exit_code == 0, final.output
    assert "4 cell(s): 4 done, 0 running, 0 failed, 0 pending" in final.output


def test_a_failing_cell_is_reported_and_wait_exits_1(scenario):
    assert scenario.failing_returncode == 1, scenario.failing_output
    flat = " ".join(scenario.failing_output.split())
    assert "1 cell(s): 0 done, 0 running, 1 failed, 0 pending" in flat
    status = folder_status(scenario.failing)
    (cell,) = status.cells
    assert cell.state == "failed" and "could be decoded" in cell.error
    error = json.loads(
        (ResultsStore(scenario.failing).run_dir(cell.cell_id) / "error.json").read_text()
    )
    assert "could be decoded" in error["error"] and error["traceback"]


def test_a_finished_matrix_submits_nothing(scenario, tmp_path):
    matrix = _write_matrix(tmp_path / "m.toml", ["cifar10-mini"], SEEDS, f"bbtest-{os.getpid()}")
    args = ["run", "--config", str(matrix), "--executor", "slurm", "--results-dir",
            str(scenario.results)]  # fmt: skip
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    flat = " ".join(again.output.split())
    assert "nothing to submit: 4 cell(s) finished, 0 running or queued" in flat
