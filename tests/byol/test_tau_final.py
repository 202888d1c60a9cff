"""byol.tau_final: where the target's EMA rate ends (1.0, lower, or fixed at tau_base)."""

from __future__ import annotations

import math

import pytest

from byolbench.byol.momentum import tau_schedule
from byolbench.config import RunConfig
from byolbench.errors import ConfigError
from byolbench.train.accel import make_accelerator
from byolbench.train.trainer import Trainer
from tests.train.helpers import record_ema_rates, tiny_config


def test_the_schedule_runs_from_tau_base_to_tau_final_on_a_cosine():
    base, final, total = 0.99, 0.996, 1000
    assert tau_schedule(0, total, base, final) == base
    assert math.isclose(tau_schedule(total // 2, total, base, final), (base + final) / 2)
    assert tau_schedule(total, total, base, final) == final
    values = [tau_schedule(k, total, base, final) for k in range(total + 1)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    assert tau_schedule(total, total, base) == 1.0  # the paper's end by default


def test_tau_final_equal_to_tau_base_keeps_tau_fixed():
    assert {tau_schedule(k, 100, 0.99, 0.99) for k in range(101)} == {0.99}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"byol.tau_final": 1.5}, r"byol.tau_final=1.5: expected a number in \[0, 1\]"),
        (
            {"byol.tau_base": 0.99, "byol.tau_final": 0.98},
            r"byol.tau_final=0.98 is below byol.tau_base=0.99: .*--set byol.tau_base=0.98",
        ),
    ],
)
def test_a_tau_final_outside_zero_to_one_or_below_tau_base_is_refused(
    overrides: dict, message: str
):
    with pytest.raises(ConfigError, match=message):
        RunConfig().replace(overrides).validate()


def test_the_trainer_ends_the_ema_at_tau_final(monkeypatch, tiny_splits):
    taus = record_ema_rates(monkeypatch)
    config = tiny_config(**{"byol.tau_base": 0.9, "byol.tau_final": 0.95})
    result = Trainer(config, tiny_splits, make_accelerator("no"), None).fit()
    total = result.state.step
    assert len(taus) == total >= 3
    assert taus == [tau_schedule(k, total, 0.9, 0.95) for k in range(total)]
    assert taus != [tau_schedule(k, total, 0.9) for k in range(total)]
