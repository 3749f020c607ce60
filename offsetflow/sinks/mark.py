"""Marks source documents done once their results are stored (runs after the result sink)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection

from offsetflow.sinks.mongo import DEFAULT_WRITE_BATCH
from offsetflow.stream.contracts import Sink
from offsetflow.stream.records import Output


class MarkProcessedSink(Sink):
    name = "source marks"

    def __init__(self, collection: Collection[dict[str, Any]], field: str = "isprocessed") -> None:
        self.collection = collection
        self.field = field

    def write(self, outputs: Sequence[Output]) -> None:
        ops = [UpdateOne({"_id": key}, {"$set": {self.field: True}}) for key in dict.fromkeys(o.key for o in outputs)]
        for start in range(0, len(ops), DEFAULT_WRITE_BATCH):
            self.collection.bulk_write(ops[start : start + DEFAULT_WRITE_BATCH], ordered=False)
