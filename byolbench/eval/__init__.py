"""Frozen-feature evaluation: feature extraction, weighted kNN and a linear probe."""

from byolbench.eval.evaluate import EvalRow, evaluate_backbone
from byolbench.eval.features import extract_features
from byolbench.eval.knn import KnnResult, knn_classify
from byolbench.eval.linear import LinearProbeResult, linear_probe

__all__ = [
    "EvalRow",
    "evaluate_backbone",
    "KnnResult",
    "LinearProbeResult",
    "extract_features",
    "knn_classify",
    "linear_probe",
]
