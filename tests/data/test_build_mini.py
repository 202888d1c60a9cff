"""The embedded dataset is rebuilt byte for byte from the CIFAR-10 JPEG archive."""

import hashlib
from pathlib import Path

import pytest

from byolbench.data.build_mini import build
from byolbench.data.embedded import ASSET

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.mark.skipif(not SOURCE.is_file(), reason="the CIFAR-10 JPEG archive is not here")
def test_build_reproduces_the_shipped_file(tmp_path):
    out = tmp_path / "mini.safetensors"
    build(SOURCE, out, train_per_class=1000, test_per_class=200)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(ASSET.read_bytes()).hexdigest()
    provenance = (ASSET.parent / "CIFAR10_MINI.md").read_text()
    assert digest in provenance
