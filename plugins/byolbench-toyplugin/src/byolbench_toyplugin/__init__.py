"""An example byolbench plugin: ``toy_convnet``, ``toy-mild`` and ``toy-shapes``.

Nothing is imported here: byolbench imports each entry point's module on first use, so
listing plugins stays cheap.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("byolbench-toyplugin")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
