"""Isolation for the toy plugin's tests: own data directory, plugins enabled."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own BYOLBENCH_DATA, and no plugin switches from the caller's shell."""
    monkeypatch.setenv("BYOLBENCH_DATA", str(tmp_path_factory.mktemp("toy-data")))
    monkeypatch.delenv("BYOLBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("BYOLBENCH_BLOCK_PLUGINS", raising=False)
