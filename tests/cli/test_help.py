import subprocess
import sys

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


HEAVY_MODULES = ("torch", "timm", "torchvision", "accelerate", "pandas")


def test_the_command_line_starts_without_importing_torch_timm_or_pandas():
    """`byolbench --help` and an unknown option answer at once: the commands import the heavy
    libraries (seconds on a small CPU) only when they run."""
    code = (
        "import sys\n"
        "from byolbench.cli.main import app\n"
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"imported when the CLI starts: {out.stdout.strip()}"
