"""A recipe per backbone family: AdamW for vision transformers, the preset for convnets, under
everything the user wrote; shown by --dry-run and recorded in the rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from byolbench.bench.matrix import MatrixSpec, expand, spec_from_file
from byolbench.bench.presets import preset_overrides
from byolbench.bench.runner import RunOptions, run_matrix
from byolbench.config import RunConfig
from byolbench.errors import ConfigError
from byolbench.models.family import backbone_family
from tests.data.helpers import write_coloured_folder
from tests.fake_dists import fake_site

ROOT = Path(__file__).resolve().parents[2]
VIT_RECIPE = {
    "optim.name": "adamw",
    "optim.lr": 5e-4,
    "optim.weight_decay": 0.04,
    "optim.warmup_epochs": 20.0,  # a tenth of the standard preset's 200 epochs
    "optim.grad_clip": 3.0,
    "byol.tau_base": 0.99,
    "model.global_pool": "avg",
    "model.patch_drop_rate": 0.5,
    "augment.progressive_min_size": 0,
    "augment.view_size_fraction": 1.0,
}


def _cells(backbones, **spec) -> dict[str, object]:
    cells = expand(MatrixSpec(list(backbones), ["cifar10"], **spec))
    return {cell.backbone: cell for cell in cells}


def _values(cell, keys) -> dict[str, object]:
    flat = cell.config.flat()
    return {k: flat[k] for k in keys}


def test_the_first_command_gives_the_vit_adamw_and_the_resnet_lars():
    cells = _cells(["resnet50", "vit_small"])
    vit, resnet = cells["vit_small"], cells["resnet50"]
    assert _values(vit, VIT_RECIPE) == VIT_RECIPE
    assert vit.recipe == "standard/vit" and set(vit.recipe_keys) == set(VIT_RECIPE)
    # the convnet keeps the preset exactly: same config (and hash) as before recipes existed
    plain = RunConfig().replace(preset_overrides("standard"))
    plain = plain.replace({"data.dataset": "cifar10", "model.backbone": "resnet50"})
    assert resnet.config == plain and resnet.config.optim.name == "lars"
    assert resnet.recipe == "standard/convnet" and resnet.recipe_keys == ()


def test_everything_the_user_wrote_wins_over_the_family_recipe():
    cells = _cells(
        ["vit_small"],
        defaults={"byol": {"tau_base": 0.996}},
        per_backbone={"vit_small": {"optim": {"weight_decay": 0.1}}},
        cli={"train.epochs": 30},
        sets={"optim.lr": "1e-3"},
    )
    values = _values(cells["vit_small"], VIT_RECIPE)
    mine = {"optim.lr": 1e-3, "optim.weight_decay": 0.1, "byol.tau_base": 0.996}
    assert values == {**VIT_RECIPE, **mine, "optim.warmup_epochs": 3.0}  # a tenth of 30
    assert "optim.lr" not in cells["vit_small"].recipe_keys


def test_another_optimiser_keeps_its_own_lr_and_weight_decay():
    cells = _cells(["vit_small"], sets={"optim.name": "lars"})
    config = cells["vit_small"].config
    assert (config.optim.name, config.optim.lr, config.optim.weight_decay) == ("lars", 1.0, 1e-5)
    assert config.optim.grad_clip == 3.0  # the rest of the ViT recipe still applies


def test_recipe_can_be_chosen_for_every_backbone():
    forced = _cells(["vit_small", "resnet18"], recipe="convnet")
    assert forced["vit_small"].config.optim.name == "lars"
    assert forced["vit_small"].recipe == "standard/convnet"
    vit = _cells(["resnet18"], recipe="vit", preset="quick")["resnet18"]
    assert vit.recipe == "quick/vit" and vit.config.optim.warmup_epochs == 0.4  # 4 epochs
    with pytest.raises(ConfigError, match="recipe 'lamb' in command line is invalid"):
        _cells(["resnet18"], recipe="lamb")


def test_quick_preset_keeps_vits_on_the_batch_and_crops_their_recipe_was_measured_with():
    cells = _cells(["resnet10t", "vit_tiny"], preset="quick")
    convnet, vit = cells["resnet10t"].config, cells["vit_tiny"].config
    assert (convnet.train.batch_size, convnet.augment.crop_min_scale) == (32, 0.35)
    assert (convnet.optim.lr, convnet.optim.warmup_epochs) == (4e-3, 1.0)
    assert (vit.train.batch_size, vit.augment.crop_min_scale) == (64, 0.2)
    assert {"train.batch_size", "augment.crop_min_scale"} <= set(cells["vit_tiny"].recipe_keys)
    assert "train.batch_size" not in cells["resnet10t"].recipe_keys
    # what the user wrote wins, as over any recipe key
    mine = _cells(["vit_tiny"], preset="quick", sets={"train.batch_size": "16"})["vit_tiny"]
    assert (mine.config.train.batch_size, mine.config.augment.crop_min_scale) == (16, 0.2)
    # the other presets hold nothing per family: a ViT keeps the preset's batch
    assert _cells(["vit_tiny"])["vit_tiny"].config.train.batch_size == 256


def test_recipe_in_a_matrix_file(tmp_path):
    path = tmp_path / "m.toml"
    matrix = '[matrix]\nbackbones = ["vit_tiny"]\ndatasets = ["cifar10"]\n'
    path.write_text(matrix + 'recipe = "convnet"\n')
    assert spec_from_file(path).recipe == "convnet"
    path.write_text(matrix + 'recipe = "x"\n')
    with pytest.raises(ConfigError, match=f"recipe 'x' in {path} is invalid"):
        expand(spec_from_file(path))


def test_token_options_only_for_vits_with_patch_tokens():
    cells = _cells(["swin_tiny_patch4_window7_224", "deit_tiny_patch16_224"])
    swin, deit = cells["swin_tiny_patch4_window7_224"], cells["deit_tiny_patch16_224"]
    assert swin.config.optim.name == deit.config.optim.name == "adamw"
    assert (swin.config.model.global_pool, swin.config.model.patch_drop_rate) == ("", 0.0)
    assert (deit.config.model.global_pool, deit.config.model.patch_drop_rate) == ("avg", 0.5)
    assert "model.patch_drop_rate" not in swin.recipe_keys


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("vit_tiny", "vit"),
        ("test_vit", "vit"),
        ("deit_tiny_patch16_224", "vit"),
        ("eva02_tiny_patch14_224", "vit"),
        ("swin_tiny_patch4_window7_224", "vit"),
        ("vit_small_r26_s32_224", "vit"),
        ("resnet18", "convnet"),
        ("test_resnet", "convnet"),
        ("convnext_atto", "convnet"),
        ("efficientnet_b0", "convnet"),
        ("mobilenetv3_small_100", "convnet"),
        ("botnet26t_256", "convnet"),  # convolutional self-attention in a ResNet
        ("no_such_net", "convnet"),  # unknown names fail later, with their own error
    ],
)
def test_family_of_timm_names(name, family):
    assert backbone_family(name) == family


PLUGIN = """
import torch
from torch import nn


