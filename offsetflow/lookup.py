"""Looking documents up by `_id` in bulk, the fast way for the server at hand.

``in`` sends ``{_id: {$in: [...]}}`` batches in parallel (best on MongoDB). ``by-id`` sends one indexed
``{_id: ...}`` lookup per id in parallel: FerretDB answers ``$in`` with a full scan but single-id lookups from
its index. ``auto`` picks by asking the server what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pymongo.collection import Collection

LookupMode = Literal["auto", "in", "by-id"]


def is_ferretdb(collection: Collection[dict[str, Any]]) -> bool:
    return "ferretdbVersion" in collection.database.client.admin.command("buildInfo")


class IdLookup:
    def __init__(
        self, collection: Collection[dict[str, Any]], mode: LookupMode = "auto", batch: int = 500, workers: int = 8
    ) -> None:
        self.collection = collection
        self.batch = batch
        self.mode: LookupMode = mode if mode != "auto" else ("by-id" if is_ferretdb(collection) else "in")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup")

    def find(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents that exist among ``ids``, by id."""
        if self.mode == "by-id":
            found = self.pool.map(lambda i: self.collection.find_one({"_id": i}), ids)
            return {str(doc["_id"]): doc for doc in found if doc is not None}
        batches = [list(ids[i : i + self.batch]) for i in range(0, len(ids), self.batch)]
        docs: dict[str, dict[str, Any]] = {}
        for part in self.pool.map(lambda b: list(self.collection.find({"_id": {"$in": b}})), batches):
            docs.update((str(doc["_id"]), doc) for doc in part)
        return docs
