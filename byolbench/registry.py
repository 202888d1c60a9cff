"""Name registries for backbones, augmentations and datasets.

Built-ins register in code; third-party packages add names through Python entry points
(groups ``byolbench.backbones``, ``byolbench.augmentations``, ``byolbench.datasets``).
Listing reads entry-point metadata only; a plugin's code is imported on first use. A plugin
never replaces another name: a clash is a ``PluginError`` naming both sources. A plugin that
fails to import or breaks its contract is reported with its name and distribution, and every
other name keeps working.

Environment variables:
    BYOLBENCH_DISABLE_PLUGINS=1: ignore all entry points.
    BYOLBENCH_BLOCK_PLUGINS=a,b: ignore the named plugins (entry-point or distribution names).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

from byolbench.errors import PluginError, unknown_name_message

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUILTIN_SOURCE = "byolbench (built-in)"
DISABLE_ENV = "BYOLBENCH_DISABLE_PLUGINS"
BLOCK_ENV = "BYOLBENCH_BLOCK_PLUGINS"


@dataclass(frozen=True)
class EntryInfo:
    """What ``byolbench plugins list`` shows for one name.

    Attributes:
        name: The registered name.
        kind: ``backbone``, ``augmentation`` or ``dataset``.
        source: ``byolbench (built-in)`` or ``<distribution> <version>``.
        target: For plugins, the entry point's ``module:attr``; empty for built-ins.
        loaded: Whether the object has been imported in this process.
        problem: Why the name cannot be used (a clash or a failed load), or empty.
    """

    name: str
    kind: str
    source: str
    target: str
    loaded: bool
    problem: str


@dataclass
class _Plugin:
    entry_point: metadata.EntryPoint
    distribution: str
    version: str

    @property
    def source(self) -> str:
        return f"{self.distribution} {self.version}".strip()


def plugin_entry_points(group: str) -> list[_Plugin]:
    """Returns the entry points of ``group`` that are not disabled or blocked."""
    if os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return []
    blocked = {b.strip() for b in os.environ.get(BLOCK_ENV, "").split(",") if b.strip()}
    found: list[_Plugin] = []
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
        dist_version = dist.version if dist is not None else ""
        if ep.name in blocked or dist_name in blocked:
            logger.info("plugin %s from %s blocked by %s", ep.name, dist_name, BLOCK_ENV)
            continue
        found.append(_Plugin(ep, dist_name, dist_version))
    return found


class Registry(Generic[T]):
    """Maps names to objects of one kind, from built-ins and entry points.

    Args:
        kind: Singular noun used in messages, e.g. ``"backbone"``.
        group: Entry-point group, e.g. ``"byolbench.backbones"``.
        validate: Called as ``validate(name, obj)`` when a plugin loads; raises
            ``PluginError`` (or any exception) when the object breaks the contract.
        hint: Appended to unknown-name errors (how to list or add names).
    """

    def __init__(
        self,
        kind: str,
        group: str,
        validate: Callable[[str, T], None] | None = None,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.group = group
        self._validate = validate
        self._hint = hint
        self._builtins: dict[str, T] = {}
        self._loaded: dict[str, T] = {}
        self._failed: dict[str, str] = {}
        self._extra_clash: Callable[[str, str], str] | None = None

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Registers a built-in, directly or as a decorator.

        Raises:
            PluginError: When ``name`` is already registered.
        """

        def add(value: T) -> T:
            if name in self._builtins:
                raise PluginError(f"{self.kind} {name!r} is registered twice in byolbench")
            self._builtins[name] = value
            return value

        return add if obj is None else add(obj)

    def set_clash_check(self, check: Callable[[str, str], str]) -> None:
        """Adds a check run as ``check(name, "module:attr")`` for each plugin name.

        It returns the source that already owns the name (e.g. timm), or ``""``.
        """
        self._extra_clash = check

    def builtin_names(self) -> list[str]:
        """Names registered in byolbench itself."""
        return sorted(self._builtins)

    def names(self) -> list[str]:
        """Every usable name: built-ins and plugins (plugins are not imported)."""
        names = set(self._builtins)
        names.update(p.entry_point.name for p in plugin_entry_points(self.group))
        return sorted(names)

    def __contains__(self, name: str) -> bool:
        return name in self._builtins or any(
            p.entry_point.name == name for p in plugin_entry_points(self.group)
        )

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``, importing its plugin if needed.

        Raises:
            PluginError: When the name clashes or its plugin fails to load or validate.
            ConfigError-like ``PluginError``: When the name is unknown (with close matches).
        """
        plugins = [p for p in plugin_entry_points(self.group) if p.entry_point.name == name]
        clash = self._clash_message(name, plugins)
        if clash:
            raise PluginError(clash)
        if name in self._builtins:
            return self._builtins[name]
        if not plugins:
            raise PluginError(
                unknown_name_message(self.kind, name, self.names(), self._hint)
            )
        return self._load(plugins[0])

    def find(self, name: str) -> T | None:
        """Like ``get`` but returns ``None`` for a name nobody registered."""
        if name not in self:
            return None
        return self.get(name)

    def _clash_message(self, name: str, plugins: list[_Plugin]) -> str:
        sources = [p.source for p in plugins]
        if name in self._builtins and plugins:
            sources.insert(0, BUILTIN_SOURCE)
        elif plugins and self._extra_clash is not None:
            other = self._extra_clash(name, plugins[0].entry_point.value)
            if other:
                sources.insert(0, other)
        if len(sources) < 2:
            return ""
        return (
            f"{self.kind} name {name!r} is provided by both {sources[0]} and {sources[1]}; "
            f"rename the entry point in one package, or block one with "
            f"{BLOCK_ENV}={plugins[-1].entry_point.name if plugins else name}"
        )

    def _load(self, plugin: _Plugin) -> T:
        name = plugin.entry_point.name
        if name in self._loaded:
            return self._loaded[name]
        if name in self._failed:
            raise PluginError(self._failed[name])
        try:
            obj = plugin.entry_point.load()
            if self._validate is not None:
                self._validate(name, obj)
        except Exception as exc:  # a plugin's failure must not break byolbench
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = (
                f"{self.kind} plugin {name!r} from {plugin.source} "
                f"({plugin.entry_point.value}) failed to load: {type(exc).__name__}: {detail}; "
                f"fix or uninstall {plugin.distribution}, or skip it with {BLOCK_ENV}={name}"
            )
            self._failed[name] = message
            logger.warning(message)
            raise PluginError(message) from exc
        self._loaded[name] = obj
        return obj

    def entries(self) -> Iterator[EntryInfo]:
        """Describes every name without importing plugins."""
        plugins = plugin_entry_points(self.group)
        for name in sorted(self._builtins):
            clash = self._clash_message(name, [p for p in plugins if p.entry_point.name == name])
            yield EntryInfo(name, self.kind, BUILTIN_SOURCE, "", True, clash)
        for plugin in plugins:
            name = plugin.entry_point.name
            clash = self._clash_message(name, [p for p in plugins if p.entry_point.name == name])
            yield EntryInfo(
                name,
                self.kind,
                plugin.source,
                plugin.entry_point.value,
                name in self._loaded,
                clash or self._failed.get(name, ""),
            )

    def check(self) -> list[str]:
        """Imports and validates every plugin; returns one message per problem."""
        problems: list[str] = []
        for info in self.entries():
            if info.source == BUILTIN_SOURCE:
                if info.problem:
                    problems.append(info.problem)
                continue
            if info.problem:
                if info.problem not in problems:
                    problems.append(info.problem)
                continue
            try:
                self.get(info.name)
            except PluginError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
        return problems

    def reset_plugins(self) -> None:
        """Forgets loaded and failed plugins (tests use this after changing entry points)."""
        self._loaded.clear()
        self._failed.clear()
