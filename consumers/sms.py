"""`offsetflow consume sms`: extract transactions from raw SMS; never pay twice for a stored result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from pymongo.collection import Collection

from offsetflow.lookup import IdLookup
from offsetflow.sms.extractors import Extractor, SmsIn
from offsetflow.sms.rows import TRANSACTION_ROW_SCHEMA
from offsetflow.stream.records import Failure, Output, Processed, Processor, Record


class SmsProcessor(Processor):
    """Reuses results already stored for the same model and prompt version (after a crash or a replay),
    sends the rest to the extractor in batches, and dead-letters what the extractor keeps failing on."""

    def __init__(self, results: Collection[dict[str, Any]], extractor: Extractor, force: bool = False) -> None:
        self.lookup = IdLookup(results)
        self.extractor = extractor
        self.force = force
        self.reused = 0

    def _stored(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if self.force:
            return {}
        return {
            sms_id: doc
            for sms_id, doc in self.lookup.find(ids).items()
            if doc.get("model") == self.extractor.model and doc.get("prompt_version") == self.extractor.prompt_version
        }

    def process(self, records: Sequence[Record]) -> Processed:
        unique = {r.value["sms_id"]: r for r in records}
        stored = self._stored(list(unique))
        self.reused += len(stored)
        todo = [
            SmsIn(sid, r.value["sender"], r.value["body"], r.value["received_at"])
            for sid, r in unique.items()
            if sid not in stored
        ]
        extracted = self.extractor.extract(todo) if todo else None
        out = Processed()
        for record in records:
            sms, sid = record.value, record.value["sms_id"]
            if sid in stored:
                row = {k: stored[sid].get(k) for k in TRANSACTION_ROW_SCHEMA}
            elif extracted is not None and sid in extracted.results:
                row = {
                    **extracted.results[sid],
                    "model": self.extractor.model,
                    "prompt_version": self.extractor.prompt_version,
                }
                row.pop("sms_id", None)
                row.update(sms_id=sid, user_id=sms["user_id"], sender=sms["sender"], received_at=sms["received_at"])
            else:
                reason = extracted.failures.get(sid, "no result") if extracted else "no result"
                out.failures.append(Failure(record.origin, "extraction", f"sms {sid}: {reason}"))
                continue
            if row["received_at"] is not None and row["received_at"].tzinfo is None:
                row["received_at"] = row["received_at"].replace(tzinfo=UTC)
            out.outputs.append(Output(record.origin, sid, {k: row.get(k) for k in TRANSACTION_ROW_SCHEMA}))
        return out
