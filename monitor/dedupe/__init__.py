"""Deduplication: exact copies, wire copies (MinHash LSH) and stories (TF-IDF), with agency provenance.

``stage.place`` is the pipeline's entry point; the modules beside it are pure (fingerprint, agency,
representative, stories).
"""

from monitor.dedupe.stage import Placement, deduplicate, place, recluster

__all__ = ["Placement", "deduplicate", "place", "recluster"]
