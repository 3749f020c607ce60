"""Upserts by natural key: writing the same output twice leaves one document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReplaceOne
from pymongo.collection import Collection

from offsetflow.stream.contracts import Sink
from offsetflow.stream.records import Output

# FerretDB 1.24 (SQLite) stops answering an update command of 100 or more upserts; stay below.
DEFAULT_WRITE_BATCH = 50


class MongoUpsertSink(Sink):
    name = "mongodb"

    def __init__(self, collection: Collection[dict[str, Any]], write_batch: int = DEFAULT_WRITE_BATCH) -> None:
        self.collection = collection
        self.write_batch = write_batch

    def write(self, outputs: Sequence[Output]) -> None:
        latest = {out.key: out.row for out in outputs}  # a key twice in a batch: the later record wins
        ops = [ReplaceOne({"_id": key}, {**row, "_id": key}, upsert=True) for key, row in latest.items()]
        for start in range(0, len(ops), self.write_batch):
            # Majority/journaled per the URI's write concern: acknowledged before offsets are committed.
            self.collection.bulk_write(ops[start : start + self.write_batch], ordered=False)
