"""monitor: a media-monitoring feed aggregator."""

__version__ = "0.1.0"
