import importlib.util

import pytest

from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.precision import resolve_mixed_precision


def test_unknown_tracker_is_a_clear_error():
    with pytest.raises(ConfigError, match="valid: tensorboard, wandb, mlflow"):
        make_accelerator("no", log_with="neptune")


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_missing_tracker_package_names_the_extra(tracker, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == tracker else real(name, *a)
    )
    with pytest.raises(ConfigError, match=rf"byolbench\[{tracker}\]"):
        make_accelerator("no", log_with=tracker)


def test_precision_resolution():
    assert resolve_mixed_precision("no", "cpu") == "no"
    assert resolve_mixed_precision("bf16", "cuda") == "bf16"
    assert resolve_mixed_precision("auto", "cpu") in ("bf16", "no")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        resolve_mixed_precision("fp16", "cpu")


def test_accelerators_with_different_precisions_in_one_process():
    assert make_accelerator("no").mixed_precision == "no"
    second = make_accelerator("bf16")
    assert second.mixed_precision == "bf16"
