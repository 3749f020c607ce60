"""No call for text already extracted: results kept by (model, prompt version, normalised body).

Bank SMS repeat word for word (balance alerts, promotions, the same spend every month), and a replay in a new
group or a re-seeded source would otherwise pay again for text it has already sent. Results are stored by
sms_id in ``financial_transactions``; this keeps a second, content-addressed copy in its own collection,
``CACHE``, keyed by ``_id`` = a hash of (model, prompt version, normalised body), because FerretDB answers
anything but an ``_id`` lookup with a scan of the whole collection.

Normalising is deliberately timid: runs of whitespace become one space and the ends are trimmed. Case is kept
(the counterparty is copied as written, so ``ACME LABS`` and ``Acme Labs`` must stay two texts) and digits are
never touched (they are the amounts, accounts and dates). The sender is not part of the key: the prompt derives
no field from it, and one bank's alerts reach people through several sender ids.

Only an extractor whose result is a function of the text sent may be cached (``Extractor.text_only``): a
copied result is the same extraction with the new SMS's ``sms_id``; the fields of the SMS itself (user,
sender, received_at) are filled in from the SMS by the processor, as for any result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection

from offsetflow.lookup import IdLookup
from offsetflow.sms.extractors import Extracted, Extractor, OnResults, SmsIn
from offsetflow.sms.result import InvalidResult, validate
from offsetflow.stream.isolate import describe

log = logging.getLogger("offsetflow")

CACHE = "sms_extraction_cache"


def normalise(body: str) -> str:
    return " ".join(body.split())


def content_key(model: str, prompt_version: str, body: str) -> str:
    """The cache's ``_id``: the same for texts that differ only in whitespace, for one model and prompt."""
    text = json.dumps(["sms-content-v1", model, prompt_version, normalise(body)], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ContentCache:
    """The results collection's content-addressed twin. Writes are idempotent upserts: the first result kept
    for a text stays (``$setOnInsert``), so two SMS of one text never end up with different copies, unless
    ``--force`` asks for a fresh extraction, which replaces it."""

    def __init__(self, collection: Collection[dict[str, Any]], model: str, prompt_version: str) -> None:
        self.collection = collection
        self.model = model
        self.prompt_version = prompt_version
        self.lookup = IdLookup(collection)

    def key(self, body: str) -> str:
        return content_key(self.model, self.prompt_version, body)

    def find(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored results by key (without an sms_id: see ``copy``)."""
        found = self.lookup.find(list(dict.fromkeys(keys))) if keys else {}
        return {
            key: doc["result"]
            for key, doc in found.items()
            if doc.get("model") == self.model
            and doc.get("prompt_version") == self.prompt_version
            and isinstance(doc.get("result"), dict)
        }

    def store(self, entries: dict[str, tuple[str, dict[str, Any]]], replace: Set[str] = frozenset()) -> None:
        """``entries``: key -> (the sms_id it was extracted for, its result); keys in ``replace`` overwrite."""
        if not entries:
            return
        now = datetime.now(UTC)
        ops = []
        for key, (sms_id, result) in entries.items():
            doc = {
                "model": self.model,
                "prompt_version": self.prompt_version,
                "result": {k: v for k, v in result.items() if k != "sms_id"},
                "first_sms_id": sms_id,
                "stored_at": now,
            }
            ops.append(UpdateOne({"_id": key}, {"$set" if key in replace else "$setOnInsert": doc}, upsert=True))
        self.collection.bulk_write(ops, ordered=False)


def copy(result: dict[str, Any], sms_id: str) -> dict[str, Any]:
    """A stored result for another SMS of the same text, validated as if the model had just answered."""
    return validate({**result, "sms_id": sms_id}, sms_id)


@dataclass
class _Flight:
    """A text being extracted by one thread; others with the same text wait for it instead of sending it."""

    done: threading.Event = field(default_factory=threading.Event)


class CachedExtractor(Extractor):
    """An extractor that sends each text once: SMS whose text is in the cache get a copy of its result, SMS of
    one batch with the same text are sent once, and a text another batch is extracting right now (the loop
    processes two at a time) is waited for, then read from the cache. Results are cached as soon as they
    arrive, so a consumer killed mid-batch keeps what it paid for. ``force`` sends every SMS and replaces the
    cached results.

    A text the extractor failed on fails for each of its SMS in the batch with the same reason (sending it again
    would most likely pay to fail again); a batch that waited for it sends it once more.

    Money goes with the SMS that was sent (``Extracted.costs``): a copy costs nothing, so summing the costs
    of stored results counts each payment once."""

    def __init__(self, inner: Extractor, cache: ContentCache, force: bool = False) -> None:
        if not inner.text_only:
            raise ValueError(f"the {inner.model} extractor reads more than the text: its results cannot be shared")
        super().__init__()
        self.inner = inner
        self.cache = cache
        self.force = force
        self.model = inner.model
        self.prompt_version = inner.prompt_version
        self.usage = inner.usage
        self.meter = inner.meter
        self.stop = inner.stop
        self.copied = 0  # SMS that got a result without being sent
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        if self.force:
            alone: dict[str, tuple[str, SmsIn, list[SmsIn]]] = {
                s.sms_id: (self.cache.key(s.body), s, []) for s in batch
            }
            return self._send(alone, on_results, replace={key for key, _, _ in alone.values()})
        groups: dict[str, list[SmsIn]] = {}
        for sms in batch:
            groups.setdefault(self.cache.key(sms.body), []).append(sms)
        out = Extracted()
        hits: dict[str, dict[str, Any]] = {}
        stale: set[str] = set()
        for key, result in self.cache.find(list(groups)).items():
            try:
                hits.update((sms.sms_id, copy(result, sms.sms_id)) for sms in groups[key])
            except InvalidResult as exc:  # cached under a schema this version no longer accepts: send it again
                log.warning("a cached result no longer validates (%s): extracting its text again", exc)
                stale.add(key)
                continue
            del groups[key]
        self._hand(out, hits, on_results)
        mine, theirs = self._claim(list(groups))
        try:
            if mine:
                leaders = {groups[key][0].sms_id: (key, groups[key][0], groups[key][1:]) for key in mine}
                sent = self._send(leaders, on_results, replace=stale)
                out.merge(sent)
        finally:
            self._land(mine)
        if theirs:
            for flight in theirs.values():
                flight.done.wait()
            again = self.extract([sms for key in theirs for sms in groups[key]], on_results)
            out.merge(again)
        return out

    def _send(
        self,
        leaders: dict[str, tuple[str, SmsIn, list[SmsIn]]],
        on_results: OnResults | None,
        replace: Set[str] = frozenset(),
    ) -> Extracted:
        """Send one SMS per text (``leaders``: sms_id -> (key, the SMS, others of its text in this batch));
        each result is cached and copied to the others as soon as its answer arrives."""
        handled: set[str] = set()
        handled_lock = threading.Lock()

        def on_answer(results: dict[str, dict[str, Any]]) -> None:
            with handled_lock:
                fresh = {sid: r for sid, r in results.items() if sid in leaders and sid not in handled}
                handled.update(fresh)
            if not fresh:
                return
            try:
                self.cache.store({leaders[sid][0]: (sid, r) for sid, r in fresh.items()}, replace=replace)
            except Exception as exc:  # the cache only saves money: results are stored by sms_id anyway
                log.warning("could not cache %d results: %s", len(fresh), describe(exc))
            copies = {s.sms_id: copy(r, s.sms_id) for sid, r in fresh.items() for s in leaders[sid][2]}
            with self._lock:
                self.copied += len(copies)
            if on_results is not None:
                on_results({**fresh, **copies})

        sent = self.inner.extract([sms for _, sms, _ in leaders.values()], on_answer)
        on_answer(sent.results)  # an extractor that does not report answers as they come
        out = Extracted(
            dict(sent.results), dict(sent.failures), {sid: c for sid, c in sent.costs.items() if sid in sent.results}
        )
        for sid, (_, _, others) in leaders.items():
            if sid in sent.results:
                out.results.update((s.sms_id, copy(sent.results[sid], s.sms_id)) for s in others)
            else:
                reason = sent.failures.get(sid, "no result")
                out.failures.update((s.sms_id, reason) for s in others)
        return out

    def _hand(self, out: Extracted, copies: dict[str, dict[str, Any]], on_results: OnResults | None) -> None:
        out.results.update(copies)
        with self._lock:
            self.copied += len(copies)
        if copies and on_results is not None:
            on_results(copies)

    def _claim(self, keys: Sequence[str]) -> tuple[list[str], dict[str, _Flight]]:
        """The texts this call sends (now in flight) and those another call is sending (to wait for)."""
        mine: list[str] = []
        theirs: dict[str, _Flight] = {}
        with self._lock:
            for key in keys:
                if key in self._flights:
                    theirs[key] = self._flights[key]
                else:
                    self._flights[key] = _Flight()
                    mine.append(key)
        return mine, theirs

    def _land(self, keys: Sequence[str]) -> None:
        with self._lock:
            flights = [self._flights.pop(key) for key in keys]
        for flight in flights:
            flight.done.set()
