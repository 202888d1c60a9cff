"""`byolbench plugins list|check` through the real CLI, with fake installed plugins."""

import pytest
from typer.testing import CliRunner

from byolbench.cli.console import console
from byolbench.cli.main import app, main
from tests.fake_dists import fake_site

GOOD = """
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.num_features = 8

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    def tiny_net(pretrained=False, **kwargs):
        return TinyNet()

    def flat_views(image_size, mean, std):
        from byolbench.augment import TwoViewTransform, ViewSpec
        return TwoViewTransform(ViewSpec(), ViewSpec(), image_size, mean, std)

    def blobs(request):
        raise AssertionError("check must not load datasets")

    NOT_A_FACTORY = 3
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setattr(console, "_width", 250)  # one table row per line, no folding
    with fake_site(tmp_path, monkeypatch) as fake:
        fake.add_module("fakecli_good", GOOD)
        fake.add_module("fakecli_explodes", "raise RuntimeError('imported while listing')\n")
        yield fake


def _good_dist(site):
    site.add_dist(
        "fake-cli-good",
        "1.4.0",
        {
            "byolbench.backbones": {"cli_net": "fakecli_good:tiny_net"},
            "byolbench.augmentations": {"cli-views": "fakecli_good:flat_views"},
            "byolbench.datasets": {"cli-blobs": "fakecli_good:blobs"},
        },
    )


def _invoke(*args):
    return CliRunner().invoke(app, ["plugins", *args])


def test_list_shows_provenance_without_importing(site):
    _good_dist(site)
    site.add_dist(
        "fake-cli-lazy", "0.2", {"byolbench.backbones": {"lazy_net": "fakecli_explodes:net"}}
    )
    result = _invoke("list")
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line
        for line in result.output.splitlines()
        if line.count("│") > 2
    }
    assert set(rows) >= {"cli_net", "cli-views", "cli-blobs", "lazy_net"}
    assert "backbone" in rows["cli_net"] and "fake-cli-good 1.4.0" in rows["cli_net"]
    assert "fakecli_good:tiny_net" in rows["cli_net"] and "not imported" in rows["cli_net"]
    assert "augmentation" in rows["cli-views"] and "dataset" in rows["cli-blobs"]
    assert "fake-cli-lazy 0.2" in rows["lazy_net"]
    assert "cifar10" not in rows  # built-ins only with --all
    assert not site.imported("fakecli_explodes") and not site.imported("fakecli_good")
    with_builtins = _invoke("list", "--all")
    assert "cifar10-mini" in with_builtins.output and "built-in" in with_builtins.output


def test_list_shows_clashes_and_blocked_plugins(site, monkeypatch):
    site.add_dist(
        "fake-cli-clash",
        "1.0",
        {
            "byolbench.datasets": {
                "cifar10": "fakecli_good:blobs",
                "cli-blocked": "fakecli_good:blobs",
            }
        },
    )
    monkeypatch.setenv("BYOLBENCH_BLOCK_PLUGINS", "cli-blocked")
    result = _invoke("list")
    assert result.exit_code == 0, result.output
    assert (
        "problem: dataset name 'cifar10' is provided by both byolbench (built-in) and "
        "fake-cli-clash 1.0" in result.output
    )
    blocked = next(line for line in result.output.splitlines() if "cli-blocked" in line)
    assert "blocked" in blocked.split("│")[-2]


def test_check_passes_when_every_plugin_works(site):
    _good_dist(site)
    result = _invoke("check")
    assert result.exit_code == 0, result.output
    assert "ok   backbone cli_net (fake-cli-good 1.4.0)" in result.output
    assert "ok   augmentation cli-views" in result.output
    assert "ok   dataset cli-blobs" in result.output
    assert "all 3 plugin(s) passed" in result.output


def test_check_reports_each_problem_and_exits_non_zero(site):
    _good_dist(site)
    site.add_dist(
        "fake-cli-broken",
        "0.1",
        {
            "byolbench.backbones": {"boom_net": "fakecli_explodes:net"},
            "byolbench.augmentations": {"not-a-factory": "fakecli_good:NOT_A_FACTORY"},
        },
    )
    result = _invoke("check")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    boom = next(line for line in lines if "boom_net" in line)
    assert boom.startswith("FAIL backbone boom_net (fake-cli-broken 0.1)")
    assert "failed to import: RuntimeError: imported while listing" in boom
    bad = next(line for line in lines if "not-a-factory" in line)
    assert bad.startswith("FAIL augmentation not-a-factory (fake-cli-broken 0.1)")
    assert "breaks its contract: the entry point must name a factory" in bad
    assert "ok   backbone cli_net (fake-cli-good 1.4.0)" in result.output  # others unaffected
    assert "2 problem(s) in 5 plugin(s)" in result.output
    with pytest.raises(SystemExit) as exit_info:  # the installed `byolbench` entry point
        main(["plugins", "check"])
    assert exit_info.value.code == 1


def test_without_plugins_and_when_disabled(site, monkeypatch):
    result = _invoke("list")
    assert result.exit_code == 0 and "no plugins installed" in result.output
    assert "byolbench.backbones" in result.output
    _good_dist(site)
    monkeypatch.setenv("BYOLBENCH_DISABLE_PLUGINS", "1")
    for command in ("list", "check"):
        result = _invoke(command)
        assert result.exit_code == 0 and "disabled by BYOLBENCH_DISABLE_PLUGINS" in result.output
    assert not site.imported("fakecli_good")


@pytest.mark.parametrize("command", [[], ["list"], ["check"]])
def test_help_has_an_example(command):
    result = CliRunner().invoke(app, ["plugins", *command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "byolbench plugins" in result.output
