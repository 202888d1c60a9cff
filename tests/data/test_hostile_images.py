"""Images and folders that look fine but are not: 16-bit scans, decompression bombs, one
class, a class tested but never trained, and very long folder paths."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byolbench.bench.matrix import MatrixSpec, expand
from byolbench.data import load_dataset
from byolbench.data.folder import decode_image
from byolbench.errors import DataError
from tests.data.helpers import write_image, write_image_folder


def write_bomb(path: Path, side: int = 20_000) -> Path:
    """A PNG whose header claims ``side`` x ``side`` pixels (400 million for 20000) in a few
    hundred bytes, as a decompression bomb does."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    rows = zlib.compress(b"\x00" * (side + 1) * 4)  # a few rows; the rest never arrives
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    return path


def test_sixteen_bit_grayscale_png_keeps_its_contrast(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    path = tmp_path / "scan.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    image = decode_image(path.read_bytes(), channels=3)
    expected = np.rint(ramp / 257.0)
    assert abs(float(image.float().mean()) - float(expected.mean())) < 0.5  # not almost white
    assert int(image.min()) == 0 and int(image.max()) == int(expected.max()) == 255
    gray = decode_image(path.read_bytes(), channels=1)
    assert np.array_equal(gray[0].numpy(), expected.astype(np.uint8))


def test_a_decompression_bomb_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    root = write_image_folder(tmp_path / "pets", ("cat", "dog"), per_class=3)
    bomb = write_bomb(root / "train" / "cat" / "huge.png")
    with caplog.at_level(logging.WARNING, logger="byolbench"):
        splits = load_dataset(f"imagefolder:{root}")
    assert len(splits.train) == 6  # the six good images; the bomb is left out
    assert str(bomb) in caplog.text and "skipped 1 unreadable" in caplog.text


def test_a_one_class_dataset_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "one", ("cat",), per_class=3)
    with pytest.raises(DataError, match="at least 2 classes"):
        load_dataset(f"imagefolder:{root}")


def test_a_class_with_test_images_but_no_training_images_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "pets", ("cat", "dog", "emu"), per_class=2)
    for image in (root / "train" / "emu").iterdir():
        image.unlink()
    with pytest.raises(DataError, match="'emu' have test images but no training images"):
        load_dataset(f"imagefolder:{root}")


def test_an_empty_class_folder_without_test_images_is_harmless(tmp_path):
    root = write_image_folder(tmp_path / "pets", ("cat", "dog"), per_class=2)
    (root / "train" / "emu").mkdir()
    splits = load_dataset(f"imagefolder:{root}")
    assert len(splits.train) == 4


def test_a_long_image_folder_path_gives_a_short_unique_run_folder(tmp_path):
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 11), "pets")
    assert len(f"imagefolder:{deep}") > 277
    other = deep.with_name("cats")
    cells = expand(MatrixSpec(["resnet18"], [f"imagefolder:{deep}", f"imagefolder:{other}"]))
    names = [cell.cell_id for cell in cells]
    assert all(len(name.encode()) <= 160 for name in names)
    assert len(set(names)) == 2 and names[0].split("__")[0].endswith("pets")
    folder = tmp_path / "results" / names[0]
    folder.mkdir(parents=True)  # the filesystem accepts it
    write_image(folder / "probe.png")
