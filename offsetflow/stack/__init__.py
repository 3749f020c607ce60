"""The local development stack: Kafka and FerretDB run from a cache, without Docker."""
