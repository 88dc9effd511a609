"""The daemon: the scheduler, live reload of feeds.yaml, the /healthz and /metrics listener, retention."""
