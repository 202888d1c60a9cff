"""The online linear probe: detached features, its own optimizer, logged and resumable."""

import copy
import json
import math

import torch

from byolbench.byol.model import BYOL
from byolbench.data.base import DatasetSplits, ImageSplit
from byolbench.models.backbone import create_backbone
from byolbench.train.accel import make_accelerator
from byolbench.train.online_probe import OnlineProbe, train_frozen_probe
from byolbench.train.trainer import Trainer, build_model
from tests.train.helpers import tiny_config

PROBE = {"eval.protocols": "knn,online-linear"}


def _tiny_byol() -> BYOL:
    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    return BYOL(backbone, backbone.num_features, 32, 16, 32)


def test_the_probe_gradient_never_reaches_the_backbone():
    model = _tiny_byol()
    twin = copy.deepcopy(model)
    views = torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)
    out = model(*views)
    assert out.features and all(not f.requires_grad for f in out.features)
    probe = OnlineProbe(model.feature_dim, 4, torch.arange(8) % 4)
    probe.observe(out.features, torch.arange(8), step=0)
    assert all(p.grad is None for p in model.parameters())  # the probe's backward stopped
    assert probe.head.weight.grad is not None
    out.loss.backward()
    twin_out = twin(*views)
    twin_out.loss.backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        if p.grad is not None or q.grad is not None:
            assert torch.equal(p.grad, q.grad), name  # BYOL's gradients are unchanged


def test_the_probe_learns_and_skips_unlabelled_images():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 4
    centres = torch.randn(4, 16, generator=generator) * 3
    features = centres[labels] + 0.3 * torch.randn(64, 16, generator=generator)
    probe = OnlineProbe(16, 4, labels, lr=0.1, total_steps=200)
    for step in range(200):
        idx = torch.arange(step % 8 * 8, step % 8 * 8 + 8)
        probe.observe([features[idx]], idx, step)
    assert probe.read()["online_linear_top1"] > 90.0
    assert probe.accuracy(features, labels)[0] > 90.0

    unlabelled = OnlineProbe(16, 4, torch.full((64,), -1))
    weight = unlabelled.head.weight.detach().clone()
    unlabelled.observe([features[:8]], torch.arange(8), 0)
    assert torch.equal(weight, unlabelled.head.weight)  # no label, no update
    assert math.isnan(unlabelled.read()["online_linear_top1"])


def test_trainer_logs_the_probe_each_epoch_and_rankme_every_n_steps(tmp_path, tiny_splits):
    config = tiny_config(**PROBE, **{"train.epochs": 2, "eval.rankme_every": 3})
    result = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert result.online_probe is not None and result.online_probe.updates == 16
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "online_linear_epoch_top1" in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(0 <= r["online_linear_epoch_top1"] <= 100 for r in epochs)
    logged = [r for r in records if "loss" in r]
    assert logged and all("online_linear_top1" in r for r in logged)
    rankme = [r for r in records if "rankme" in r]
    assert [r["step"] for r in rankme] == [3, 6, 9, 12, 15, 16]
    assert all(1.0 <= r["rankme"] <= result.model.feature_dim for r in rankme)


def test_the_probe_is_off_without_labels(tiny_splits, caplog):
    pretrain = ImageSplit(tiny_splits.pretrain.images, torch.full((64,), -1))
    splits = DatasetSplits(tiny_splits.info, pretrain, tiny_splits.train, tiny_splits.test)
    result = Trainer(tiny_config(**PROBE), splits, make_accelerator("no"), None).fit()
    assert result.online_probe is None
    assert "has no labels; the online probe is off" in caplog.text


def test_a_resumed_run_keeps_the_probe_of_its_checkpoint(tmp_path, tiny_splits):
    config = tiny_config(**PROBE)
    first = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert (next((tmp_path / "checkpoints").iterdir()) / "extra.safetensors").is_file()
    again = Trainer(config, tiny_splits, make_accelerator("no"), tmp_path).fit()
    assert again.resumed_from and again.state.step == first.state.step
    assert torch.equal(again.online_probe.head.weight, first.online_probe.head.weight)
    assert again.online_probe.updates == first.online_probe.updates == 8  # counted across
    momentum = first.online_probe.state_tensors()["online_probe.momentum.weight"]
    assert torch.equal(again.online_probe.state_tensors()["online_probe.momentum.weight"], momentum)


def test_frozen_probe_replays_the_batches_without_touching_the_backbone(tiny_splits):
    config = tiny_config(**PROBE)
    torch.manual_seed(0)
    backbone = build_model(config, 16).backbone.train()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    probe = train_frozen_probe(backbone, tiny_splits, config, 16, 8, 8, 8)
    assert probe is not None and probe.updates == 8
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert backbone.training  # mode restored
