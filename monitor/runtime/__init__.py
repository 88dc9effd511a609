"""The process's own machinery, used by every layer: logging (redacted, escaped), metrics, the process's identity and its helpers' lifeline, commit batching."""
