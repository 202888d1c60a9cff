"""``byolbench export``: the online backbone as a folder plain timm loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from byolbench.cli.console import console, setup_logging


def export(
    path: Annotated[
        Path,
        typer.Argument(
            help="A run folder (results/runs/<cell>), a training checkpoint "
            "(<run>/checkpoints/step-N) or an earlier export."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export into.")],
    with_heads: Annotated[
        bool,
        typer.Option(
            "--with-heads", help="Also write the BYOL projector and predictor to heads.safetensors."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an export already in --out.")
    ] = False,
    data_dir: Annotated[
        str | None,
        typer.Option(help="Dataset folder; only needed for a checkpoint of an unfinished run."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
) -> None:
    """Export the ONLINE backbone as model.safetensors + config.json (timm's local-folder
    layout) with a README saying how it was trained, evaluated and how to load it.

    Example:

        byolbench export results/runs/cifar10__resnet18__auto__s0__1a2b3c --out resnet18-byol

    then, without byolbench: timm.create_model("local-dir:resnet18-byol", pretrained=True)
    (ResNets with the small-image stem: see the README's snippet).
    """
    from byolbench.export import export_backbone, open_source

    setup_logging(verbose)
    source = open_source(path, data_dir)
    result = export_backbone(source, out, with_heads=with_heads, force=force)
    console.print(f"exported the online backbone of {source.kind} {escape(str(source.folder))}")
    for file in result.files:
        console.print(f"  wrote {escape(str(file))}")
    console.print("load it with plain timm:")
    console.print(escape(result.snippets[0].rstrip()), soft_wrap=True)
