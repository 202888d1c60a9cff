"""``byolbench plugins list|check``: what third-party packages add, and whether it works."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from byolbench.cli.console import console
from byolbench.registry import BLOCK_ENV, DISABLE_ENV, EntryInfo, Registry, plugins_disabled

app = typer.Typer(
    help="Third-party backbones, augmentations and datasets (entry-point plugins).\n\n"
    "Example: byolbench plugins list",
    no_args_is_help=True,
    add_completion=False,
)


def _registries() -> tuple[Registry[Any], ...]:
    """The backbone, augmentation and dataset registries (imported here: they import timm)."""
    from byolbench.augment.presets import AUGMENTATIONS
    from byolbench.data import DATASETS
    from byolbench.models.registry import BACKBONES

    return (BACKBONES, AUGMENTATIONS, DATASETS)


def _groups_hint(registries: tuple[Registry[Any], ...]) -> str:
    return (
        "a package adds plugins with entry points in the groups "
        + ", ".join(r.group for r in registries)
        + " (see the Plugins section of CONTRIBUTING.md)"
    )


def _disabled_note() -> bool:
    if plugins_disabled():
        console.print(f"plugins are disabled by {DISABLE_ENV}; unset it to use them")
        return True
    return False


def _status(info: EntryInfo) -> str:
    if info.blocked:
        return "blocked"
    return "loaded" if info.loaded else "not imported"


@app.command("list")
def list_plugins(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list byolbench's built-in names.")
    ] = False,
) -> None:
    """List installed plugins without importing them: name, kind, source, target, status.

    Examples:

        byolbench plugins list

        BYOLBENCH_BLOCK_PLUGINS=toy_convnet byolbench plugins list --all
    """
    if _disabled_note() and not show_all:
        return
    table = Table(title="plugins", title_justify="left")
    for column in ("name", "kind", "source", "target", "status"):
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "kind", "status"))
    problems: list[str] = []
    registries = _registries()
    for registry in registries:
        for info in registry.entries(include_blocked=True):
            if info.is_builtin and not show_all:
                continue
            status = "built-in" if info.is_builtin else _status(info)
            if info.problem:
                status = "[red]problem[/]"
                if info.problem not in problems:
                    problems.append(info.problem)
            table.add_row(info.name, info.kind, info.source, info.target, status)
    if table.row_count == 0:
        console.print(f"no plugins installed; {_groups_hint(registries)}")
        return
    console.print(table)
    if any(row == "blocked" for row in table.columns[-1].cells):
        console.print(f"[dim]blocked: skipped because {BLOCK_ENV} names it[/]")
    for problem in problems:
        console.print(f"[bold red]problem:[/] {escape(problem)}", soft_wrap=True)


@app.command("check")
def check_plugins() -> None:
    """Import and validate every plugin (and build it on a tiny input); exit 1 on any problem.

    Datasets are checked for their factory's signature here and for the splits they return
    whenever they are loaded.

    Example:

        byolbench plugins check
    """
    if _disabled_note():
        return
    problems: list[str] = []
    registries = _registries()
    registry_logger = logging.getLogger("byolbench.registry")
    level = registry_logger.level
    registry_logger.setLevel(logging.ERROR)  # each failure is printed below, not also logged
    try:
        results = [result for registry in registries for result in registry.check_each()]
    finally:
        registry_logger.setLevel(level)
    for info, problem in results:
        label = f"{info.kind} {info.name} ({info.source})"
        if problem:
            console.print(f"[bold red]FAIL[/] {escape(label)}: {escape(problem)}", soft_wrap=True)
            if problem not in problems:
                problems.append(problem)
        else:
            console.print(f"[green]ok[/]   {escape(label)}")
    if not results:
        console.print(f"no plugins installed; {_groups_hint(registries)}")
        return
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s)[/] in {len(results)} plugin(s)")
        raise SystemExit(1)  # not typer.Exit: main() runs click with standalone_mode=False
    console.print(f"all {len(results)} plugin(s) passed")
