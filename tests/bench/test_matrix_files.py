"""Matrix files and seeds that are malformed: one line naming the path or key, before any work."""

from __future__ import annotations

import pytest

from byolbench.bench.matrix import expand, parse_seeds, spec_from_file
from byolbench.cli.main import main
from byolbench.errors import ConfigError

HEAD = "[matrix]\nbackbones = ['test_resnet']\ndatasets = ['cifar10-mini']\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("matrix = 3\n", "[matrix] in"),
        ("defaults = 'fast'\n" + HEAD, "must be a table"),
        (HEAD.replace("[matrix]", "defaults = 5\n[matrix]"), "[defaults] in"),
        ("backbones = ['x']\n" + HEAD, "[backbones] in"),
        ("datasets = 3\n" + HEAD, "[datasets] in"),
        (HEAD + "[backbones]\ntest_resnet = 3\n", "[backbones.test_resnet] in"),
        (HEAD + "[defaults]\ntrain = 3\n", "train = 3 in [defaults]"),
        (HEAD + "[backbones.test_resnet]\noptim = 'adamw'\n", "optim = 'adamw' in [backbones"),
        (HEAD + "preset = 3\n", "matrix.preset"),
    ],
)
def test_scalar_where_a_table_belongs(tmp_path, text, fragment):
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        expand(spec_from_file(path))
    message = str(info.value)
    assert fragment in message and "\n" not in message, message


def test_a_file_that_is_not_utf8_text(tmp_path, capsys):
    path = tmp_path / "matrix.toml"
    path.write_bytes(HEAD.encode() + b"# caf\xe9 in latin-1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--config", str(path), "--dry-run"])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not UTF-8 text" in lines[0] and str(path) in lines[0]


def test_a_folder_given_as_the_file(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        spec_from_file(tmp_path)


@pytest.mark.parametrize(
    ("seeds", "fragment"),
    [
        ("'0,1'", None),
        ("[0.5]", "seed 0.5"),
        ("[true]", "seed True"),
        ("[-1]", "seed -1"),
        ("[]", "no seed"),
    ],
)
def test_seeds_in_a_file(tmp_path, seeds, fragment):
    path = tmp_path / "matrix.toml"
    path.write_text(HEAD + f"seeds = {seeds}\n")
    if fragment is None:  # a comma-separated string is split at the commas, not into characters
        assert [c.seed for c in expand(spec_from_file(path))] == [0, 1]
        return
    with pytest.raises(ConfigError, match=fragment):
        spec_from_file(path)


def test_seeds_on_the_command_line():
    assert parse_seeds("0, 1,2", "--seeds") == [0, 1, 2]
    assert parse_seeds(["12"], "--seeds") == [12]
    for bad in ("0,x", "1.5", "-3"):
        with pytest.raises(ConfigError, match="not an integer"):
            parse_seeds(bad, "--seeds")
