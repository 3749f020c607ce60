"""The posts pipeline's processing: a sampled id becomes the post's flat row, or a dead letter saying why not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.collection import Collection

from offsetflow.lookup import IdLookup, LookupMode
from offsetflow.posts.rows import post_row
from offsetflow.stream.contracts import Processor
from offsetflow.stream.isolate import describe
from offsetflow.stream.records import Failure, Output, Processed, Record


def _brief(post_id: str, limit: int = 200) -> str:
    """A post id as a reason quotes it: an id can be as long as a record (the letter keeps the original)."""
    return repr(post_id) if len(post_id) <= limit else f"{post_id[:limit]!r}… ({len(post_id):,} chars)"


class PostFetcher(Processor):
    """Looks each sampled id up in the source (see `offsetflow.lookup` for how); ids without a post become
    dead letters."""

    def __init__(
        self, source: Collection[dict[str, Any]], fetch_batch: int = 500, workers: int = 8, mode: LookupMode = "auto"
    ) -> None:
        self.source = source
        self.lookup = IdLookup(source, mode, fetch_batch, workers)
        self.mode = self.lookup.mode

    def fetch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.lookup.find(ids)

    def process(self, records: Sequence[Record]) -> Processed:
        docs = self.fetch(list(dict.fromkeys(r.value["post_id"] for r in records)))
        out = Processed()
        where = f"{self.source.database.name}.{self.source.name}"
        for record in records:
            pid = record.value["post_id"]
            doc = docs.get(pid)
            if doc is None:
                out.failures.append(Failure(record.origin, "not_found", f"post {_brief(pid)} not found in {where}"))
                continue
            try:
                row = post_row(doc, record.origin)
            except Exception as exc:  # whatever a document's shape makes the transform raise, it is this post's
                out.failures.append(Failure(record.origin, "transform", f"post {_brief(pid)}: {describe(exc)}"))
                continue
            out.outputs.append(Output(record.origin, pid, row))
        return out
