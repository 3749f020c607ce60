"""The SMS pipeline's processing: raw SMS become transaction rows; a result already stored is never paid twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from pymongo.collection import Collection

from offsetflow.lookup import IdLookup
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sms.extractors import Extractor, SmsIn
from offsetflow.sms.rows import LLM_COST, TRANSACTION_ROW_SCHEMA
from offsetflow.stream.contracts import Processor
from offsetflow.stream.isolate import describe
from offsetflow.stream.records import Failure, Output, Processed, Record

log = logging.getLogger("offsetflow")


# Real SMS are at most a few concatenated parts (~1,600 chars); a body far past that is not an SMS, and its
# cost (LLM tokens, extractor time) would be paid on every retry. It becomes a dead letter instead.
MAX_BODY_CHARS = 8_000


class SmsProcessor(Processor):
    """Reuses results already stored for the same model and prompt version (after a crash or a replay),
    sends the rest to the extractor in batches, and dead-letters what the extractor keeps failing on.

    Each answer's results are stored as soon as they arrive (the same idempotent upsert the result sink does
    later), so a consumer killed mid-batch has paid only for the requests in flight: the rest are reused.

    A row also carries what its result cost (``LLM_COST``), for MongoDB only. The early store cannot know it
    yet (``OnResults`` hands over results alone); the result sink's upsert replaces the whole document with
    the row that has it. A reused result keeps the cost stored with it: what it cost once, not paid again."""

    def __init__(self, results: Collection[dict[str, Any]], extractor: Extractor, force: bool = False) -> None:
        self.lookup = IdLookup(results)
        self.early = MongoUpsertSink(results)
        self.extractor = extractor
        self.force = force
        self.reused = 0
        self._count = threading.Lock()  # the loop may process two batches at once

    def _stored(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if self.force:
            return {}
        return {
            sms_id: doc
            for sms_id, doc in self.lookup.find(ids).items()
            if doc.get("model") == self.extractor.model and doc.get("prompt_version") == self.extractor.prompt_version
        }

    def _row(self, sms: dict[str, Any], result: dict[str, Any], cost: float | None = None) -> dict[str, Any]:
        row = {**result, "model": self.extractor.model, "prompt_version": self.extractor.prompt_version}
        row.update(sms_id=sms["sms_id"], user_id=sms["user_id"], sender=sms["sender"], received_at=sms["received_at"])
        if row["received_at"] is not None and row["received_at"].tzinfo is None:
            row["received_at"] = row["received_at"].replace(tzinfo=UTC)
        out = {k: row.get(k) for k in TRANSACTION_ROW_SCHEMA}
        if cost is not None:
            out[LLM_COST] = cost
        return out

    def _store_early(self, unique: dict[str, Record], results: dict[str, dict[str, Any]]) -> None:
        try:
            self.early.write(
                [Output(unique[sid].origin, sid, self._row(unique[sid].value, r)) for sid, r in results.items()]
            )
        except Exception as exc:  # only an optimisation: the result sink writes them again after the batch
            log.debug("could not store results early: %s", describe(exc))

    def process(self, records: Sequence[Record]) -> Processed:
        out = Processed()
        unique: dict[str, Record] = {}
        for record in records:
            body = record.value["body"]
            if len(body) > MAX_BODY_CHARS:
                reason = f"sms {record.value['sms_id'][:100]}: body of {len(body):,} chars is over {MAX_BODY_CHARS:,}"
                out.failures.append(Failure(record.origin, "invalid", reason))
            else:
                unique[record.value["sms_id"]] = record
        stored = self._stored(list(unique))
        with self._count:
            self.reused += len(stored)
        todo = [
            SmsIn(sid, r.value["sender"], r.value["body"], r.value["received_at"], r.origin.partition, r.origin.offset)
            for sid, r in unique.items()
            if sid not in stored
        ]
        extracted = self.extractor.extract(todo, lambda results: self._store_early(unique, results)) if todo else None
        for record in records:
            sms, sid = record.value, record.value["sms_id"]
            if sid not in unique:
                continue
            try:
                if sid in stored:
                    row = {k: stored[sid].get(k) for k in TRANSACTION_ROW_SCHEMA}
                    # what it cost when it was paid for; without one (stored by an older version, or early by a run
                    # that died) the cost stays unknown rather than a made-up 0
                    if LLM_COST in stored[sid]:
                        row[LLM_COST] = stored[sid][LLM_COST]
                elif extracted is not None and sid in extracted.results:
                    row = self._row(sms, extracted.results[sid], float(extracted.costs.get(sid, 0.0)))
                else:
                    reason = extracted.failures.get(sid, "no result") if extracted else "no result"
                    out.failures.append(Failure(record.origin, "extraction", f"sms {sid}: {reason}"))
                    continue
            except Exception as exc:  # whatever one SMS's result does to the row, it is that SMS's failure
                out.failures.append(Failure(record.origin, "transform", f"sms {sid}: {describe(exc)}"))
                continue
            out.outputs.append(Output(record.origin, sid, row))
        return out
