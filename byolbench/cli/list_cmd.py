"""``byolbench list backbones|datasets|augmentations``."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from byolbench.cli.console import console

if TYPE_CHECKING:
    from byolbench.registry import Registry


class Kind(str, Enum):
    """What to list."""

    backbones = "backbones"
    datasets = "datasets"
    augmentations = "augmentations"


def _registry_table(registry: Registry, title: str, describe: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("name", "source", "description"):
        table.add_column(column)
    for info in registry.entries():
        text = describe.get(info.name, info.target)
        if info.problem:
            text = f"[red]{info.problem}[/]"
        table.add_row(info.name, info.source, text)
    return table


def list_names(
    kind: Annotated[Kind, typer.Argument(help="backbones, datasets or augmentations")],
    all_timm: Annotated[
        bool,
        typer.Option(
            "--all-timm", help="With backbones: every timm model name (all of them work)."
        ),
    ] = False,
    pattern: Annotated[
        str, typer.Option(help="With --all-timm: a wildcard filter, e.g. 'resnet*'.")
    ] = "",
) -> None:
    """List what can be named in `byolbench run`.

    Examples:

        byolbench list datasets

        byolbench list backbones --all-timm --pattern 'convnext*'
    """
    if kind is Kind.backbones:
        from byolbench.models.backbone import ALIASES
        from byolbench.models.registry import BACKBONES

        table = Table(
            title="backbone aliases (any timm model name works too)", title_justify="left"
        )
        table.add_column("alias")
        table.add_column("timm model")
        for alias, target in ALIASES.items():
            table.add_row(alias, target)
        console.print(table)
        console.print(_registry_table(BACKBONES, "backbone plugins", {}))
        if all_timm:
            import timm

            names = timm.list_models(pattern or "*")
            console.print(
                f"{len(names)} timm models" + (f" matching {pattern!r}" if pattern else "") + ":"
            )
            console.print(", ".join(names), soft_wrap=True)
    elif kind is Kind.datasets:
        from byolbench.data import DATASETS
        from byolbench.data.catalog import CATALOG

        described = {name: entry.description for name, entry in CATALOG.items()}
        described["imagefolder"] = "imagefolder:PATH with train/<class>/ and test|val/<class>/"
        console.print(_registry_table(DATASETS, "datasets", described))
    else:
        from byolbench.augment.presets import AUGMENTATIONS

        described = {
            "byol": "paper views: blur 1.0/0.1, solarize 0.0/0.2",
            "byol-small": "paper views without blur (default at 64 px and below)",
            "none": "no augmentation (checks and evaluation)",
        }
        console.print(_registry_table(AUGMENTATIONS, "augmentations", described))
        console.print("[dim]auto = byol-small at 64 px and below, byol above[/]")
