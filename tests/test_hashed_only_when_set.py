"""Settings added after runs were saved stay out of the configuration hash at their default."""

from __future__ import annotations

import pytest

from byolbench.config import RunConfig

# (key, its default written out, another value)
CASES = [
    ("optim.betas", "0.9,0.999", "0.9,0.99"),
    ("optim.schedule", "cosine", "linear"),
    ("byol.tau_final", 1.0, 0.999),
]


@pytest.mark.parametrize(("key", "default", "other"), CASES)
def test_the_default_leaves_finished_runs_hashes_alone(key: str, default: object, other: object):
    assert RunConfig().config_hash() == RunConfig().replace({key: default}).config_hash()
    assert RunConfig().config_hash() != RunConfig().replace({key: other}).config_hash()
