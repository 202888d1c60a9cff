"""``byolbench run``: pretrain-then-evaluate matrices."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from byolbench.bench.presets import preset_overrides
from byolbench.cli.console import (
    console,
    error_console,
    is_main_process,
    print_error,
    setup_logging,
)
from byolbench.config import RunConfig, parse_overrides, parse_protocols
from byolbench.errors import ByolbenchError, ConfigError, ProblemsError, TrainingInterrupted
from byolbench.train.budget import parse_duration

if TYPE_CHECKING:
    from byolbench.bench.matrix import Cell, MatrixSpec
    from byolbench.bench.runner import CellOutcome, RunCallbacks

QUICK_HINT = (
    "no backbones, datasets or --config given: running the {preset} preset ({length} of "
    "pretraining on cifar10-mini, then evaluation)"
)
_EXAMPLES = {
    "--backbones": "resnet18,vit_small",
    "--datasets": "cifar10",
    "--augmentations": "auto",
    "--seeds": "0,1,2",
}
EXIT_FAILED = 1
EXECUTORS = ("local", "slurm")
CLUSTER = "Clusters (--executor slurm, --shard)"


def _spec(
    config_file: Path | None,
    backbones: str | None,
    datasets: str | None,
    augmentations: str | None,
    seeds: str | None,
    preset: str | None,
    recipe: str | None = None,
) -> MatrixSpec:
    """The matrix from a file or the command line; the quick preset when nothing is named."""
    from byolbench.bench.matrix import MatrixSpec, parse_seeds, spec_from_file, split_list

    for option, value in (
        ("--backbones", backbones),
        ("--datasets", datasets),
        ("--augmentations", augmentations),
        ("--seeds", seeds),
    ):
        if value is not None and not split_list(value):
            raise ConfigError(
                f"{option} {value!r} names nothing; give a comma-separated list, e.g. "
                f"{option} {_EXAMPLES[option]}, or leave the option out"
            )
    if config_file is not None:
        spec = spec_from_file(config_file)
    elif not backbones and not datasets:
        quick = preset_overrides("quick")
        spec = MatrixSpec([quick["model.backbone"]], [quick["data.dataset"]], preset="quick")
    else:
        spec = MatrixSpec([], [], preset="standard")
    if backbones:
        spec.backbones = split_list(backbones)
    if datasets:
        spec.datasets = split_list(datasets)
    if augmentations:
        spec.augmentations = split_list(augmentations)
    if seeds:
        spec.seeds = parse_seeds(seeds, "--seeds")
    if preset:
        spec.preset = preset
    if recipe:
        spec.recipe = recipe
    return spec


def pretraining_length(config: RunConfig) -> str:
    """How long a cell pretrains, in the user's terms: its time budget, steps or epochs."""
    train = config.train
    if train.time_budget:
        try:
            seconds = parse_duration(train.time_budget)
        except ConfigError:  # reported with every other problem before anything trains
            return str(train.time_budget)
        minutes = seconds / 60
        length = (
            f"{minutes:g} minute{'s' * (minutes != 1)}"
            if seconds % 60 == 0
            else f"{seconds:g} seconds"
        )
        return f"{length}, at most {train.max_steps} steps," if train.max_steps else length
    if train.max_steps:
        return f"{train.max_steps} steps"
    return f"{train.epochs} epochs"


