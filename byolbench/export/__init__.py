"""Getting a pretrained backbone out: timm-loadable exports, evaluation of any weights, embeddings.

``open_source`` reads the online backbone of a run folder, a training checkpoint or an
export; ``export_backbone`` writes it as a folder plain timm loads.
"""

from byolbench.export.source import BackboneSource, open_source
from byolbench.export.writer import ExportResult, export_backbone

__all__ = ["BackboneSource", "ExportResult", "export_backbone", "open_source"]
