import pytest
import torch
import torchvision

from byolbench.data import load_dataset
from byolbench.errors import DataError
from tests.data.helpers import CIFAR10_CLASSES, write_fake_cifar10, write_image_folder


def test_cifar10_reads_torchvision_layout(tmp_path, monkeypatch):
    write_fake_cifar10(tmp_path, n_train=50, n_test=10)  # every class has training images
    # the fake files are not the real ones, so skip torchvision's md5 check
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    splits = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert splits.train.images.shape == (50, 3, 32, 32)
    assert splits.test.images.shape == (10, 3, 32, 32)
    assert splits.train.images.dtype == torch.uint8
    assert splits.pretrain is splits.train
    assert splits.info.class_names == CIFAR10_CLASSES
    assert splits.train.labels.tolist() == list(range(10)) * 5  # 5 batches of 10


@pytest.mark.parametrize("subdir", ["cifar10", "cifar10-jpeg", ""])
def test_cifar10_reads_image_folder_copy(tmp_path, subdir):
    root = tmp_path / subdir if subdir else tmp_path
    write_image_folder(root, CIFAR10_CLASSES, per_class=2)
    splits = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert splits.train.images.shape == (20, 3, 32, 32)
    assert splits.test.images.shape == (20, 3, 32, 32)
    assert splits.info.image_size == 32 and splits.info.num_classes == 10
    assert sorted(splits.train.labels.tolist()) == sorted([i // 2 for i in range(20)])


def test_cifar10_offline_without_copy_is_one_clear_line(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "cifar-10-batches-py" in message
    assert "download" in message


def test_cifar10_missing_with_downloads_off(tmp_path):
    with pytest.raises(DataError, match="downloads are off"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
