import logging
import os
from pathlib import Path

import pytest
import torch

from byolbench.data import load_dataset
from byolbench.errors import DataError
from tests.data.helpers import write_image, write_image_folder

CLASSES = ("cat", "dog")


def _load(root, **kwargs):
    return load_dataset(f"imagefolder:{root}", **kwargs)


def test_folder_with_test_split(tmp_path):
    write_image_folder(tmp_path, CLASSES, per_class=3)
    splits = _load(tmp_path)
    assert splits.train.images.shape == (6, 3, 32, 32)
    assert splits.info.class_names == CLASSES and splits.info.image_size == 32
    assert sorted(splits.train.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert all(0 < m < 1 for m in splits.info.mean)


def test_val_split_unlabeled_folder_and_mixed_sizes(tmp_path):
    write_image_folder(tmp_path, CLASSES, per_class=2, splits=("train", "val"))
    write_image(tmp_path / "train" / "cat" / "big.jpg", (120, 80), fmt="JPEG")
    write_image(tmp_path / "unlabeled" / "a" / "x.png", (50, 70))
    write_image(tmp_path / "unlabeled" / "y.png", (32, 32))
    splits = _load(tmp_path, image_size=32)
    assert splits.train.images.shape[0] == 5 and splits.test.images.shape[0] == 4
    side = splits.train.images.shape[-1]
    assert splits.train.images.shape[-2] == side  # every image stored square at one size
    assert splits.pretrain.images.shape[0] == 7
    assert (splits.pretrain.labels == -1).sum() == 2


def test_missing_path_and_missing_argument(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        _load(tmp_path / "nope")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("imagefolder")


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="needs train/ and test/"):
        _load(tmp_path)


def test_split_without_class_folders(tmp_path):
    write_image(tmp_path / "train" / "loose.png")
    (tmp_path / "test").mkdir()
    with pytest.raises(DataError, match="no class subfolders") as info:
        _load(tmp_path)
    assert "1 images lie directly in it" in str(info.value)


def test_class_in_test_but_not_train(tmp_path):
    write_image_folder(tmp_path, CLASSES, per_class=1)
    write_image(tmp_path / "test" / "bird" / "0.png")
    with pytest.raises(DataError, match="bird") as info:
        _load(tmp_path)
    assert "training split does not have" in str(info.value)


def test_class_folders_without_images(tmp_path):
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        _load(tmp_path)


def test_unreadable_files_are_skipped_with_one_warning(tmp_path, caplog):
    write_image_folder(tmp_path, CLASSES, per_class=2)
    (tmp_path / "train" / "cat" / "notes.png").write_text("not an image")
    good = (tmp_path / "train" / "dog" / "0.png").read_bytes()
    (tmp_path / "train" / "dog" / "cut.png").write_bytes(good[: len(good) // 2])
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        splits = _load(tmp_path)
    assert splits.train.images.shape[0] == 4
    assert "skipped 2 unreadable" in caplog.text
    assert "notes.png" in caplog.text and "cut.png" in caplog.text


def test_all_files_unreadable(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split / "cat").mkdir(parents=True)
        (tmp_path / split / "cat" / "a.jpg").write_text("garbage")
    with pytest.raises(DataError, match="could be decoded"):
        _load(tmp_path)


def test_decoded_tensor_is_cached_by_content(tmp_path, monkeypatch):
    write_image_folder(tmp_path, CLASSES, per_class=2)
    first = _load(tmp_path)
    from byolbench.data import folder

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder, "decode_folder", fail)
    second = _load(tmp_path)
    assert torch.equal(first.train.images, second.train.images)
    write_image(tmp_path / "train" / "cat" / "0.png", colour=999)  # content changed
    with pytest.raises(AssertionError, match="decoded again"):
        _load(tmp_path)


class _TinyMemory:
    available = 10_000  # bytes: a handful of 32x32x3 images need more


def _pretend_little_memory(monkeypatch) -> None:
    """Makes every folder look too large for memory."""
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: _TinyMemory())


def _data_dir() -> Path:
    return Path(os.environ["BYOLBENCH_DATA"])


def _mapped_in_this_process() -> set[str]:
    import psutil

    return {m.path for m in psutil.Process().memory_maps() if m.path.endswith(".u8")}


def test_folder_too_large_for_memory_is_memory_mapped(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "folder", CLASSES, per_class=3)
    write_image(root / "unlabeled" / "x.png", (48, 40))
    write_image(root / "unlabeled" / "y.png", (32, 32), colour=5)
    in_memory = _load(root, data_dir=tmp_path / "ram", image_size=32)
    _pretend_little_memory(monkeypatch)
    mapped = _load(root, data_dir=tmp_path / "disk", image_size=32)

    for name in ("pretrain", "train", "test"):
        ours, reference = getattr(mapped, name), getattr(in_memory, name)
        assert torch.equal(ours.images, reference.images), name
        assert torch.equal(ours.labels, reference.labels), name
    assert mapped.info == in_memory.info
    files = sorted((tmp_path / "disk").rglob("*.u8"))
    assert len(files) == 2  # train+unlabelled in one file, test in another
    assert {str(f) for f in files} <= _mapped_in_this_process()
    assert not list((tmp_path / "ram").rglob("*.u8"))
    assert mapped.train.images.data_ptr() == mapped.pretrain.images.data_ptr()  # a view
    rows = torch.tensor([7, 0, 3])
    assert torch.equal(mapped.pretrain.images[rows], in_memory.pretrain.images[rows])


def test_memory_mapped_copy_is_reused_and_rebuilt_when_damaged(tmp_path, monkeypatch, caplog):
    from byolbench.data import mapped

    _pretend_little_memory(monkeypatch)
    write_image_folder(tmp_path, CLASSES, per_class=2)
    first = _load(tmp_path)
    expected_train, expected_test = first.train.images.clone(), first.test.images.clone()
    real_decode = mapped.decode_chunks

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(mapped, "decode_chunks", fail)
    second = _load(tmp_path)
    assert torch.equal(expected_train, second.train.images)
    del first, second  # damaging a file under a live mapping would crash this process

    data = sorted(_data_dir().rglob("*.u8"))[0]
    data.write_bytes(data.read_bytes()[:100])  # cut short by a crash or a full disk
    with (
        caplog.at_level(logging.WARNING, logger="byolbench"),
        pytest.raises(AssertionError, match="decoded again"),
    ):
        _load(tmp_path)
    assert "ignoring unreadable dataset cache" in caplog.text and data.name in caplog.text
    monkeypatch.setattr(mapped, "decode_chunks", real_decode)
    third = _load(tmp_path)
    assert torch.equal(expected_train, third.train.images)
    assert torch.equal(expected_test, third.test.images)


def test_memory_mapped_copy_skips_unreadable_files(tmp_path, monkeypatch, caplog):
    _pretend_little_memory(monkeypatch)
    write_image_folder(tmp_path, CLASSES, per_class=2)
    (tmp_path / "train" / "cat" / "notes.png").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        splits = _load(tmp_path)
    assert splits.train.images.shape == (4, 3, 32, 32)
    assert splits.train.labels.tolist() == [0, 0, 1, 1]
    assert "skipped 1 unreadable" in caplog.text and "notes.png" in caplog.text
    sizes = sorted(f.stat().st_size for f in _data_dir().rglob("*.u8"))
    assert sizes == [4 * 3 * 32 * 32] * 2  # the train file trimmed to the images kept


def test_folder_too_large_for_memory_and_disk_is_refused_before_decoding(tmp_path, monkeypatch):
    import shutil

    from byolbench.data import mapped

    _pretend_little_memory(monkeypatch)
    write_image_folder(tmp_path, CLASSES, per_class=2)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 1000))

    def fail(*args, **kwargs):
        raise AssertionError("decoding started")

    monkeypatch.setattr(mapped, "decode_chunks", fail)
    with pytest.raises(DataError, match="too large for memory") as info:
        _load(tmp_path)
    assert "--data-dir" in str(info.value) and "GiB free" in str(info.value)
