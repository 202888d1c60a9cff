"""Image folders preprocessed the way the field does it: normalisation measured over the
whole split, storage size kept apart from training size, one CIFAR-10 whichever source."""

from __future__ import annotations

import pytest
import torch
import torchvision
from PIL import Image

from byolbench.augment.transforms import EvalTransform
from byolbench.config import RunConfig
from byolbench.data import imagefolder, load_dataset
from byolbench.data.base import ImageSplit
from byolbench.train.trainer import image_size_for
from tests.data.helpers import CIFAR10_CLASSES, write_coloured_folder, write_fake_cifar10


def _full_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = images.double().div(255.0)
    return x.mean(dim=(0, 2, 3)), x.transpose(0, 1).reshape(3, -1).std(dim=1)


def test_channel_stats_cover_the_whole_split_not_its_first_classes():
    # 5,000 red images then 1,000 blue ones, sorted by class as a folder is
    images = torch.zeros(6000, 3, 4, 4, dtype=torch.uint8)
    images[:5000, 0] = 255
    images[5000:, 2] = 255
    split = ImageSplit(images, torch.cat([torch.zeros(5000), torch.ones(1000)]).long())
    mean, std = imagefolder.channel_stats(split)
    full_mean, full_std = _full_stats(images)
    assert mean == pytest.approx(full_mean.tolist(), abs=1e-4)  # (0.8333, 0, 0.1667)
    assert std == pytest.approx(full_std.clamp_min(1e-3).tolist(), abs=1e-4)  # std > 0
    # a smaller seeded sample is spread over the split and reproducible
    sampled = imagefolder.channel_stats(split, sample=600)
    assert sampled == imagefolder.channel_stats(split, sample=600)
    assert sampled[0] == pytest.approx(full_mean.tolist(), abs=0.05)
    assert 0.05 < sampled[0][2] < 0.3  # blue images are in the sample


def test_folder_normalisation_is_measured_over_all_classes(tmp_path):
    write_coloured_folder(tmp_path, sizes=((24, 24),))
    splits = load_dataset(f"imagefolder:{tmp_path}")
    full_mean, full_std = _full_stats(splits.train.images)
    assert splits.info.mean == pytest.approx(full_mean.tolist(), abs=1e-4)
    assert splits.info.std == pytest.approx(full_std.tolist(), abs=1e-4)
    assert all(abs(m - 0.34) < 0.02 for m in splits.info.mean)  # a third of each colour


def test_mixed_sizes_are_stored_larger_than_the_training_size(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefolder, "DEFAULT_IMAGE_SIZE", 32)
    write_coloured_folder(tmp_path)
    splits = load_dataset(f"imagefolder:{tmp_path}")
    info = splits.info
    assert (info.image_size, info.train_size, info.crop_pct) == (36, 32, 0.875)
    assert splits.train.images.shape[-2:] == (36, 36)
    assert image_size_for(RunConfig(), splits) == 32  # trained (and recorded) at 32, not 36
    requested = load_dataset(f"imagefolder:{tmp_path}", image_size=24)
    assert requested.train.images.shape[-1] == 27 and requested.info.training_size == 24


def test_storage_rules():
    storage, kept = imagefolder.storage_for, imagefolder.Storage
    assert storage({(224, 224)}, 0) == kept(224, 224, 1.0)
    assert storage({(224, 224)}, 224) == kept(224, 224, 1.0)
    assert storage({(500, 375), (375, 500)}, 0) == kept(256, 224, 0.875)
    assert storage({(500, 375)}, 160) == kept(182, 160, 0.875)
    assert storage({(32, 32)}, 64) == kept(73, 64, 0.875)


def test_evaluation_takes_the_centre_crop_of_the_training_size():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 36, 36), dtype=torch.uint8, generator=generator)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = EvalTransform(32, mean, std, crop_pct=0.875)(images)
    centre = images[..., 2:34, 2:34].float() / 255.0
    expected = (centre - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert out.shape == (2, 3, 32, 32) and torch.allclose(out, expected, atol=1e-6)
    # stored at another size: resized to floor(32 / 0.875) = 36 first, then cropped
    assert EvalTransform(32, mean, std, crop_pct=0.875)(images[..., :30, :30]).shape[-1] == 32
    # crop_pct 1.0 keeps the whole image (CIFAR-style datasets stored at their native size)
    whole = EvalTransform(32, mean, std)(images)
    assert not torch.allclose(whole, out, atol=1e-3)


def _pickle_and_folder_copies(tmp_path, monkeypatch):
    """The same random images as torchvision's pickle layout and as an ImageFolder copy."""
    pickled = write_fake_cifar10(tmp_path / "pickle", n_train=50, n_test=10)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    reference = load_dataset("cifar10", data_dir=pickled, download=False)
    copy = tmp_path / "folder" / "cifar10"
    for split_name, split in (("train", reference.train), ("test", reference.test)):
        for i, (image, label) in enumerate(zip(split.images, split.labels, strict=True)):
            path = copy / split_name / CIFAR10_CLASSES[int(label)] / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return pickled, tmp_path / "folder"


@pytest.mark.parametrize("image_size", [0, 64])
def test_cifar10_is_the_same_from_the_pickle_and_from_an_image_folder(
    tmp_path, monkeypatch, image_size
):
    pickled, folder = _pickle_and_folder_copies(tmp_path, monkeypatch)
    config = RunConfig().replace({"data.image_size": image_size})
    loaded = []
    for root in (pickled, folder):
        splits = load_dataset("cifar10", data_dir=root, download=False, image_size=image_size)
        loaded.append(splits)
        assert splits.info.image_size == 32 and getattr(splits.info, "crop_pct", 1.0) == 1.0
        assert image_size_for(config, splits) == (image_size or 32)
    from_pickle, from_folder = loaded
    assert from_pickle.info == from_folder.info
    for name in ("train", "test"):
        a, b = getattr(from_pickle, name), getattr(from_folder, name)
        order = torch.argsort(a.labels, stable=True)  # the folder lists images class by class
        assert torch.equal(a.images[order], b.images)
        assert torch.equal(a.labels[order], b.labels)
    assert from_folder.pretrain is from_folder.train
