"""``byolbench evaluate``: the benchmark protocols on any weights, appended to the results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from byolbench.cli.console import console, setup_logging
from byolbench.errors import ConfigError


def evaluate(
    path: Annotated[
        str,
        typer.Argument(
            help="A run folder, a training checkpoint, an export folder, or (with --pretrained) "
            "a timm model name."
        ),
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", help="Dataset to evaluate on (byolbench list datasets).")
    ],
    protocols: Annotated[
        str | None,
        typer.Option(
            "--protocols",
            "--protocol",
            help="Comma-separated: knn, linear, fewshot, finetune, online-linear (a run "
            "folder's own probe; same dataset only). Default: the run's own, else knn,linear.",
        ),
    ] = None,
    pretrained: Annotated[
        bool,
        typer.Option(
            "--pretrained",
            help="PATH is a timm model name: evaluate timm's own weights from the "
            "local cache (never downloaded).",
        ),
    ] = False,
    results_dir: Annotated[Path, typer.Option(help="Where runs.csv is.")] = Path("results"),
    data_dir: Annotated[
        str | None,
        typer.Option(help="Dataset folder (default $BYOLBENCH_DATA or ~/.cache/byolbench/data)."),
    ] = None,
    image_size: Annotated[
        int,
        typer.Option(
            help="Evaluation resolution (default: the size the weights were trained at; timm's "
            "input size for --pretrained)."
        ),
    ] = 0,
    max_train_samples: Annotated[
        int,
        typer.Option(
            help="Use only N labelled training images for the probes (quick checks); 0 uses all."
        ),
    ] = 0,
    mixed_precision: Annotated[
        str,
        typer.Option(
            help="Autocast of the feature extraction: no (fp32), bf16, fp16 or auto. "
            "byolbench run extracts features under its training precision (bf16 where "
            "supported); pass that to reproduce a run's rows exactly."
        ),
    ] = "no",
    cpu: Annotated[bool, typer.Option(help="Run on the CPU even if a GPU is present.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
) -> None:
    """Evaluate weights with the benchmark's protocols (kNN sweep, linear probe, few-shot,
    fine-tuning, online linear); append the rows to runs.csv (method byol for byolbench
    weights, timm-pretrained for timm's).

    Images are normalised with the statistics the weights were trained with. Weights
    pretrained on another dataset appear as backbone NAME@PRETRAINING_DATASET.

    Examples:

        byolbench evaluate results/runs/cifar10__resnet18__auto__s0__1a2b3c --dataset stl10

        byolbench evaluate resnet18-byol/ --dataset cifar10 --protocols knn,fewshot,finetune

        byolbench evaluate resnet18.a1_in1k --pretrained --dataset cifar10 --image-size 224
    """
    from byolbench.bench.store import ResultsStore
    from byolbench.cli.checks import require_at_least, require_results_dir
    from byolbench.export import open_source
    from byolbench.export.evaluate import (
        EvaluateRequest,
        evaluate_pretrained,
        evaluate_source,
        parse_protocols,
        write_evaluation,
    )
    from byolbench.models.backbone import is_timm_model, resolve_name

    setup_logging(verbose)
    require_at_least("--image-size", image_size, 0, "0 uses the size the weights were trained at")
    if 0 < image_size < 8:
        raise ConfigError(f"--image-size {image_size}: expected 0 or at least 8 (pixels)")
    require_at_least("--max-train-samples", max_train_samples, 0, "0 uses all")
    require_results_dir(results_dir)
    request = EvaluateRequest(
        dataset=dataset,
        protocols=parse_protocols(protocols) if protocols else (),
        data_dir=data_dir,
        image_size=image_size,
        max_train_samples=max_train_samples,
        device="cpu" if cpu else "auto",
        mixed_precision=mixed_precision,
    )
    if pretrained:
        if Path(path).exists():
            raise ConfigError(
                f"--pretrained takes a timm model name, but {path!r} is a file or folder; "
                "drop --pretrained to evaluate the weights in it"
            )
        rows = evaluate_pretrained(path, request)
    elif not Path(path).exists() and is_timm_model(resolve_name(path)):
        raise ConfigError(
            f"{path!r} is not a folder but a timm model name; add --pretrained to evaluate "
            "timm's own weights"
        )
    else:
        rows = evaluate_source(open_source(Path(path), data_dir), request)
    folder = write_evaluation(results_dir, rows)
    for row in rows:
        console.print(
            f"{escape(row['backbone'])} on {escape(dataset)}: {row['method']} {row['protocol']}"
            f"{' ' + escape(str(row['variant'])) if row['variant'] else ''} "
            f"top-1 [bold]{row['top1']:.2f}[/] top-5 {row['top5']:.2f}"
        )
    runs_csv = ResultsStore(results_dir).runs_csv
    console.print(
        f"wrote {len(rows)} row(s) to {escape(str(folder / 'eval.json'))} and rebuilt "
        f"{escape(str(runs_csv))}"
    )
