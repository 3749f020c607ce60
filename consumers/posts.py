"""`offsetflow consume posts`: fetch sampled posts by id, flatten them, write Parquet chunks and MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pymongo.collection import Collection

from offsetflow.posts.rows import post_row
from offsetflow.stream.records import Failure, Output, Processed, Processor, Record

FetchMode = Literal["auto", "in", "by-id"]


def is_ferretdb(collection: Collection[dict[str, Any]]) -> bool:
    return "ferretdbVersion" in collection.database.client.admin.command("buildInfo")


class PostFetcher(Processor):
    """Looks each sampled id up in the source; ids without a post become dead letters.

    ``in`` sends ``{_id: {$in: [...]}}`` batches in parallel (best on MongoDB). ``by-id`` sends one indexed
    ``{_id: ...}`` lookup per post in parallel: FerretDB answers ``$in`` with a full scan but single-id
    lookups from its index. ``auto`` picks by asking the server what it is.
    """

    def __init__(
        self, source: Collection[dict[str, Any]], fetch_batch: int = 1000, workers: int = 8, mode: FetchMode = "auto"
    ) -> None:
        self.source = source
        self.fetch_batch = fetch_batch
        self.mode: FetchMode = mode if mode != "auto" else ("by-id" if is_ferretdb(source) else "in")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if self.mode == "by-id":
            found = self.pool.map(lambda i: self.source.find_one({"_id": i}), ids)
            return {str(doc["_id"]): doc for doc in found if doc is not None}
        batches = [list(ids[i : i + self.fetch_batch]) for i in range(0, len(ids), self.fetch_batch)]
        docs: dict[str, dict[str, Any]] = {}
        for part in self.pool.map(lambda b: list(self.source.find({"_id": {"$in": b}})), batches):
            docs.update((str(doc["_id"]), doc) for doc in part)
        return docs

    def process(self, records: Sequence[Record]) -> Processed:
        docs = self.fetch(list(dict.fromkeys(r.value["post_id"] for r in records)))
        out = Processed()
        where = f"{self.source.database.name}.{self.source.name}"
        for record in records:
            pid = record.value["post_id"]
            doc = docs.get(pid)
            if doc is None:
                out.failures.append(Failure(record.origin, "not_found", f"post {pid!r} not found in {where}"))
                continue
            try:
                row = post_row(doc, record.origin)
            except (KeyError, TypeError, ValueError) as exc:
                out.failures.append(Failure(record.origin, "transform", f"post {pid!r}: {type(exc).__name__}: {exc}"))
                continue
            out.outputs.append(Output(record.origin, pid, row))
        return out
