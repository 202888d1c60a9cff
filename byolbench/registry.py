"""Name registries for backbones, augmentations and datasets.

Built-ins register in code; third-party packages add names through Python entry points
(groups ``byolbench.backbones``, ``byolbench.augmentations``, ``byolbench.datasets``).
Listing reads entry-point metadata only; a plugin's code is imported on first use. A plugin
never replaces another name: a clash is a ``PluginError`` naming both sources. A plugin that
fails to import or breaks its contract is reported with its name and distribution, and every
other name keeps working.

Environment variables:
    BYOLBENCH_DISABLE_PLUGINS=1: ignore all entry points.
    BYOLBENCH_BLOCK_PLUGINS=a,b: ignore the named plugins; each item is an entry-point name,
        a distribution name, or ``distribution:entry-point`` for one plugin of one package.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, Generic, NoReturn, TypeVar

from byolbench.errors import ByolbenchError, PluginError, unknown_name_message

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUILTIN_SOURCE = "byolbench (built-in)"
DISABLE_ENV = "BYOLBENCH_DISABLE_PLUGINS"
BLOCK_ENV = "BYOLBENCH_BLOCK_PLUGINS"
_TRUTHY = ("1", "true", "yes", "on")


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
        distribution: The distribution that declares the entry point (``byolbench`` for
            built-ins).
        version: That distribution's version (empty for built-ins).
        blocked: Whether ``BYOLBENCH_BLOCK_PLUGINS`` skips this plugin.
    """

    name: str
    kind: str
    source: str
    target: str
    loaded: bool
    problem: str
    distribution: str = ""
    version: str = ""
    blocked: bool = False

    @property
    def is_builtin(self) -> bool:
        """Whether byolbench itself registers this name."""
        return self.source == BUILTIN_SOURCE


@dataclass(frozen=True)
class _Plugin:
    entry_point: metadata.EntryPoint
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.entry_point.name

    @property
    def target(self) -> str:
        return self.entry_point.value

    @property
    def source(self) -> str:
        return f"{self.distribution} {self.version}".strip()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.distribution, self.target)

    def info(self, kind: str, loaded: bool, problem: str, blocked: bool = False) -> EntryInfo:
        return EntryInfo(
            self.name,
            kind,
            self.source,
            self.target,
            loaded,
            problem,
            self.distribution,
            self.version,
            blocked,
        )


def normalize_distribution(name: str) -> str:
    """PEP 503 form of a distribution name (``Toy_Plugin.X`` -> ``toy-plugin-x``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def plugins_disabled() -> bool:
    """Whether ``BYOLBENCH_DISABLE_PLUGINS`` turns all plugins off."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in _TRUTHY


def _block_list() -> list[str]:
    return [item.strip() for item in os.environ.get(BLOCK_ENV, "").split(",") if item.strip()]


def _is_blocked(plugin: _Plugin, block_list: Sequence[str]) -> bool:
    dist = normalize_distribution(plugin.distribution)
    for item in block_list:
        item_dist, colon, item_name = item.partition(":")
        if colon:
            if normalize_distribution(item_dist) == dist and item_name.strip() == plugin.name:
                return True
        elif item == plugin.name or normalize_distribution(item) == dist:
            return True
    return False


def _scan(group: str) -> list[_Plugin]:
    """Every entry point of ``group``, sorted by distribution; a distribution found twice
    counts once (the first on ``sys.path`` wins).

    A distribution with unreadable metadata is skipped with a warning instead of hiding the
    plugins of every other distribution.
    """
    found: list[_Plugin] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
        try:
            # the folder-derived name is cheap; METADATA is parsed only for plugin packages
            normalized = getattr(dist, "_normalized_name", None) or dist.metadata["Name"]
            normalized = normalize_distribution(normalized or "")
            if normalized in seen:
                continue
            seen.add(normalized)
            entry_points = list(dist.entry_points.select(group=group))
            if not entry_points:
                continue
            dist_name = dist.metadata["Name"] or normalized or "unknown distribution"
            version = dist.version or ""
        except Exception as exc:  # broken metadata of one package must not break the rest
            logger.warning("skipping a distribution with unreadable metadata: %s", exc)
            continue
        found.extend(_Plugin(ep, dist_name, version) for ep in entry_points)
    return sorted(found, key=lambda p: (normalize_distribution(p.distribution), p.name))


def plugin_entry_points(group: str) -> list[_Plugin]:
    """Returns the entry points of ``group`` that are not disabled or blocked."""
    if plugins_disabled():
        return []
    block_list = _block_list()
    found = []
    for plugin in _scan(group):
        if _is_blocked(plugin, block_list):
            logger.info("plugin %s from %s blocked by %s", plugin.name, plugin.source, BLOCK_ENV)
            continue
        found.append(plugin)
    return found


def blocked_entry_points(group: str) -> list[_Plugin]:
    """Returns the entry points of ``group`` that ``BYOLBENCH_BLOCK_PLUGINS`` skips."""
    if plugins_disabled():
        return []
    block_list = _block_list()
    return [plugin for plugin in _scan(group) if _is_blocked(plugin, block_list)]


