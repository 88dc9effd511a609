"""Digests and alerts: what is new on a channel, its content by story, rendering, and the channels."""
