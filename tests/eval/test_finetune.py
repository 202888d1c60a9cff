"""Fine-tuning trains a copy of the backbone; frozen-feature probes never touch it."""

import copy

import pytest
import torch

from byolbench.config import EvalConfig
from byolbench.eval.evaluate import evaluate_backbone
from byolbench.eval.finetune import FINETUNE_RECIPES, finetune, resolve_recipe
from byolbench.models.backbone import create_backbone

TINY = {
    "finetune_epochs": 2,
    "finetune_batch_size": 16,
    "finetune_lr_grid": (0.05, 0.5),
    "linear_max_iter": 20,
}


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_finetuning_changes_a_copy_of_the_backbone_and_chooses_lr_on_held_out_data(
    tiny_splits,
):
    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    before = _state(backbone)
    result = finetune(backbone, tiny_splits, EvalConfig(**TINY), 16, seed=0)
    assert _same(before, _state(backbone))  # the backbone handed in is untouched
    tuned = result.model[0].state_dict()
    changed = [k for k in before if not torch.equal(before[k], tuned[k])]
    assert any(k.endswith("weight") and "conv" in k for k in changed)  # the backbone trained
    assert set(result.val_by_lr) == {0.05, 0.5}
    assert result.lr == max(result.val_by_lr, key=lambda lr: result.val_by_lr[lr])
    assert result.val_top1 == result.val_by_lr[result.lr]
    assert result.recipe.optimizer == "sgd" and result.steps == 2 * (58 // 16)
    assert 0.0 <= result.top1 <= result.top5 <= 100.0


def test_frozen_probes_leave_the_backbone_unchanged(tiny_splits):
    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    before = _state(backbone)
    config = EvalConfig(protocols=("knn", "linear", "fewshot"), fewshot_fractions=(0.5,), **TINY)
    rows = evaluate_backbone(backbone, tiny_splits, config, 16, "byol")
    assert {r.protocol for r in rows} == {"knn", "linear", "fewshot"}
    assert _same(before, _state(backbone))


def test_finetune_row_and_the_random_baseline_recipe_is_the_same(tiny_splits):
    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    config = EvalConfig(protocols=("finetune",), **TINY)
    (row,) = evaluate_backbone(backbone, tiny_splits, config, 16, "random")
    assert row.protocol == "finetune" and row.details["optimizer"] == "sgd"
    assert set(row.details["val_by_lr"]) == {"0.05", "0.5"}
    assert row.details["lr"] in (0.05, 0.5) and row.details["feature_seconds"] == 0.0
    assert row.details["seconds"] > 0


def test_recipes_per_family_and_overrides():
    vit = create_backbone("test_vit", 16)
    resnet = create_backbone("test_resnet", 16)
    assert resolve_recipe(vit, EvalConfig()) == FINETUNE_RECIPES["transformer"]
    assert resolve_recipe(resnet, EvalConfig()) == FINETUNE_RECIPES["convnet"]
    forced = resolve_recipe(
        resnet, EvalConfig(finetune_optimizer="adamw", finetune_lr_grid=(3e-4,))
    )
    assert forced.optimizer == "adamw" and forced.lr_grid == (3e-4,)
    assert resolve_recipe(vit, EvalConfig(finetune_weight_decay=0.0)).weight_decay == 0.0


def test_vit_with_layer_decay_trains(tiny_splits):
    torch.manual_seed(0)
    vit = create_backbone("test_vit", 16)
    config = EvalConfig(
        **{**TINY, "finetune_lr_grid": (1e-3,), "finetune_epochs": 1}, finetune_layer_decay=0.75
    )
    original = copy.deepcopy(vit)
    result = finetune(vit, tiny_splits, config, 16)
    assert result.recipe.optimizer == "adamw" and result.recipe.layer_decay == 0.75
    assert _same(_state(original), _state(vit))
    assert not _same(_state(original), result.model[0].state_dict())


def test_every_candidate_diverging_is_a_one_line_error(tiny_splits):
    from byolbench.errors import TrainingError

    torch.manual_seed(0)
    backbone = create_backbone("test_resnet", 16)
    config = EvalConfig(**{**TINY, "finetune_lr_grid": (1e12,), "finetune_epochs": 1})
    with pytest.raises(TrainingError) as info:
        finetune(backbone, tiny_splits, config, 16)
    assert "eval.finetune_lr_grid" in str(info.value) and "\n" not in str(info.value)
