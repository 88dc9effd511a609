"""Deduplication: exact copies, wire copies (MinHash LSH) and stories (TF-IDF), with agency provenance.

``stage.place`` is the pipeline's entry point; the modules beside it are pure (fingerprint, agency,
representative, stories).

The stage is imported on first use: it brings NumPy, and a poll whose feeds are all unchanged (or a command
that only reads ``monitor.dedupe.updates``) has no use for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.dedupe.stage import Placement, deduplicate, place, recluster

__all__ = ["Placement", "deduplicate", "place", "recluster"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("monitor.dedupe.stage"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
