"""Fake installed distributions for plugin tests.

A ``FakeSite`` is a temporary folder on ``sys.path`` holding ``*.dist-info`` folders (METADATA
and entry_points.txt) and plugin modules, so ``importlib.metadata`` and the import system see
them exactly as they see pip-installed packages. Leaving the context removes the folder from
``sys.path``, forgets the modules imported from it, clears importlib's caches and resets the
registries, so nothing leaks into other tests.
"""

from __future__ import annotations

import functools
import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest

from byolbench.augment.presets import AUGMENTATIONS
from byolbench.data.registry import DATASETS
from byolbench.models.registry import BACKBONES

REGISTRIES = (BACKBONES, AUGMENTATIONS, DATASETS)


class FakeSite:
    """A folder of fake distributions and modules on ``sys.path``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_dist(self, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> Path:
        """Writes ``<name>-<version>.dist-info`` with METADATA and entry_points.txt.

        Args:
            name: Distribution name, e.g. ``"fake-models"``.
            version: Its version.
            entry_points: ``{group: {entry-point name: "module:attr"}}``.
        """
        folder = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        folder.mkdir()
        (folder / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{ep_name} = {target}" for ep_name, target in names.items())
        (folder / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()
        return folder

    def add_module(self, dotted: str, source: str) -> Path:
        """Writes module ``dotted`` (packages get an ``__init__.py`` as needed)."""
        parts = dotted.split(".")
        folder = self.root
        for part in parts[:-1]:
            folder = folder / part
            folder.mkdir(exist_ok=True)
            (folder / "__init__.py").touch()
        path = folder / f"{parts[-1]}.py"
        path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return path

    def imported(self, dotted: str) -> bool:
        """Whether module ``dotted`` from this site has been imported."""
        module = sys.modules.get(dotted)
        return module is not None and str(getattr(module, "__file__", "")).startswith(
            str(self.root)
        )


@contextmanager
def fake_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolate: bool = True
) -> Iterator[FakeSite]:
    """A ``FakeSite`` for one test.

    Args:
        tmp_path: The test's temporary folder.
        monkeypatch: The test's monkeypatch (undoes the ``sys.path`` change).
        isolate: Hide the distributions really installed (such as the example plugin), so
            results do not depend on the machine; ``False`` discovers through ``sys.path``
            like any installed package.
    """
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    if isolate:
        monkeypatch.setattr(
            metadata, "distributions", functools.partial(metadata.distributions, path=[str(root)])
        )
    for registry in REGISTRIES:
        registry.reset_plugins()
    try:
        yield FakeSite(root)
    finally:
        if str(root) in sys.path:
            sys.path.remove(str(root))
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", "") or "").startswith(str(root)):
                del sys.modules[name]
        for registry in REGISTRIES:
            registry.reset_plugins()
        importlib.invalidate_caches()
