"""``byolbench embed``: embeddings of a folder of images for retrieval and downstream use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from byolbench.cli.console import console, setup_logging


def embed(
    path: Annotated[
        Path, typer.Argument(help="A run folder, a training checkpoint or an export folder.")
    ],
    images: Annotated[
        Path, typer.Option("--images", help="Folder of images (searched at any depth).")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="FILE.npy (plus FILE.json listing the images) or FILE.parquet."),
    ],
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="L2-normalise each embedding.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 256,
    data_dir: Annotated[
        str | None,
        typer.Option(help="Dataset folder; only needed for a checkpoint of an unfinished run."),
    ] = None,
    cpu: Annotated[bool, typer.Option(help="Run on the CPU even if a GPU is present.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
) -> None:
    """Write the online backbone's embedding of every image below --images, at the model's
    image size with its evaluation transform. Unreadable images are skipped with a warning.

    Example:

        byolbench embed resnet18-byol/ --images photos/ --out photos.npy --normalize
    """
    import torch

    from byolbench.cli.checks import require_at_least, require_output_file
    from byolbench.export import open_source
    from byolbench.export.embeddings import check_output, embed_folder, write_embeddings

    setup_logging(verbose)
    require_output_file("--out", out)
    check_output(out)
    require_at_least("--batch-size", batch_size, 1)
    source = open_source(path, data_dir)
    device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
    spec = source.spec
    result = embed_folder(
        source.load().to(device),
        images,
        spec.image_size,
        source.mean,
        source.std,
        in_chans=spec.in_chans,
        device=device,
        batch_size=batch_size,
        normalize=normalize,
        crop_pct=source.crop_pct,
    )
    meta = {
        "model": str(source.folder),
        "architecture": spec.arch,
        "image_size": spec.image_size,
        "normalized": normalize,
        "images": str(images),
    }
    written = write_embeddings(out, result, meta)
    console.print(
        f"embedded {len(result.files)} image(s) into {result.vectors.shape[1]} dimensions"
        + (f", skipped {len(result.skipped)} unreadable" if result.skipped else "")
    )
    for file in written:
        console.print(f"  wrote {escape(str(file))}")
