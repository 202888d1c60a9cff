from pathlib import Path

import pytest

from byolbench.bench.matrix import MatrixSpec, expand, spec_from_file
from byolbench.config import RunConfig
from byolbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_expansion_order_and_count():
    spec = MatrixSpec(["a1", "a2"], ["d1", "d2"], ["auto", "byol"], [0, 1])
    cells = expand(spec)
    assert len(cells) == 16
    assert [(c.dataset, c.backbone, c.augmentation, c.seed) for c in cells[:3]] == [
        ("d1", "a1", "auto", 0),
        ("d1", "a1", "auto", 1),
        ("d1", "a1", "byol", 0),
    ]
    assert len({c.cell_id for c in cells}) == 16


def test_precedence_preset_file_tables_cli_set(tmp_path):
    path = _write(
        tmp_path,
        """
[matrix]
backbones = ["resnet18", "vit_small"]
datasets = ["cifar10"]
preset = "standard"
[defaults]
train.epochs = 50
optim.lr = 0.3
[datasets.cifar10]
train.batch_size = 128
[backbones.vit_small]
optim.name = "adamw"
optim.lr = 0.001
train.epochs = 70
""",
    )
    spec = spec_from_file(path)
    resnet, vit = expand(spec)
    assert resnet.config.optim.lars_eta == 0.02  # preset
    assert (resnet.config.train.epochs, resnet.config.optim.lr) == (50, 0.3)  # [defaults]
    assert resnet.config.train.batch_size == 128  # [datasets.cifar10]
    assert (vit.config.optim.name, vit.config.optim.lr, vit.config.train.epochs) == (
        "adamw",
        0.001,
        70,
    )  # [backbones.vit_small] beats [defaults]
    spec.cli = {"train.epochs": 5}
    spec.sets = {"train.epochs": "6", "optim.lr": "0.5"}
    resnet, vit = expand(spec)
    assert resnet.config.train.epochs == vit.config.train.epochs == 6  # --set wins over all
    assert resnet.config.optim.lr == vit.config.optim.lr == 0.5
    spec.sets = {}
    assert all(c.config.train.epochs == 5 for c in expand(spec))  # CLI beats the file


@pytest.mark.parametrize(
    ("given", "budget", "epochs"),
    [
        ({}, "9m", 4),  # the quick preset: ten minutes on any machine
        ({"cli": {"train.epochs": 2}}, "", 2),  # --epochs: that many epochs, no budget
        ({"sets": {"train.max_steps": "3"}}, "", 4),
        ({"cli": {"train.epochs": 2, "train.time_budget": "2m"}}, "2m", 2),
        ({"defaults": {"train": {"epochs": 9}}}, "", 9),  # a matrix file's epochs too
    ],
)
def test_epochs_or_steps_the_user_sets_replace_the_quick_presets_budget(given, budget, epochs):
    (cell,) = expand(MatrixSpec(["resnet10t"], ["cifar10-mini"], preset="quick", **given))
    assert (cell.config.train.time_budget, cell.config.train.epochs) == (budget, epochs)
    assert cell.config.augment.progressive_min_size == 16
    assert cell.config.augment.view_size_fraction == 0.75


def test_the_quick_presets_smaller_views_are_for_convnets_only():
    spec = MatrixSpec(["resnet18", "test_vit"], ["cifar10-mini"], preset="quick")
    views = {
        c.backbone: (c.config.augment.view_size_fraction, c.config.augment.progressive_min_size)
        for c in expand(spec)
    }
    assert views == {"resnet18": (0.75, 16), "test_vit": (1.0, 0)}


def test_the_quick_presets_widths_narrow_only_its_own_backbone():
    spec = MatrixSpec(["resnet10t", "resnet18", "test_vit"], ["cifar10-mini"], preset="quick")
    widths = {c.backbone: c.config.model.channels for c in expand(spec)}
    assert widths == {"resnet10t": (32, 64, 128, 256), "resnet18": (), "test_vit": ()}
    spec.sets = {"model.channels": "16,32,64,128"}  # widths the user sets reach every ResNet
    (narrow,) = expand(MatrixSpec(["resnet18"], ["cifar10-mini"], preset="quick", sets=spec.sets))
    assert narrow.config.model.channels == (16, 32, 64, 128)
    spec = MatrixSpec(["resnet10t"], ["cifar10-mini"], preset="quick", sets={"model.channels": ""})
    assert expand(spec)[0].config.model.channels == ()  # the full-width net