def one_line(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (or just the type name)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def signature_problem(
    fn: Callable[..., Any],
    positional: int = 0,
    keywords: Sequence[str] = (),
    var_keyword: bool = False,
) -> str:
    """Says why ``fn`` cannot be called with ``positional`` arguments and ``keywords``.

    Args:
        fn: The callable to inspect.
        positional: How many positional arguments the caller passes.
        keywords: Keyword arguments the caller passes.
        var_keyword: Whether ``fn`` must also accept arbitrary ``**kwargs``.

    Returns:
        ``""`` when the call works (or the signature cannot be read), else the reason.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return ""
    params = list(signature.parameters.values())
    kinds = {p.kind for p in params}
    takes_kwargs = inspect.Parameter.VAR_KEYWORD in kinds
    positional_params = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    shown = f"its signature is {signature}"
    if len(positional_params) < positional and inspect.Parameter.VAR_POSITIONAL not in kinds:
        return f"{shown}, but it is called with {positional} positional argument(s)"
    supplied = {p.name for p in positional_params[:positional]}
    by_keyword = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    for keyword in keywords:
        if keyword not in by_keyword and not takes_kwargs:
            return f"{shown}, but it is called with the keyword argument {keyword!r}"
    if var_keyword and not takes_kwargs:
        return f"{shown}, but it must also accept **kwargs"
    required = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in supplied
        and p.name not in keywords
    ]
    if required:
        return f"{shown}, but nothing is passed for {', '.join(required)} (give them defaults)"
    return ""


class Registry(Generic[T]):
    """Maps names to objects of one kind, from built-ins and entry points.

    Args:
        kind: Singular noun used in messages, e.g. ``"backbone"``.
        group: Entry-point group, e.g. ``"byolbench.backbones"``.
        validate: Called as ``validate(name, obj)`` when a plugin loads; raises
            ``PluginError`` (or any exception) saying what breaks the contract. The registry
            adds the plugin's name, distribution and how to fix it.
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
        self._loaded: dict[tuple[str, str, str], T] = {}
        self._failed: dict[tuple[str, str, str], str] = {}
        self._extra_clash: Callable[[str, str], str] | None = None
        self._probe: Callable[[str, T], None] | None = None

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

    def set_probe(self, probe: Callable[[str, T], None]) -> None:
        """Adds a deeper check ``probe(name, obj)`` that only ``check()`` runs (e.g. building
        the object on a tiny input); it raises when the plugin breaks its contract."""
        self._probe = probe

    def names(self) -> list[str]:
        """Every usable name: built-ins and plugins (plugins are not imported)."""
        names = set(self._builtins)
        names.update(p.name for p in plugin_entry_points(self.group))
        return sorted(names)

    def __contains__(self, name: str) -> bool:
        return name in self._builtins or bool(self._plugins_named(name))

    def is_plugin(self, name: str) -> bool:
        """Whether ``name`` comes from an entry point rather than byolbench itself."""
        return name not in self._builtins and bool(self._plugins_named(name))

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``, importing its plugin if needed.

        Raises:
            PluginError: When the name is unknown (with close matches), clashes, or its plugin
                fails to import or validate.
        """
        plugins = self._plugins_named(name)
        clash = self._clash_message(name, plugins)
        if clash:
            raise PluginError(clash)
        if name in self._builtins:
            return self._builtins[name]
        if not plugins:
            raise PluginError(unknown_name_message(self.kind, name, self.names(), self._hint))
        return self._load(plugins[0])

    def describe(self, name: str) -> str:
        """``backbone plugin 'x' from dist 1.0 (module:attr)`` or ``backbone 'x' (built-in)``."""
        if name in self._builtins:
            return f"{self.kind} {name!r} ({BUILTIN_SOURCE})"
        plugins = self._plugins_named(name)
        if plugins:
            return f"{self.kind} plugin {name!r} from {plugins[0].source} ({plugins[0].target})"
        return f"{self.kind} {name!r}"

    def contract_error(self, name: str, what: str) -> PluginError:
        """The error for ``name`` breaking its contract: who, from where, what, how to fix."""
        plugin = None if name in self._builtins else next(iter(self._plugins_named(name)), None)
        if plugin is None:
            return PluginError(f"{self.describe(name)} breaks its contract: {what}")
        return PluginError(
            f"{self.describe(name)} breaks its contract: {what}; {_fix_hint(plugin)}"
        )

    @contextmanager
    def guard(self, name: str, action: str) -> Iterator[None]:
        """Turns an unexpected exception from a plugin's code into a ``PluginError`` naming it.

        ``ByolbenchError`` passes through unchanged, and so does everything raised for a
        built-in (that is a byolbench bug, best shown with its traceback).

        Args:
            name: The registered name whose code runs inside the block.
            action: What the block does, e.g. ``"to build"``.
        """
        try:
            yield
        except ByolbenchError:
            raise
        except Exception as exc:
            if not self.is_plugin(name):
                raise
            plugin = self._plugins_named(name)[0]
            raise PluginError(
                f"{self.describe(name)} failed {action}: {one_line(exc)}; {_fix_hint(plugin)}"
            ) from exc

    def entries(self, include_blocked: bool = False) -> Iterator[EntryInfo]:
        """Describes every name without importing plugins.

        Args:
            include_blocked: Also yield plugins skipped by ``BYOLBENCH_BLOCK_PLUGINS``
                (with ``blocked=True``).
        """
        plugins = plugin_entry_points(self.group)
        for name in sorted(self._builtins):
            clash = self._clash_message(name, [p for p in plugins if p.name == name])
            yield EntryInfo(name, self.kind, BUILTIN_SOURCE, "", True, clash, "byolbench", "")
        for plugin in plugins:
            clash = self._clash_message(plugin.name, [p for p in plugins if p.name == plugin.name])
            problem = clash or self._failed.get(plugin.key, "")
            yield plugin.info(self.kind, plugin.key in self._loaded, problem)
        if include_blocked:
            for plugin in blocked_entry_points(self.group):
                yield plugin.info(self.kind, False, "", blocked=True)

    def check_each(self) -> Iterator[tuple[EntryInfo, str]]:
        """Imports, validates and probes every plugin; yields each with its problem or ``""``.

        Built-ins are not yielded: their only possible problem is a clash, which the plugin
        involved reports.
        """
        for info in self.entries():
            if info.is_builtin:
                continue
            if info.problem:
                yield info, info.problem
                continue
            try:
                obj = self.get(info.name)
                if self._probe is not None:
                    with self.guard(info.name, "its check"):
                        self._probe(info.name, obj)
            except ByolbenchError as exc:
                text = str(exc)
                if not isinstance(exc, PluginError):
                    text = f"{self.describe(info.name)} fails its check: {text}"
                yield replace(info, loaded=self._is_loaded(info.name)), text
            else:
                yield replace(info, loaded=True), ""

    def check(self) -> list[str]:
        """Imports and validates every plugin; returns one message per problem."""
        problems: list[str] = []
        for _info, problem in self.check_each():
            if problem and problem not in problems:
                problems.append(problem)
        return problems

    def reset_plugins(self) -> None:
        """Forgets loaded and failed plugins (tests use this after changing entry points)."""
        self._loaded.clear()
        self._failed.clear()

    # -- internals -------------------------------------------------------------------------

    def _plugins_named(self, name: str) -> list[_Plugin]:
        return [p for p in plugin_entry_points(self.group) if p.name == name]

    def _is_loaded(self, name: str) -> bool:
        return any(key[0] == name for key in self._loaded)

    def _clash_message(self, name: str, plugins: list[_Plugin]) -> str:
        if not plugins:
            return ""
        owners: list[str] = []
        if name in self._builtins:
            owners.append(BUILTIN_SOURCE)
        elif self._extra_clash is not None:
            others = [self._extra_clash(name, p.target) for p in plugins]
            if all(others):  # "" means a plugin itself owns the name (e.g. registered in timm)
                owners.append(others[0])
        sources = owners + [p.source for p in plugins]
        if len(sources) < 2:
            return ""
        listed = ", ".join(sources[:-1]) + f" and {sources[-1]}"
        if len(sources) == 2:
            listed = f"both {listed}"
        packages = " or ".join(dict.fromkeys(p.distribution for p in plugins))
        if len(plugins) == 1:
            skip = f"skip the plugin with {BLOCK_ENV}={name}"
        else:
            example = f"{plugins[-1].distribution}:{name}"
            skip = f"keep one by blocking the others, e.g. {BLOCK_ENV}={example}"
        return (
            f"{self.kind} name {name!r} is provided by {listed}; a plugin never replaces "
            f"another name: rename the entry point in {packages}, or {skip}"
        )

    def _load(self, plugin: _Plugin) -> T:
        if plugin.key in self._loaded:
            return self._loaded[plugin.key]
        if plugin.key in self._failed:
            raise PluginError(self._failed[plugin.key])
        prefix = f"{self.kind} plugin {plugin.name!r} from {plugin.source} ({plugin.target})"
        try:
            obj = plugin.entry_point.load()
        except (Exception, SystemExit) as exc:  # a plugin's failure must not break byolbench
            self._fail(
                plugin, f"{prefix} failed to import: {one_line(exc)}; {_fix_hint(plugin)}", exc
            )
        if self._validate is not None:
            try:
                self._validate(plugin.name, obj)
            except Exception as exc:
                what = str(exc) if isinstance(exc, PluginError) else one_line(exc)
                self._fail(
                    plugin, f"{prefix} breaks its contract: {what}; {_fix_hint(plugin)}", exc
                )
        self._loaded[plugin.key] = obj
        return obj

    def _fail(self, plugin: _Plugin, message: str, cause: BaseException) -> NoReturn:
        self._failed[plugin.key] = message
        logger.warning(message)
        raise PluginError(message) from cause


def _fix_hint(plugin: _Plugin) -> str:
    return (
        f"fix or uninstall {plugin.distribution}, or skip the plugin with {BLOCK_ENV}={plugin.name}"
    )
