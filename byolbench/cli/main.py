"""Entry point: ``byolbench`` turns every ``ByolbenchError`` into one red line."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from byolbench.cli import (
    embed_cmd,
    evaluate_cmd,
    export_cmd,
    list_cmd,
    plugins_cmd,
    report_cmd,
    run_cmd,
    status_cmd,
)
from byolbench.cli.console import error_console
from byolbench.errors import ByolbenchError
from byolbench.train.trainer import TrainingInterrupted

app = typer.Typer(
    name="byolbench",
    help="BYOL pretraining and benchmarks for any timm backbone.\n\n"
    "Example: byolbench run --backbones resnet18,vit_small --datasets cifar10",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.command("run")(run_cmd.run)
app.command("report")(report_cmd.report)
app.command("status")(status_cmd.status)
app.command("list")(list_cmd.list_names)
app.command("export")(export_cmd.export)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("embed")(embed_cmd.embed)
app.add_typer(plugins_cmd.app, name="plugins")


def main(argv: list[str] | None = None) -> None:
    """Runs the CLI; a ``ByolbenchError`` prints as one red line and exits with status 2."""
    try:
        code = app(args=argv, standalone_mode=False)
    except TrainingInterrupted as exc:
        error_console.print(f"[bold yellow]stopped:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(130)
    except ByolbenchError as exc:
        error_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        error_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        error_console.print("[bold red]aborted[/]")
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
