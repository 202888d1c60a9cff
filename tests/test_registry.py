"""Plugin registries with fake installed distributions: lazy loading, provenance, clashes,
failures, contracts and the disable/block switches."""

import pytest
import timm
import torch

from byolbench.augment import AUGMENTATIONS, create_augmentation
from byolbench.data import DATASETS, load_dataset
from byolbench.errors import ConfigError, PluginError
from byolbench.models import backbone_spec, create_backbone
from byolbench.models.registry import BACKBONES
from byolbench.registry import BUILTIN_SOURCE, signature_problem
from tests.fake_dists import fake_site

BACKBONE_GROUP = "byolbench.backbones"
AUG_GROUP = "byolbench.augmentations"
DATA_GROUP = "byolbench.datasets"

GOOD = """
    import torch
    from torch import nn

    class TinyNet(nn.Module):
        def __init__(self, in_chans=3, out_dim=8):
            super().__init__()
            self.conv = nn.Conv2d(in_chans, 8, 3, padding=1)
            self.num_features = out_dim
            self.out_dim = out_dim

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))[:, : self.out_dim]

    def tiny_net(pretrained=False, **kwargs):
        return TinyNet(**kwargs)

    def flat_views(image_size, mean, std):
        from byolbench.augment import TwoViewTransform, ViewSpec
        spec = ViewSpec(blur_p=0.0)
        return TwoViewTransform(spec, spec, image_size, mean, std)

    def _splits(labels, n=8):
        from byolbench.data import DatasetInfo, DatasetSplits, ImageSplit
        split = ImageSplit(torch.zeros(n, 3, 8, 8, dtype=torch.uint8), labels)
        info = DatasetInfo("blobs", 8, 3, ("a", "b"), (0.5,) * 3, (0.25,) * 3)
        return DatasetSplits(info, split, split, split)

    def blobs(request):
        return _splits(torch.arange(8) % 2)
"""