def run(
    backbones: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated timm names, aliases (resnet18, resnet50, vit_tiny, vit_small) "
            "or plugin backbones."
        ),
    ] = None,
    datasets: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated datasets (byolbench list datasets), "
            "e.g. cifar10,imagefolder:PATH."
        ),
    ] = None,
    augmentations: Annotated[
        str | None,
        typer.Option(help="Comma-separated augmentation presets (auto, byol, byol-small, ...)."),
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds, e.g. 0,1,2.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Pretraining epochs.")] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            help="Pretrain for this long instead of a number of epochs (90s, 10m, 1.5h): the "
            "schedules are fitted to the steps that fit in it (train.time_budget)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Images per process per step (global batch = this x processes x accumulation)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML matrix file (see benchmarks/*.toml).")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Starting recipe: quick (the default without backbones/datasets), standard "
            "(small-image recipe, the default otherwise) or paper (ImageNet recipe)."
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            help="Backbone-family recipe on top of the preset: auto (default: AdamW for vision "
            "transformers, the preset for convnets), convnet or vit. Keys you set win."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Dotted override, repeatable; wins over everything, e.g. --set optim.lr=0.5",
        ),
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="Where runs.csv and run folders go.")] = Path(
        "results"
    ),
    data_dir: Annotated[
        str | None,
        typer.Option(help="Dataset folder (default $BYOLBENCH_DATA or ~/.cache/byolbench/data)."),
    ] = None,
    mixed_precision: Annotated[
        str | None, typer.Option(help="auto (bf16 where supported), no, bf16 or fp16.")
    ] = None,
    max_train_samples: Annotated[
        int | None, typer.Option(help="Use only N training images (quick runs); 0 uses all.")
    ] = None,
    protocols: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated evaluation protocols: knn, linear (default), fewshot, "
            "finetune, online-linear (config eval.protocols)."
        ),
    ] = None,
    eval_datasets: Annotated[
        str | None,
        typer.Option(
            help="Transfer: also evaluate the frozen backbone on these datasets, e.g. "
            "cifar100,stl10,imagefolder:PATH (config eval.datasets)."
        ),
    ] = None,
    log_with: Annotated[str, typer.Option(help="Also log to tensorboard, wandb or mlflow.")] = "",
    cpu: Annotated[bool, typer.Option(help="Train on the CPU even if a GPU is present.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(help="Print the cells, their configs and a compute estimate; train nothing."),
    ] = False,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first failed cell.")] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="local: run the cells here, one after another; slurm: submit one SLURM job "
            "per unfinished cell (a submitit job array) and return.",
            rich_help_panel=CLUSTER,
        ),
    ] = "local",
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="With --executor slurm: follow the jobs in a live table until every cell is "
            "done or failed (exit 1 if one failed).",
            rich_help_panel=CLUSTER,
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run only part I of N of the matrix (1-based, e.g. 2/4): cells whose position "
            "modulo N is I-1; N processes given 1/N ... N/N run every cell once.",
            rich_help_panel=CLUSTER,
        ),
    ] = None,
    partition: Annotated[
        str | None, typer.Option(help="SLURM partition.", rich_help_panel=CLUSTER)
    ] = None,
    gpus_per_node: Annotated[
        int | None,
        typer.Option(help="GPUs per job node (one process each).", rich_help_panel=CLUSTER),
    ] = None,
    nodes: Annotated[
        int | None, typer.Option(help="Nodes per job.", rich_help_panel=CLUSTER)
    ] = None,
    cpus_per_task: Annotated[
        int | None, typer.Option(help="CPUs per process.", rich_help_panel=CLUSTER)
    ] = None,
    time_limit: Annotated[
        str | None,
        typer.Option(
            "--time", help="Time limit per job, e.g. 90 or 12:00:00.", rich_help_panel=CLUSTER
        ),
    ] = None,
    account: Annotated[
        str | None, typer.Option(help="SLURM account.", rich_help_panel=CLUSTER)
    ] = None,
    qos: Annotated[str | None, typer.Option(help="SLURM QOS.", rich_help_panel=CLUSTER)] = None,
    mem: Annotated[
        str | None, typer.Option(help="Memory per node, e.g. 64G.", rich_help_panel=CLUSTER)
    ] = None,
    sbatch: Annotated[
        list[str] | None,
        typer.Option(
            help="Any other sbatch option, repeatable: --sbatch constraint=a100 --sbatch "
            "exclusive.",
            rich_help_panel=CLUSTER,
        ),
    ] = None,
    wait_for_running: Annotated[
        bool,
        typer.Option(
            help="When another process (on any host sharing --results-dir) is training a "
            "cell, wait for it to finish instead of skipping it."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
) -> None:
    """Pretrain each backbone x dataset x augmentation x seed, evaluate, and tabulate.

    Without options it runs the quick preset: resnet10t pretrained on the embedded
    cifar10-mini for 9 minutes (--epochs N trains N epochs instead), then kNN and linear
    probe for BYOL and random init: about ten minutes on any machine.

    Examples:

        byolbench run

        byolbench run --backbones resnet18,vit_small --datasets cifar10 --seeds 0,1,2

        byolbench run --protocols knn,linear,fewshot,online-linear --eval-datasets cifar100

        byolbench run --config benchmarks/cifar10.toml --set train.epochs=100

        accelerate launch -m byolbench run --config benchmarks/cifar10.toml

        byolbench run --config benchmarks/cifar10.toml --executor slurm --gpus-per-node 4

        byolbench run --config benchmarks/cifar10.toml --shard 2/4

    Every setting, name, dataset and the results folder are checked for the whole matrix
    before any cell starts (--dry-run shows the same problems without training). Exit
    status: 0 every cell finished (or was finished before, or is running in another
    process); 1 some cell failed (listed after the summary, recorded in failures.csv); 2 bad
    input, nothing started; 130 interrupted (run the same command again to resume).
    """
    # imported here, not at the top: the preflight, runner and SLURM modules import torch and
    # timm, which `byolbench --help` and an unknown option do not need
    from byolbench.bench.matrix import expand, split_list
    from byolbench.bench.preflight import check_cells
    from byolbench.bench.runner import RunOptions, run_matrix
    from byolbench.bench.slurm.settings import parse_sbatch_options, settings_from
    from byolbench.cli.dry_run import show_dry_run
    from byolbench.cli.slurm_cmd import run_on_slurm
    from byolbench.cli.tables import show_and_write_summary

    setup_logging(verbose)
    spec = _spec(config, backbones, datasets, augmentations, seeds, preset, recipe)
    cli: dict[str, Any] = {}
    for key, value in (
        ("train.epochs", epochs),
        ("train.time_budget", time_budget),
        ("train.batch_size", batch_size),
        ("data.data_dir", data_dir),
        ("train.mixed_precision", mixed_precision),
        ("data.max_train_samples", max_train_samples),
    ):
        if value is not None:
            cli[key] = value
    if protocols is not None:
        cli["eval.protocols"] = parse_protocols(protocols, "--protocols")
    if eval_datasets is not None:
        cli["eval.datasets"] = tuple(split_list(eval_datasets))
    spec.cli = cli
    spec.sets = parse_overrides(set_ or [])
    cells = expand(spec, validate=False)  # ranges are checked with everything else below
    if config is None and not backbones and not datasets and cells:
        length = pretraining_length(cells[0].config)
        console.print(f"[dim]{QUICK_HINT.format(preset=spec.preset, length=length)}[/]")
    selected = _shard_cells(cells, shard)
    options = RunOptions(
        results_dir=results_dir,
        log_with=log_with,
        fail_fast=fail_fast,
        cpu=cpu,
        wait_for_running=wait_for_running,
    )
    cluster = {
        "partition": partition,
        "gpus_per_node": gpus_per_node,
        "nodes": nodes,
        "cpus_per_task": cpus_per_task,
        "time": time_limit,
        "account": account,
        "qos": qos,
        "mem": mem,
        "sbatch": parse_sbatch_options(sbatch) if sbatch else None,
    }
    if executor == "slurm":
        settings = settings_from(spec.executor, cluster, spec.source)
        code = run_on_slurm(selected, cells, settings, options, dry_run=dry_run, wait=wait)
        if code:
            raise typer.Exit(code)
        return
    _check_local(executor, cluster, wait)
    if dry_run:
        report = check_cells(selected, results_dir)
        show_dry_run(selected, report)
        if report.problems:
            raise ProblemsError(report.problems)
        return
    main = is_main_process()
    try:
        with _RunDisplay(enabled=main) as display:
            outcomes = run_matrix(
                selected, options, display.callbacks(), plan=cells if main else None
            )
    except (ProblemsError, TrainingInterrupted):
        raise
    except Exception as exc:
        if not fail_fast:
            raise
        print_error(exc if isinstance(exc, ByolbenchError) else _first_line(exc))
        error_console.print("[red]stopped at the first failed cell (--fail-fast)[/]")
        raise typer.Exit(EXIT_FAILED) from None
    if main:
        _print_outcomes(outcomes)
        show_and_write_summary(results_dir, {c.dataset for c in cells})
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(EXIT_FAILED)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _shard_cells(cells: list[Cell], shard: str | None) -> list[Cell]:
    """The cells of ``--shard I/N`` (all cells without it)."""
    from byolbench.bench.shard import parse_shard

    if shard is None:
        return cells
    part = parse_shard(shard)
    chosen = part.select(cells)
    positions = ", ".join(str(p) for p in part.positions(len(cells)))
    if is_main_process():
        console.print(
            f"[dim]shard {part}: {len(chosen)} of the matrix's {len(cells)} cells "
            f"(positions {positions or 'none'})[/]"
        )
    return chosen


def _check_local(executor: str, cluster: dict[str, Any], wait: bool) -> None:
    """Rejects an unknown executor, and cluster options given to a local run."""
    if executor not in EXECUTORS:
        raise ConfigError(
            f"--executor {executor!r} is not known; valid: {', '.join(EXECUTORS)} (other "
            "schedulers: start N processes with --shard 1/N ... N/N)"
        )
    given = [f"--{k.replace('_', '-')}" for k, v in cluster.items() if v is not None]
    if wait:
        given.append("--wait")
    if given:
        raise ConfigError(
            f"{', '.join(given)} only apply to --executor slurm; add --executor slurm or drop them"
        )


def _print_outcomes(outcomes: list[CellOutcome]) -> None:
    done = sum(o.status == "done" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    running = [o for o in outcomes if o.status == "running"]
    failed = [o for o in outcomes if o.status == "failed"]
    elsewhere = f"[bold]{len(running)}[/] running in another process, " if running else ""
    console.print(
        f"[bold]{done}[/] cell(s) run, [bold]{skipped}[/] already finished and skipped, "
        f"{elsewhere}[bold {'red' if failed else 'green'}]{len(failed)}[/] failed"
    )
    for outcome in running:
        console.print(f"[yellow]  {escape(outcome.error)}[/]")
    for outcome in failed:
        first_line = outcome.error.splitlines()[0] if outcome.error else ""
        console.print(f"[red]  failed {escape(outcome.cell.cell_id)}: {escape(first_line)}[/]")


class _RunDisplay:
    """A rich progress bar for the current cell, with the newest metrics beside it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> _RunDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def callbacks(self) -> RunCallbacks:
        """Hooks feeding the display."""
        from byolbench.bench.runner import RunCallbacks

        return RunCallbacks(
            on_cell=self._on_cell,
            on_step=self._on_step,
            on_log=self._on_log,
            on_phase=self._on_phase,
            on_outcome=self._on_outcome,
        )

    def _on_cell(self, cell: Any, index: int, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        label = f"[{index + 1}/{total}] {cell.backbone} / {cell.dataset} / seed {cell.seed}"
        self.task = self.progress.add_task(label, total=None, metrics="")

    def _on_step(self, step: int, total: int) -> None:
        self.progress.update(self.task, completed=step, total=total)

    def _on_log(self, record: dict[str, Any]) -> None:
        text = (
            f"loss {record['loss']:.3f}  tau {record['tau']:.4f}  lr {record['lr']:.3g}  "
            f"std {record['projection_std']:.3f}  {record['images_per_second']:.0f} img/s"
        )
        probe = record.get("online_linear_top1")
        if probe is not None and probe == probe:
            text += f"  probe {probe:.1f}%"
        self.progress.update(self.task, metrics=text)

    def _on_phase(self, text: str) -> None:
        if text.startswith(("resuming", "waiting")):
            self.progress.console.print(f"[cyan]{escape(text)}[/]", soft_wrap=True)
        if self.task is not None and text.startswith("evaluating"):
            self.progress.update(self.task, metrics=f"[cyan]{text}[/]")

    def _on_outcome(self, outcome: CellOutcome) -> None:
        if outcome.status == "skipped":
            cell = escape(outcome.cell.cell_id)
            self.progress.console.print(f"[dim]skipped finished cell {cell}[/]")
