"""Datasets: registry, in-memory splits, built-ins (imported here so they register)."""

from byolbench.data import embedded, imagefolder, torchvision_sets  # noqa: F401  (register)
from byolbench.data.base import DatasetInfo, DatasetSplits, ImageSplit, data_root
from byolbench.data.registry import DATASETS, DatasetRequest, load_dataset

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetRequest",
    "DatasetSplits",
    "ImageSplit",
    "data_root",
    "load_dataset",
]
