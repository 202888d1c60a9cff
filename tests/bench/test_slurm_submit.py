"""What a submission sends (no cluster): finished, running and queued cells are left out,
torchvision datasets are fetched once on the submitting node, job options are absolute."""

from pathlib import Path

from byolbench.bench.claim import try_claim
from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import RunOptions, record_failure
from byolbench.bench.slurm import submit
from byolbench.bench.slurm.queue import QueuedJob
from byolbench.bench.slurm.records import record_submission
from byolbench.bench.store import ResultsStore
from byolbench.errors import DataError


def test_plan_leaves_out_finished_running_and_queued_cells(tmp_path, monkeypatch):
    cells = expand(MatrixSpec(["test_resnet"], ["cifar10-mini"], seeds=[0, 1, 2, 3, 4]))
    store = ResultsStore(tmp_path)
    done, running, queued, failed, fresh = cells
    store.write_cell_rows(done.cell_id, done.config.config_hash(), [{}])
    claim = try_claim(store.run_dir(running.cell_id))
    record_submission(tmp_path, {queued.cell_id: "8_2", failed.cell_id: "8_3"}, "bb", {})
    record_failure(store, failed, DataError("broken"))
    queue = {"8_2": QueuedJob("8_2", "PENDING", "Priority")}  # 8_3 failed and left
    monkeypatch.setattr("byolbench.bench.status.queued_jobs", lambda names: queue)
    plan = submit.plan_submission(cells, tmp_path)
    assert [c.cell_id for c in plan.finished] == [done.cell_id]
    assert [c.cell_id for c, _ in plan.active] == [running.cell_id, queued.cell_id]
    assert [c.cell_id for c in plan.submit] == [failed.cell_id, fresh.cell_id]
    claim.release()


def test_torchvision_datasets_are_fetched_once_before_submitting(monkeypatch):
    calls = []
    monkeypatch.setattr(submit, "load_dataset", lambda *args: calls.append(args))
    cells = expand(
        MatrixSpec(["test_resnet", "test_vit"], ["cifar10", "cifar10-mini", "mnist"], seeds=[0, 1])
    )
    assert submit.fetch_downloads(cells) == ["cifar10", "mnist"]
    assert [args[0] for args in calls] == ["cifar10", "mnist"]


def test_jobs_get_an_absolute_results_folder_and_never_wait(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = submit.job_options(RunOptions(results_dir=Path("results"), wait_for_running=True))
    assert options.results_dir == tmp_path.resolve() / "results"
    assert not options.wait_for_running
