"""``byolbench status``'s library side on hand-made results folders: every state, claims of
SLURM jobs judged by the queue, and the CLI's text and JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from byolbench.bench.claim import CLAIM_FILE, try_claim
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.plan import PlannedCell, read_plan, write_plan
from byolbench.bench.runner import record_failure
from byolbench.bench.slurm.queue import QueuedJob, parse_squeue
from byolbench.bench.slurm.records import cell_jobs, record_submission
from byolbench.bench.status import folder_status, last_metrics
from byolbench.bench.store import ResultsStore
from byolbench.cli.main import app, main
from byolbench.errors import DataError
from tests.heavy_imports import heavy_modules_loaded

ROOT = Path(__file__).resolve().parents[2]


def _cells():
    return expand(MatrixSpec(["test_resnet"], ["cifar10-mini"], seeds=[0, 1, 2, 3, 4]))


def _write_metrics(run_dir: Path, steps: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": s, "epoch": 0, "loss": 4.0 - s / 10}) for s in range(1, steps + 1)]
    lines.append(json.dumps({"step": steps, "knn_top1": 20.0}))  # a monitor record: no loss
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 9, "lo')  # cut by a kill


def _folder(tmp_path: Path):
    """Five planned cells: done, failed, running (this process), stopped with a checkpoint,
    never started."""
    cells = _cells()
    results = tmp_path / "results"
    store = ResultsStore(results)
    write_plan(results, cells)
    done, failed, running, stopped, _ = cells
    store.write_cell_rows(done.cell_id, done.config.config_hash(), [{"cell_id": done.cell_id}] * 2)
    record_failure(store, failed, DataError("cifar10-mini is broken\nsecond line"))
    claim = try_claim(store.run_dir(running.cell_id))
    _write_metrics(store.run_dir(running.cell_id), 7)
    (store.run_dir(stopped.cell_id) / "checkpoints" / "step-00000012").mkdir(parents=True)
    return results, cells, claim


def test_every_state_is_told_apart(tmp_path):
    results, cells, claim = _folder(tmp_path)
    status = folder_status(results)
    by_id = {c.cell_id: c for c in status.cells}
    assert [c.cell_id for c in status.cells] == [c.cell_id for c in cells]  # matrix order
    done, failed, running, stopped, fresh = (by_id[c.cell_id] for c in cells)
    assert (done.state, done.rows) == ("done", 2)
    assert failed.state == "failed" and failed.error == "cifar10-mini is broken"
    assert running.state == "running" and (running.step, running.loss) == (7, pytest.approx(3.3))
    assert "step 7, loss 3.3000" in running.detail and f"pid {os.getpid()}" in running.detail
    assert stopped.state == "pending" and stopped.checkpoint_step == 12
    assert "checkpoint at step 12" in stopped.detail
    assert fresh.state == "pending" and fresh.detail == ""
    assert status.counts == {"done": 1, "running": 1, "failed": 1, "pending": 2}
    assert done.label == "cifar10-mini / test_resnet / auto / seed 0"
    claim.release()
    assert folder_status(results).counts["running"] == 0


def test_claim_of_a_dead_process_is_not_running(tmp_path):
    results, cells, claim = _folder(tmp_path)
    path = claim.path
    record = json.loads(path.read_text())
    record["pid"] = 2**22 + 12345  # no such process on this host
    path.write_text(json.dumps(record))
    running = next(c for c in folder_status(results).cells if c.cell_id == cells[2].cell_id)
    assert running.state == "pending"


def test_claim_whose_pid_was_reused_is_not_running(tmp_path):
    results, cells, claim = _folder(tmp_path)
    record = json.loads(claim.path.read_text())
    record["process_created"] -= 60.0  # this pid now runs a later process than the claim's
    claim.path.write_text(json.dumps(record))
    running = next(c for c in folder_status(results).cells if c.cell_id == cells[2].cell_id)
    assert running.state == "pending"


def test_a_slurm_claim_is_live_only_while_its_job_runs(tmp_path):
    results, cells, claim = _folder(tmp_path)
    cell = cells[2]
    record = json.loads(claim.path.read_text())
    record.update(host="node17", slurm_job="77_2")
    claim.path.write_text(json.dumps(record))
    record_submission(results, {cell.cell_id: "77_2", cells[4].cell_id: "77_4"}, "byolbench", {})
    assert cell_jobs(results)[cell.cell_id].job_id == "77_2"

    def state(queue):
        found = folder_status(results, queue=queue)
        return {c.cell_id: c for c in found.cells}

    queue = {
        "77_2": QueuedJob("77_2", "RUNNING", "None"),
        "77_4": QueuedJob("77_4", "PENDING", "Resources"),
    }
    now = state(queue)
    assert now[cell.cell_id].state == "running"
    assert now[cell.cell_id].detail.startswith("job 77_2 on node17, step 7")
    assert now[cells[4].cell_id].state == "pending"
    assert now[cells[4].cell_id].detail == "job 77_4 pending (Resources)"
    gone = state({})
    assert gone[cell.cell_id].state == "pending"
    assert "77_2 is no longer queued and left no results" in gone[cell.cell_id].detail


def test_a_failed_cell_resubmitted_and_queued_is_pending(tmp_path):
    results, cells, _ = _folder(tmp_path)
    record_submission(results, {cells[1].cell_id: "90"}, "byolbench", {})
    found = folder_status(results, queue={"90": QueuedJob("90", "PENDING", "Priority")})
    failed = next(c for c in found.cells if c.cell_id == cells[1].cell_id)
    assert failed.state == "pending" and "failed before" in failed.detail


def test_newest_submission_of_a_cell_wins(tmp_path):
    results = tmp_path / "results"
    record_submission(results, {"a": "10_0", "b": "10_1"}, "byolbench", {})
    record_submission(results, {"a": "11"}, "other", {})
    jobs = cell_jobs(results)
    assert jobs["a"].job_id == "11" and jobs["a"].job_name == "other"
    assert jobs["b"].job_id == "10_1"


def test_squeue_lines_are_parsed():
    jobs = parse_squeue("12_3|RUNNING|None\n12_4|PENDING|Resources\n\n15|COMPLETING|None\n")
    assert set(jobs) == {"12_3", "12_4", "15"}
    assert jobs["12_3"].active and not jobs["12_4"].active and jobs["15"].active


def test_last_metrics_skips_monitor_records_and_cut_lines(tmp_path):
    _write_metrics(tmp_path, 3)
    assert last_metrics(tmp_path)["step"] == 3
    assert last_metrics(tmp_path / "nowhere") is None


def test_plan_round_trip_and_unreadable_plan(tmp_path):
    cells = _cells()
    write_plan(tmp_path, cells)
    assert read_plan(tmp_path) == [PlannedCell.of(c) for c in cells]
    (tmp_path / "matrix.json").write_text("{not json")
    assert read_plan(tmp_path) == []


def test_cell_folders_outside_the_plan_are_listed(tmp_path):
    results, cells, _ = _folder(tmp_path)
    write_plan(results, cells[:1])  # a newer, smaller matrix
    found = folder_status(results)
    listed = {c.cell_id for c in found.cells}
    # folders with a cell's files are listed; a folder holding only checkpoints is not
    assert listed == {c.cell_id for c in cells[:3]}
    store = ResultsStore(results)
    (results / "runs" / "evaluate__x__1").mkdir()
    (results / "runs" / "evaluate__x__1" / "eval.json").write_text("{}")
    (store.run_dir(cells[3].cell_id) / "config.json").write_text(
        json.dumps(cells[3].config.to_dict())
    )
    found = folder_status(results)
    stopped = next(c for c in found.cells if c.cell_id == cells[3].cell_id)
    assert stopped.label.endswith("seed 3") and stopped.checkpoint_step == 12


def _status_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "byolbench", "status", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _status(*args: str) -> str:
    result = CliRunner().invoke(app, ["status", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_cli_text_json_and_rebuilt_index(tmp_path):
    results, cells, claim = _folder(tmp_path)
    assert (results / "runs.csv").exists()
    (results / "runs.csv").unlink()
    (results / "failures.csv").unlink()
    text = _status(str(results))
    lines = text.splitlines()
    assert any(line.split()[0] == "done" and "seed 0" in line for line in lines if line.split())
    assert any("failed" in line and "cifar10-mini is broken" in line for line in lines)
    assert any("running" in line and "step 7, loss 3.3000" in line for line in lines)
    assert "5 cell(s): 1 done, 1 running, 1 failed, 2 pending" in text
    assert (results / "runs.csv").exists() and (results / "failures.csv").exists()
    script = _status_cli(str(results), "--json")  # the installed entry point, for scripts
    assert script.returncode == 0, script.stderr
    data = json.loads(script.stdout)
    assert data["counts"] == {"done": 1, "running": 1, "failed": 1, "pending": 2}
    assert [c["state"] for c in data["cells"]] == [
        "done",
        "failed",
        "running",
        "pending",
        "pending",
    ]
    assert data["cells"][2]["step"] == 7 and data["cells"][3]["checkpoint_step"] == 12
    claim.release()


def test_status_reads_a_folder_without_importing_torch_timm_or_pandas(tmp_path):
    """The command a SLURM user polls answers without the seconds torch and timm take to
    import: reading run folders and rebuilding the CSV indexes needs neither."""
    results, _, claim = _folder(tmp_path)
    code = (
        "import sys\n"
        "from byolbench.cli.main import main\n"
        "try:\n"
        "    main(['status', sys.argv[1], '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    out, loaded = heavy_modules_loaded(code, str(results))
    claim.release()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"] == {"done": 1, "running": 1, "failed": 1, "pending": 2}
    assert loaded == [], f"imported by status: {' '.join(loaded)}"


def test_status_cli_with_matrix_options_and_missing_folder(tmp_path, capsys):
    results, cells, claim = _folder(tmp_path)
    claim.release()
    (results / "matrix.json").unlink()
    data = json.loads(_status(str(results), "--json"))
    assert data["total"] == 2  # without a plan: the folders with a cell's files
    data = json.loads(
        _status(
            str(results),
            "--json",
            "--backbones",
            "test_resnet",
            "--datasets",
            "cifar10-mini",
            "--seeds",
            "0,1,2,3,4,5",
        )
    )
    assert data["total"] == 6 and data["counts"] == {
        "done": 1,
        "running": 0,
        "failed": 1,
        "pending": 4,
    }
    with pytest.raises(SystemExit) as info:
        main(["status", str(tmp_path / "nowhere")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1


def test_claim_file_name_is_what_status_reads():
    assert CLAIM_FILE == "claim.json"
