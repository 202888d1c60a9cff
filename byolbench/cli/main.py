"""Entry point: ``byolbench`` turns every ``ByolbenchError`` into one red line.

Exit status, for every command: 0 all work done; 1 some work failed (after the summary); 2 bad
input or usage, found before any work started; 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import sys
from typing import NoReturn

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
from byolbench.cli.console import error_console, print_error
from byolbench.cli.usage import is_usage_error, show_usage_error
from byolbench.errors import ByolbenchError, TrainingInterrupted

EXIT_CODES_HELP = (
    "Exit status: 0 all work done; 1 some work failed (after the summary); 2 bad input or "
    "usage (nothing started); 130 interrupted (Ctrl-C or SIGTERM; run it again to resume)."
)

app = typer.Typer(
    name="byolbench",
    help="BYOL pretraining and benchmarks for any timm backbone.\n\n"
    "Example: byolbench run --backbones resnet18,vit_small --datasets cifar10\n\n"
    + EXIT_CODES_HELP,
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


def _exit(code: int) -> NoReturn:
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Runs the CLI with the exit statuses above; errors print as one line, never a traceback."""
    try:
        code = app(args=argv, standalone_mode=False)
    except TrainingInterrupted as exc:
        error_console.print(f"[bold yellow]stopped:[/] {escape(str(exc))}", soft_wrap=True)
        _exit(130)
    except ByolbenchError as exc:
        print_error(exc)
        _exit(int(getattr(exc, "exit_code", 2)))
    except KeyboardInterrupt:
        error_console.print("[bold red]interrupted[/]; run the same command again to resume")
        _exit(130)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except typer.Abort:
        error_console.print("[bold red]aborted[/]")
        _exit(130)
    except OSError as exc:
        # Reading or writing a file failed outside the places that say which and why.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        error_console.print(
            f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}",
            soft_wrap=True,
        )
        _exit(1)
    except Exception as exc:
        if is_usage_error(exc):
            _exit(show_usage_error(exc))
        raise
    if code == 130:  # typer turns a KeyboardInterrupt inside a command into this status
        error_console.print("[bold red]interrupted[/]")
    if isinstance(code, int) and code:
        _exit(code)
