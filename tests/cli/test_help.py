import pytest
from typer.testing import CliRunner

from byolbench.cli.main import app

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