BAD = """
    from torch import nn
    from fakeplug_good import TinyNet, _splits
    import torch

    NOT_A_FACTORY = 3

    def no_pretrained(depth):
        return TinyNet()

    def aug_without_std(image_size, mean):
        return None

    def dataset_without_request():
        return None

    def wrong_width(pretrained=False, **kwargs):
        model = TinyNet(out_dim=4)
        model.num_features = 8
        return model

    def no_num_features(pretrained=False, **kwargs):
        return nn.Conv2d(3, 4, 3)

    class Needs224(TinyNet):
        def forward(self, x):
            if x.shape[-1] != 224:
                raise ValueError(f"expects 224 px input, got {x.shape[-1]}")
            return super().forward(x)

    def needs_224(pretrained=False, **kwargs):
        return Needs224()

    def exploding_net(pretrained=False, **kwargs):
        raise ZeroDivisionError("depth / 0")

    def not_callable_transform(image_size, mean, std):
        return 42

    def raising_aug(image_size, mean, std):
        raise ValueError("mean must be positive")

    def single_view(image_size, mean, std):
        return lambda images, generator: images

    def dict_dataset(request):
        return {"train": None}

    def bad_labels(request):
        return _splits(torch.arange(8))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    with fake_site(tmp_path, monkeypatch) as fake:
        fake.add_module("fakeplug_good", GOOD)
        fake.add_module("fakeplug_bad", BAD)
        yield fake


@pytest.fixture
def forget_new_timm_models():
    """Removes models that a test registered with timm (timm has no public unregister)."""
    from timm.models import _registry

    before = set(_registry._model_entrypoints)
    yield
    for name in set(_registry._model_entrypoints) - before:
        if hasattr(_registry, "_clear_model_entries"):
            _registry._clear_model_entries(name)
        _registry._model_entrypoints.pop(name, None)


def _entry(registry, name):
    return next(info for info in registry.entries(include_blocked=True) if info.name == name)


# -- listing, lazy loading, provenance ----------------------------------------------------


def test_listing_does_not_import_plugin_code(site):
    site.add_module("fakeplug_explodes", "raise RuntimeError('plugin code ran while listing')\n")
    site.add_dist(
        "fake-listing",
        "2.5.1",
        {
            BACKBONE_GROUP: {"listed_net": "fakeplug_explodes:net"},
            DATA_GROUP: {"listed-data": "fakeplug_explodes:data"},
        },
    )
    assert "listed_net" in BACKBONES and "listed_net" in BACKBONES.names()
    assert "listed-data" in DATASETS.names()
    info = _entry(BACKBONES, "listed_net")
    assert (info.kind, info.target, info.loaded, info.problem) == (
        "backbone",
        "fakeplug_explodes:net",
        False,
        "",
    )
    assert BACKBONES.describe("listed_net").startswith("backbone plugin 'listed_net' from")
    assert not site.imported("fakeplug_explodes")


def test_plugin_is_imported_on_first_get_only(site):
    site.add_dist("fake-lazy", "0.3.0", {BACKBONE_GROUP: {"lazy_net": "fakeplug_good:tiny_net"}})
    assert not site.imported("fakeplug_good")
    factory = BACKBONES.get("lazy_net")
    assert site.imported("fakeplug_good") and factory.__name__ == "tiny_net"
    assert BACKBONES.get("lazy_net") is factory
    assert _entry(BACKBONES, "lazy_net").loaded


def test_discovery_through_sys_path_alone(tmp_path, monkeypatch):
    with fake_site(tmp_path, monkeypatch, isolate=False) as fake:
        fake.add_module("fakeplug_good", GOOD)
        fake.add_dist(
            "fake-on-path", "1.0", {AUG_GROUP: {"path-views": "fakeplug_good:flat_views"}}
        )
        assert AUGMENTATIONS.is_plugin("path-views")
        assert AUGMENTATIONS.get("path-views").__name__ == "flat_views"
    assert "path-views" not in AUGMENTATIONS  # gone with the site


def test_provenance_names_distribution_and_version(site):
    site.add_dist("Fake_Provenance", "4.2.0", {DATA_GROUP: {"blobs": "fakeplug_good:blobs"}})
    info = _entry(DATASETS, "blobs")
    assert (info.distribution, info.version, info.source) == (
        "Fake_Provenance",
        "4.2.0",
        "Fake_Provenance 4.2.0",
    )
    assert not info.is_builtin and _entry(DATASETS, "cifar10").source == BUILTIN_SOURCE
    splits = load_dataset("blobs")
    assert splits.info.class_names == ("a", "b") and len(splits.train) == 8


# -- clashes ------------------------------------------------------------------------------


def test_plugin_clashing_with_builtin_is_an_error_naming_both(site, monkeypatch):
    site.add_dist("fake-shadow", "1.1", {DATA_GROUP: {"cifar10": "fakeplug_good:blobs"}})
    with pytest.raises(PluginError) as info:
        DATASETS.get("cifar10")
    message = str(info.value)
    assert "'cifar10'" in message and BUILTIN_SOURCE in message and "fake-shadow 1.1" in message
    assert "rename the entry point in fake-shadow" in message
    assert "BYOLBENCH_BLOCK_PLUGINS=cifar10" in message and "\n" not in message
    assert not site.imported("fakeplug_good")
    assert _entry(DATASETS, "cifar10").problem == message  # the built-in row shows it too
    monkeypatch.setenv("BYOLBENCH_BLOCK_PLUGINS", "cifar10")
    assert not DATASETS.is_plugin("cifar10")
    assert DATASETS.get("cifar10").__module__ == "byolbench.data.torchvision_sets"


def test_two_plugins_with_one_name_clash(site, monkeypatch):
    site.add_dist("fake-alpha", "1.0", {AUG_GROUP: {"twin": "fakeplug_good:flat_views"}})
    site.add_dist("fake-beta", "2.0", {AUG_GROUP: {"twin": "fakeplug_bad:raising_aug"}})
    with pytest.raises(PluginError) as info:
        AUGMENTATIONS.get("twin")
    message = str(info.value)
    assert "fake-alpha 1.0" in message and "fake-beta 2.0" in message
    assert "fake-alpha or fake-beta" in message
    assert "BYOLBENCH_BLOCK_PLUGINS=fake-beta:twin" in message
    assert AUGMENTATIONS.get("byol") is not None  # built-ins unaffected
    monkeypatch.setenv("BYOLBENCH_BLOCK_PLUGINS", "fake-beta:twin")
    assert AUGMENTATIONS.get("twin").__name__ == "flat_views"


def test_plugin_backbone_clashing_with_timm_or_an_alias(site):
    site.add_dist(
        "fake-timmclash",
        "0.9",
        {
            BACKBONE_GROUP: {
                "resnet34": "fakeplug_good:tiny_net",
                "vit_small": "fakeplug_good:tiny_net",
            }
        },
    )
    with pytest.raises(PluginError) as info:
        create_backbone("resnet34", 32)
    message = str(info.value)
    assert f"timm {timm.__version__} (timm.models.resnet)" in message
    assert "fake-timmclash 0.9" in message and "BYOLBENCH_BLOCK_PLUGINS=resnet34" in message
    with pytest.raises(PluginError, match="alias of timm's vit_small_patch16_224"):
        create_backbone("vit_small", 32)
    assert _entry(BACKBONES, "resnet34").problem == message
    assert not site.imported("fakeplug_good")
    assert backbone_spec(create_backbone("test_resnet", 32)).arch == "test_resnet"


def test_backbone_registering_itself_with_timm_is_not_a_clash(site, forget_new_timm_models):
    site.add_module(
        "fakepkg_timm.nets",
        """
        from timm.models import register_model
        from fakeplug_good import TinyNet

        @register_model
        def fake_timm_tiny_net(pretrained=False, num_classes=0, in_chans=3, **kwargs):
            return TinyNet(in_chans=in_chans)
    """,
    )
    (site.root / "fakepkg_timm" / "__init__.py").write_text(
        "from fakepkg_timm.nets import fake_timm_tiny_net\n"
    )
    site.add_dist(
        "fake-timmself",
        "1.0",
        {BACKBONE_GROUP: {"fake_timm_tiny_net": "fakepkg_timm:fake_timm_tiny_net"}},
    )
    assert not timm.models.is_model("fake_timm_tiny_net")
    model = create_backbone("fake_timm_tiny_net", 32)
    assert timm.models.is_model("fake_timm_tiny_net")  # importing registered it with timm
    assert backbone_spec(model).num_features == 8
    assert _entry(BACKBONES, "fake_timm_tiny_net").problem == ""
    assert timm.create_model("fake_timm_tiny_net")(torch.zeros(1, 3, 8, 8)).shape == (1, 8)


# -- failures and contracts ---------------------------------------------------------------


def test_broken_import_is_reported_and_others_keep_working(site):
    site.add_module("fakeplug_missing_dep", "import not_a_real_module_for_byolbench_tests\n")
    site.add_dist(
        "fake-broken",
        "0.0.1",
        {
            BACKBONE_GROUP: {"broken_net": "fakeplug_missing_dep:net"},
            AUG_GROUP: {"still-fine": "fakeplug_good:flat_views"},
        },
    )
    with pytest.raises(PluginError) as info:
        BACKBONES.get("broken_net")
    message = str(info.value)
    assert "backbone plugin 'broken_net' from fake-broken 0.0.1" in message
    assert "failed to import: ModuleNotFoundError" in message
    assert "not_a_real_module_for_byolbench_tests" in message
    assert "BYOLBENCH_BLOCK_PLUGINS=broken_net" in message
    assert _entry(BACKBONES, "broken_net").problem == message
    with pytest.raises(PluginError, match="failed to import"):
        create_backbone("broken_net", 32)
    views = create_augmentation("still-fine", 16, (0.5,) * 3, (0.2,) * 3)
    assert views(torch.zeros(2, 3, 16, 16, dtype=torch.uint8), torch.Generator())[0].shape == (
        2,
        3,
        16,
        16,
    )
    assert backbone_spec(create_backbone("test_resnet", 32)).num_features > 0
    assert DATASETS.get("cifar10-mini").__name__ == "cifar10_mini"


@pytest.mark.parametrize(
    ("registry", "group", "target", "expected"),
    [
        (BACKBONES, BACKBONE_GROUP, "NOT_A_FACTORY", "must name a factory fn(pretrained=False"),
        (
            BACKBONES,
            BACKBONE_GROUP,
            "no_pretrained",
            "called with the keyword argument 'pretrained'",
        ),
        (AUGMENTATIONS, AUG_GROUP, "aug_without_std", "called with the keyword argument 'std'"),
        (DATASETS, DATA_GROUP, "dataset_without_request", "called with 1 positional argument"),
    ],
)
def test_contract_violation_on_load_names_plugin_and_distribution(
    site, registry, group, target, expected
):
    site.add_dist("fake-contract", "3.0", {group: {"contract-case": f"fakeplug_bad:{target}"}})
    with pytest.raises(PluginError) as info:
        registry.get("contract-case")
    message = str(info.value)
    assert f"{registry.kind} plugin 'contract-case' from fake-contract 3.0" in message
    assert "breaks its contract" in message and expected in message
    assert "fix or uninstall fake-contract" in message and "\n" not in message
    assert registry.check() == [message]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("wrong_width", "pooled features of shape (B, 8)"),
        ("no_num_features", "no positive integer `num_features`"),
        ("exploding_net", "failed to build: ZeroDivisionError: depth / 0"),
    ],
)
def test_backbone_contract_is_checked_when_built(site, target, expected):
    site.add_dist("fake-bbuild", "1.0", {BACKBONE_GROUP: {"built_net": f"fakeplug_bad:{target}"}})
    with pytest.raises(PluginError) as info:
        create_backbone("built_net", 16)
    assert expected in str(info.value) and "from fake-bbuild 1.0" in str(info.value)


def test_check_builds_backbones_at_32_px_or_else_224_px(site):
    site.add_dist(
        "fake-probe",
        "1.0",
        {
            BACKBONE_GROUP: {
                "big_only": "fakeplug_bad:needs_224",
                "never_works": "fakeplug_bad:wrong_width",
            }
        },
    )
    results = {info.name: problem for info, problem in BACKBONES.check_each()}
    assert results["big_only"] == ""
    assert "(B, 3, 32, 32) input" in results["never_works"]  # the 32 px error is reported
    with pytest.raises(PluginError, match="expects 224 px input, got 32"):
        create_backbone("big_only", 32)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("not_callable_transform", "returned int, which is not callable"),
        ("raising_aug", "failed to build: ValueError: mean must be positive"),
    ],
)
def test_augmentation_contract_is_checked_when_built(site, target, expected):
    site.add_dist("fake-abuild", "1.0", {AUG_GROUP: {"built-views": f"fakeplug_bad:{target}"}})
    with pytest.raises(PluginError) as info:
        create_augmentation("built-views", 16, (0.5,) * 3, (0.2,) * 3)
    assert expected in str(info.value) and "from fake-abuild 1.0" in str(info.value)


def test_augmentation_output_is_checked_by_check(site):
    site.add_dist(
        "fake-views",
        "1.0",
        {
            AUG_GROUP: {
                "one-view": "fakeplug_bad:single_view",
                "two-views": "fakeplug_good:flat_views",
            }
        },
    )
    results = {info.name: problem for info, problem in AUGMENTATIONS.check_each()}
    assert "must return two float tensors of shape (2, 3, 32, 32)" in results["one-view"]
    assert "from fake-views 1.0" in results["one-view"]
    assert results["two-views"] == ""


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("dict_dataset", "returned dict, not byolbench DatasetSplits"),
        ("bad_labels", "train labels must lie in 0..1"),
    ],
)
def test_dataset_contract_is_checked_when_loaded(site, target, expected):
    site.add_dist("fake-dbuild", "1.0", {DATA_GROUP: {"built-data": f"fakeplug_bad:{target}"}})
    with pytest.raises(PluginError) as info:
        load_dataset("built-data")
    assert expected in str(info.value) and "from fake-dbuild 1.0" in str(info.value)


def test_unreadable_metadata_of_one_package_hides_only_that_package(site):
    bad = site.add_dist("fake-garbled", "1.0", {})
    (bad / "entry_points.txt").write_text("[byolbench.datasets]\nno equals sign here\n")
    site.add_dist("fake-intact", "1.0", {DATA_GROUP: {"blobs": "fakeplug_good:blobs"}})
    assert DATASETS.is_plugin("blobs")
    assert DATASETS.get("blobs").__name__ == "blobs"


# -- switches -----------------------------------------------------------------------------


def test_disable_plugins_turns_all_entry_points_off(site, monkeypatch):
    site.add_dist("fake-off", "1.0", {DATA_GROUP: {"blobs": "fakeplug_good:blobs"}})
    assert "blobs" in DATASETS
    monkeypatch.setenv("BYOLBENCH_DISABLE_PLUGINS", "1")
    assert "blobs" not in DATASETS and "blobs" not in DATASETS.names()
    assert all(info.is_builtin for info in DATASETS.entries(include_blocked=True))
    with pytest.raises(PluginError, match="unknown dataset 'blobs'"):
        DATASETS.get("blobs")
    assert DATASETS.get("cifar10-mini") is not None
    assert not site.imported("fakeplug_good")


@pytest.mark.parametrize(
    "block",
    ["blocked-data,other", "Fake_Block", "fake-block:blocked-data", " nothing , blocked-data "],
)
def test_block_plugins_by_entry_point_distribution_or_both(site, monkeypatch, block):
    site.add_dist(
        "fake-block",
        "1.0",
        {DATA_GROUP: {"blocked-data": "fakeplug_good:blobs", "kept-data": "fakeplug_good:blobs"}},
    )
    monkeypatch.setenv("BYOLBENCH_BLOCK_PLUGINS", block)
    assert "blocked-data" not in DATASETS
    assert _entry(DATASETS, "blocked-data").blocked
    with pytest.raises(PluginError, match="unknown dataset"):
        DATASETS.get("blocked-data")
    if block == "Fake_Block":  # a distribution name blocks all of its plugins
        assert "kept-data" not in DATASETS
    else:
        assert DATASETS.get("kept-data").__name__ == "blobs"


def test_unknown_backbone_is_still_a_config_error(site):
    with pytest.raises(ConfigError, match="close matches"):
        create_backbone("resnet_18", 32)


# -- helpers ------------------------------------------------------------------------------


def test_signature_problem_explains_what_does_not_fit():
    def ok(image_size, mean, std, scale=0.5):
        return None

    def kwargs_only(**kwargs):
        return None

    def positional(request, extra):
        return None

    assert signature_problem(ok, keywords=("image_size", "mean", "std")) == ""
    assert signature_problem(kwargs_only, keywords=("pretrained",)) == ""
    assert "nothing is passed for extra" in signature_problem(positional, positional=1)
    assert "must also accept **kwargs" in signature_problem(ok, var_keyword=True)
    assert signature_problem(len, positional=1) == ""  # builtins without a signature pass
