"""Usage errors (unknown command or option, missing or malformed value) as click prints them.

typer up to 0.15 raises click's own exceptions; newer typer (0.16 and later) vendors click
and raises ``typer._click.exceptions`` classes, subclasses of ``typer.TyperException`` that
``click.ClickException`` does not match. Both are handled here through their shared interface
(``show()`` and ``exit_code``), so ``byolbench`` prints the usage line and exits 2 with either.
"""

from __future__ import annotations

import sys

import typer

USAGE_EXIT_CODE = 2


def _usage_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    typer_base = getattr(typer, "TyperException", None)
    if isinstance(typer_base, type):
        types.append(typer_base)
    try:
        import click
    except ImportError:  # pragma: no cover - typer without click
        pass
    else:
        types.append(click.ClickException)
    return tuple(types)


def is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a click/typer usage error (it has ``show`` and an ``exit_code``)."""
    types = _usage_error_types()
    return bool(types) and isinstance(exc, types) and callable(getattr(exc, "show", None))


def show_usage_error(exc: BaseException) -> int:
    """Prints the error the way click does (usage line, hint, message); returns the status.

    A bare ``byolbench`` (help requested by giving no arguments) prints the help and returns 2,
    as click does.
    """
    exc.show(file=sys.stderr)  # type: ignore[attr-defined]
    code = getattr(exc, "exit_code", USAGE_EXIT_CODE)
    return code if isinstance(code, int) and code else USAGE_EXIT_CODE
