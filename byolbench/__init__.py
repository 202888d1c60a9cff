"""byolbench: plugin-based, timm-compatible BYOL pretraining and benchmark suite."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("byolbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
