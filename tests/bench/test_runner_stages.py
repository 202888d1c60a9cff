"""The runner's stages one at a time, as a SLURM job or the local loop calls them: what each
one leaves in the run folder, and that nothing reaches the results before ``finish_cell``."""

import json

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.bench.runner import (
    RunCallbacks,
    RunOptions,
    cell_rows,
    evaluate_cell,
    finish_cell,
    load_cell_data,
    pretrain_cell,
    save_cell_weights,
    start_cell,
)
from byolbench.bench.store import ResultsStore
from byolbench.config import parse_overrides
from tests.export_helpers import write_image_folder


def test_each_stage_leaves_its_files_and_only_the_last_writes_rows(tmp_path):
    data = write_image_folder(tmp_path / "data", classes=4, train=8, test=2, size=16)
    spec = MatrixSpec(["test_resnet"], [f"imagefolder:{data}"])
    spec.cli = {"train.epochs": 1, "train.batch_size": 4, "train.mixed_precision": "no"}
    spec.sets = parse_overrides(
        ["model.projector_hidden_dim=16", "model.predictor_hidden_dim=16",
         "model.projector_dim=8", "eval.protocols=knn", "eval.knn_sweep=",
         "train.checkpoint_every=4"]
    )  # fmt: skip
    (cell,) = expand(spec)
    store = ResultsStore(tmp_path / "results")
    phases = []
    callbacks = RunCallbacks(on_phase=phases.append)

    ctx = start_cell(cell, store, RunOptions(results_dir=store.root, cpu=True), callbacks)
    run_dir = ctx.run_dir
    assert (
        json.loads((run_dir / "env.json").read_text())["config_hash"] == cell.config.config_hash()
    )
    assert (run_dir / "config.json").is_file() and ctx.main

    splits = load_cell_data(ctx)
    assert (len(splits.pretrain), len(splits.test)) == (32, 8)

    result = pretrain_cell(ctx, splits)
    assert result.state.step == 8 and result.global_batch == 4
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) >= 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[-1] == "step-00000008"

    save_cell_weights(ctx, result, splits)
    assert (run_dir / "model.safetensors").is_file()
    assert json.loads((run_dir / "backbone.json").read_text())["steps"] == 8

    rows = evaluate_cell(ctx, result, splits)
    assert [(r.method, r.protocol) for r in rows] == [("byol", "knn"), ("random", "knn")]
    assert ctx.eval_seconds > 0

    records = cell_rows(ctx, result, splits, rows)
    assert {r["cell_id"] for r in records} == {cell.cell_id} and len(records) == 2
    assert all(r["steps"] == 8 and r["source"] == "run" for r in records)
    assert store.cell_record(cell.cell_id) is None and not store.runs_csv.exists()

    outcome = finish_cell(ctx, records)
    assert outcome.status == "done"
    assert len(store.cell_rows(cell.cell_id, cell.config.config_hash())) == 2
    assert len(store.read()) == 2 and not (run_dir / "checkpoints").exists()
    assert phases[0].startswith("loading") and phases[1].startswith("pretraining")
