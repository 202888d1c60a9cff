"""2-D maps of test-set features (UMAP or t-SNE), saved beside a run for the report.

The map is computed at evaluation time from the frozen features (up to
``eval.embedding_map_samples`` test images, the same seeded subset for every method) and
saved as ``embedding_map.csv`` (``method``, ``x``, ``y``, ``label``) in the run folder;
``byolbench report`` draws BYOL and random init side by side from it with matplotlib alone.

UMAP comes from ``umap-learn`` and t-SNE from scikit-learn, both optional
(``pip install 'byolbench[maps]'``). Features are standardised and reduced to at most 50
dimensions by PCA first (the usual preprocessing of both methods).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from byolbench.atomic import write_text
from byolbench.errors import ConfigError

logger = logging.getLogger(__name__)

MAP_FILE = "embedding_map.csv"
MAP_METHODS = ("off", "umap", "tsne")
# Which importable module each method needs, and the distribution that provides it.
MAP_LIBRARIES = {"umap": ("umap", "umap-learn"), "tsne": ("sklearn", "scikit-learn")}
PCA_DIM = 50


def missing_library_message(method: str) -> str:
    """The one-line message when the library of ``method`` is not installed."""
    module, distribution = MAP_LIBRARIES[method]
    return (
        f"eval.embedding_map={method} needs {distribution} (module {module!r}), which is not "
        f"installed; pip install 'byolbench[maps]' (or {distribution}), or set "
        "eval.embedding_map=off"
    )


def library_available(method: str) -> bool:
    """Whether the library ``method`` needs can be imported."""
    module, _ = MAP_LIBRARIES[method]
    return importlib.util.find_spec(module) is not None


def check_map_method(method: str) -> None:
    """Raises a one-line ``ConfigError`` for an unknown method or a missing library."""
    if method not in MAP_METHODS:
        raise ConfigError(
            f"eval.embedding_map={method!r} is invalid; valid: {', '.join(MAP_METHODS)}"
        )
    if method != "off" and not library_available(method):
        raise ConfigError(missing_library_message(method))


def map_subset(num_samples: int, max_samples: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of at most ``max_samples`` of ``num_samples`` (seeded)."""
    if max_samples <= 0 or max_samples >= num_samples:
        return torch.arange(num_samples)
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(num_samples, generator=generator)[:max_samples].sort().values


def _reduced(features: np.ndarray) -> np.ndarray:
    x = features.astype(np.float64)
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-8)
    if x.shape[1] <= PCA_DIM or x.shape[0] <= PCA_DIM:
        return x.astype(np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:PCA_DIM].T).astype(np.float32)


def embed_2d(features: torch.Tensor, method: str, seed: int = 0) -> np.ndarray:
    """``(N, 2)`` coordinates of ``features`` by UMAP or t-SNE.

    Raises:
        ConfigError: For an unknown method or a missing library.
    """
    check_map_method(method)
    x = _reduced(features.detach().float().cpu().numpy())
    n = x.shape[0]
    if method == "umap":
        import umap

        reducer = umap.UMAP(
            n_components=2, n_neighbors=min(15, max(2, n - 1)), random_state=seed, n_jobs=1
        )
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return np.asarray(tsne.fit_transform(x), dtype=np.float32)


def write_embedding_maps(
    path: Path,
    features: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    method: str,
    max_samples: int = 2000,
    seed: int = 0,
) -> Path:
    """Maps the test features of each method (``byol``, ``random``) of the same images and
    writes ``method,x,y,label`` rows to ``path`` (atomically)."""
    subset = map_subset(int(labels.shape[0]), max_samples, seed)
    frames = []
    for name, values in features.items():
        coords = embed_2d(values[subset.to(values.device)], method, seed)
        frames.append(
            pd.DataFrame(
                {
                    "method": name,
                    "x": coords[:, 0],
                    "y": coords[:, 1],
                    "label": labels.cpu()[subset].numpy(),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    write_text(path, f"# {method}\n" + frame.to_csv(index=False, float_format="%.4f"))
    return path


def read_embedding_map(path: Path) -> tuple[str, pd.DataFrame] | None:
    """The method and rows of an ``embedding_map.csv``; ``None`` when missing or unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    first, _, body = text.partition("\n")
    method = first.removeprefix("# ").strip() if first.startswith("# ") else "map"
    try:
        frame = pd.read_csv(StringIO(body if first.startswith("# ") else text))
    except (ValueError, pd.errors.ParserError):
        return None
    if not {"method", "x", "y", "label"} <= set(frame.columns) or frame.empty:
        return None
    return method, frame
