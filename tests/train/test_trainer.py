import torch

from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_ema_rates, tiny_config


def test_ema_runs_once_per_optimizer_step_with_accumulation(monkeypatch, tiny_splits):
    calls = record_ema_rates(monkeypatch)
    steps = []
    config = tiny_config(**{"train.grad_accum_steps": 2})
    trainer = Trainer(
        config, tiny_splits, make_accelerator("no", 2), None, on_step=lambda s, t: steps.append(s)
    )
    result = trainer.fit()
    micro_batches = len(tiny_splits.pretrain) // 8  # 8 micro-batches of 8 images
    assert micro_batches == 8
    assert len(calls) == micro_batches // 2 == result.state.step == 4
    assert steps == [1, 2, 3, 4]
    assert trainer.global_batch == 16
    assert calls == sorted(calls) and calls[0] == config.byol.tau_base


def test_lr_scales_with_global_batch_and_follows_schedule(tiny_splits):
    config = tiny_config(
        **{"optim.lr": 0.4, "optim.name": "sgd", "train.epochs": 2, "optim.warmup_epochs": 1.0}
    )
    records = []
    Trainer(config, tiny_splits, make_accelerator("no"), None, on_log=records.append).fit()
    # 8 steps/epoch; warm-up over 8 steps to 0.4 * 8 / 256; record after step 2 shows lr(2)
    peak = 0.4 * 8 / 256
    assert abs(records[0]["lr"] - peak * 3 / 8) < 1e-12
    assert records[-1]["step"] == 16 and records[-1]["lr"] < 1e-12


def test_training_changes_online_weights_and_target_follows(tiny_splits):
    config = tiny_config()
    torch.manual_seed(0)
    result = Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    model = result.model
    online = [*model.backbone.parameters(), *model.projector.parameters()]
    diffs = [
        (t - o).abs().max().item() for t, o in zip(model.target_parameters(), online, strict=True)
    ]
    assert max(diffs) > 0  # the target lags the online network
    assert result.state.step == 8 and result.images_per_second > 0


def test_max_steps_stops_early_but_keeps_the_schedule(tiny_splits):
    config = tiny_config(**{"train.epochs": 4, "train.max_steps": 3})
    result = Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    assert result.state.step == 3 and result.total_steps == 32


def test_knn_monitor_logs_accuracy_each_epoch(tmp_path, tiny_splits):
    import json

    from byolbench.bench.curves import read_metrics

    config = tiny_config(**{"train.epochs": 2, "eval.monitor_every": 1, "eval.knn_k": 5})
    Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    knn = [r for r in lines if "knn_top1" in r]
    assert [r["epoch"] for r in knn] == [1, 2] and all(0 <= r["knn_top1"] <= 100 for r in knn)
    frame = read_metrics(tmp_path / "metrics.jsonl")
    merged = frame[frame["step"] == knn[0]["step"]].iloc[0]
    assert merged["knn_top1"] == knn[0]["knn_top1"] and merged["loss"] == merged["loss"]
