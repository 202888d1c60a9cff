import pytest
from typer.testing import CliRunner

from byolbench.cli.main import app
from tests.heavy_imports import heavy_modules_loaded

COMMANDS = [
    ["run"],
    ["report"],
    ["status"],
    ["list"],
    ["export"],
    ["evaluate"],
    ["embed"],
    ["plugins", "list"],
    ["plugins", "check"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_has_an_example(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "byolbench " in result.output


def test_the_command_line_starts_without_importing_torch_timm_or_pandas():
    """`byolbench --help` and an unknown option answer at once: the commands import the heavy
    libraries (seconds on a small CPU) only when they run."""
    out, loaded = heavy_modules_loaded("from byolbench.cli.main import app\n")
    assert out.returncode == 0, out.stderr
    assert loaded == [], f"imported when the CLI starts: {' '.join(loaded)}"
