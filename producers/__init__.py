"""Thin entry points that put records on Kafka topics; the machinery lives in `offsetflow`."""
