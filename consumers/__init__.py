"""Thin pipeline consumers; the commit-after-write loop they share lives in `offsetflow.stream`."""
