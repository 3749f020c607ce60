"""Idempotent outputs of the consumer loop: MongoDB upserts and Parquet chunk files."""