def test_the_quick_preset_fuses_the_views_and_the_reference_presets_do_not():
    quick = MatrixSpec(["resnet10t", "test_vit"], ["cifar10-mini"], preset="quick")
    assert all(c.config.byol.fuse_views for c in expand(quick))
    for preset in ("paper", "standard"):
        (cell,) = expand(MatrixSpec(["resnet18"], ["cifar10"], preset=preset))
        assert not cell.config.byol.fuse_views  # one pass per view, as the reference
    off = MatrixSpec(["resnet10t"], ["cifar10-mini"], preset="quick")
    off.sets = {"byol.fuse_views": "false"}
    assert not expand(off)[0].config.byol.fuse_views


def test_a_preset_without_a_budget_keeps_none():
    spec = MatrixSpec(["resnet18"], ["cifar10"], preset="standard", cli={"train.epochs": 3})
    assert expand(spec)[0].config.train.time_budget == ""


def test_config_hash_changes_with_results_not_with_paths():
    base = RunConfig()
    assert (
        base.config_hash()
        == base.replace({"data.data_dir": "/elsewhere", "train.log_every": "3"}).config_hash()
    )
    assert base.config_hash() != base.replace({"optim.lr": "0.3"}).config_hash()


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "[matrix]\nbackbones=['r']\ndatasets=['d']\n[defaults]\noptim.lrr = 1\n",
            "unknown config key optim.lrr",
        ),
        (
            "[matrix]\nbackbones=['r']\ndatasets=['d']\n[defaults]\noptim.lr = 'fast'\n",
            "optim.lr='fast'",
        ),
        (
            "[matrix]\nbackbones=['r']\ndatasets=['d']\n[defaults]\nmodels.backbone = 'x'\n",
            "unknown config section 'models'",
        ),
        ("[matrix]\nbackbones=['r']\ndatasets=['d']\n[defualts]\n", "unknown table [defualts]"),
        ("[matrix]\nbackbone=['r']\n", "unknown key matrix.backbone"),
        ("[matrix]\nbackbones=['r']\ndatasets=['d']\n[backbones.x]\noptim.lr=1\n", "[backbones.x]"),
        ("[matrix]\nbackbones=['r']\ndatasets=['d']\nseeds=['a']\n", "seed 'a'"),
        ("[matrix]\nbackbones=[1]\ndatasets=['d']\n", "matrix.backbones"),
        ("[matrix\n", "not valid TOML"),
        (
            "[matrix]\nbackbones=['r']\ndatasets=['d']\n[defaults]\ntrain.mixed_precision='fp8'\n",
            "train.mixed_precision='fp8': expected auto, no, bf16, fp16",
        ),
    ],
)
def test_file_errors_name_key_file_and_choices(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        expand(spec_from_file(path))
    message = str(info.value)
    assert fragment in message and "\n" not in message
    if "unknown" in fragment and "table" not in fragment and "matrix." not in fragment:
        assert str(path) in message and "valid" in message


def test_set_errors_name_the_key():
    spec = MatrixSpec(["r"], ["d"], sets={"train.epoch": "3"})
    with pytest.raises(ConfigError, match=r"train.epoch in --set \(did you mean epochs"):
        expand(spec)
    spec = MatrixSpec(["r"], ["d"], sets={"train.epochs": "three"})
    with pytest.raises(ConfigError, match="expected an integer"):
        expand(spec)


def test_missing_file_and_empty_matrix(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        spec_from_file(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="no backbones"):
        expand(MatrixSpec([], ["d"]))


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "stl10", "cpu-mini"])
def test_shipped_matrices_expand(name):
    cells = expand(spec_from_file(ROOT / "benchmarks" / f"{name}.toml"))
    assert cells and all(c.config.validate() for c in cells)
