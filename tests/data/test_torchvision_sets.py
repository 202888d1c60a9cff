import pytest
import torch
import torchvision

from byolbench.augment import create_augmentation
from byolbench.data import load_dataset
from byolbench.errors import DataError
from tests.data.helpers import write_fake_mnist, write_fake_stl10


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_grayscale_sets_load_with_one_channel_and_become_rgb(tmp_path, name, folder):
    write_fake_mnist(tmp_path, folder)
    splits = load_dataset(name, data_dir=tmp_path, download=False)
    assert splits.info.channels == 1 and splits.info.image_size == 28
    assert splits.train.images.shape == (12, 1, 28, 28)
    assert splits.test.images.shape == (6, 1, 28, 28)
    assert len(splits.info.mean) == 3  # normalisation is given for the replicated RGB
    views = create_augmentation("auto", 28, splits.info.mean, splits.info.std)(
        splits.train.images, torch.Generator().manual_seed(0)
    )
    assert views[0].shape == (12, 3, 28, 28)


def test_stl10_pretrains_on_train_plus_unlabeled(tmp_path, monkeypatch):
    write_fake_stl10(tmp_path)
    monkeypatch.setattr(torchvision.datasets.STL10, "_check_integrity", lambda self: True)
    splits = load_dataset("stl10", data_dir=tmp_path, download=False)
    assert splits.info.image_size == 96
    assert splits.train.images.shape == (10, 3, 96, 96)
    assert splits.test.images.shape == (5, 3, 96, 96)
    assert splits.pretrain.images.shape == (17, 3, 96, 96)
    assert (splits.pretrain.labels[10:] == -1).all()
    assert splits.train.labels.tolist() == [i % 10 for i in range(10)]


@pytest.mark.parametrize("name", ["stl10", "mnist", "fashion_mnist", "cifar100"])
def test_missing_with_downloads_off_is_one_line(tmp_path, name):
    with pytest.raises(DataError) as info:
        load_dataset(name, data_dir=tmp_path, download=False)
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)