class Mixer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v


class TokenNet(nn.Module):
    num_features = 16

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, 4)
        self.block = Mixer(16)

    def forward(self, x):
        return self.block(self.embed(x).flatten(2).transpose(1, 2)).mean(1)


class ConvNet(nn.Module):
    num_features = 8

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def token_net(pretrained=False, **kwargs):
    return TokenNet()


def conv_net(pretrained=False, **kwargs):
    return ConvNet()
"""


def test_family_of_plugins_from_their_structure(tmp_path, monkeypatch):
    with fake_site(tmp_path, monkeypatch) as site:
        site.add_module("fakefamily", PLUGIN)
        site.add_dist(
            "fake-family",
            "1.0",
            {
                "byolbench.backbones": {
                    "token_net": "fakefamily:token_net",
                    "conv_net": "fakefamily:conv_net",
                }
            },
        )
        backbone_family.cache_clear()
        try:
            assert backbone_family("token_net") == "vit"
            assert backbone_family("conv_net") == "convnet"
            cells = _cells(["token_net", "conv_net"])
            assert cells["token_net"].config.optim.name == "adamw"
            assert cells["conv_net"].config.optim.name == "lars"
        finally:
            backbone_family.cache_clear()


def test_dry_run_shows_each_cells_recipe():
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": str(ROOT)}
    args = ["run", "--backbones", "resnet50,vit_small", "--datasets", "cifar10", "--dry-run"]
    done = subprocess.run(
        [sys.executable, "-m", "byolbench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())
    assert "recipe standard/convnet: the preset as it is" in out
    assert "recipe standard/vit: AdamW lr 5e-4/256" in out
    assert "set model.global_pool=avg, model.patch_drop_rate=0.5, optim.name=adamw, " in out


def test_rows_record_the_recipe(tmp_path):
    data = write_coloured_folder(tmp_path / "shots", sizes=((32, 32),) * 4)
    sets = {
        "train.epochs": "1",
        "train.batch_size": "4",
        "train.mixed_precision": "no",
        "model.projector_hidden_dim": "32",
        "model.predictor_hidden_dim": "32",
        "model.projector_dim": "16",
        "eval.protocols": "knn",
        "eval.random_baseline": "false",
    }
    cells = expand(MatrixSpec(["test_vit"], [f"imagefolder:{data}"], sets=sets))
    outcomes = run_matrix(cells, RunOptions(results_dir=tmp_path / "results", cpu=True))
    assert [o.status for o in outcomes] == ["done"], [o.error for o in outcomes]
    assert {r["recipe"] for r in outcomes[0].rows} == {"standard/vit"}
