"""Extraction through the Batch API (``--llm-mode batch``): the same requests as online, at the batch price,
answered later.

``BatchExtractor.extract`` sends the SMS of one poll as one batch job per partition (one request per
``--llm-batch-size`` SMS), waits for the job, and trusts each answer by the online mode's rules (``judge``).
What a job did not answer (expired, cancelled, a failed request, an answer that does not validate) is extracted
online, through the online extractor, with its retries and its dead letters.

A job is paid for when it is created and runs for hours, so a consumer killed while it runs must find it again
instead of paying for another. With a ``BatchLedger`` (the consumer always has one), each job is recorded in
Kafka by the offsets it covers, *before* it is created (``submitting``: its key and input file) and once it is
(``open``: its id); the job's metadata carries the same key, so a crash between the two is covered by listing
the account's jobs. Before forming a job for a partition the extractor reads the partition's entries:

1. an entry whose records the group has committed past is done: removed;
2. an entry covering records in hand is resumed: the job is polled (never created again), every answer of it
   is validated against the SMS of its input file and kept for whichever poll brings that SMS (a restart may
   cut the records into other batches than the run that created it); an SMS the job did not answer goes online;
3. only SMS no entry covers form a new job.

A resumed job costs what its usage says again in this run's figures (the run that paid may have died before it
could count it); the account is billed once.

The budget sees a job before it is created: every request's worst case is reserved at the batch price, and
each answer then costs what its usage says. A stopping consumer (SIGTERM) stops waiting: the jobs stay
recorded, and the next run resumes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from offsetflow.sms.batch_api import BatchClient, BatchJob, BatchNotFound, request_line
from offsetflow.sms.batch_ledger import BatchLedger, JobEntry
from offsetflow.sms.extractors import (
    Extracted,
    Extractor,
    OnResults,
    OpenAIExtractor,
    Retryable,
    SmsIn,
    chat_request,
    judge,
    read_answer,
    share,
)
from offsetflow.sms.result import InvalidResult, validate
from offsetflow.stream.retry import StopCleanly

log = logging.getLogger("offsetflow")

# The metadata a job is created with, naming its requests: the same SMS in the same order give the same key,
# so a retry of the batch (or a restart that reads it again) finds the job instead of paying for another.
JOB_KEY = "offsetflow_job"
# Jobs older than their 24 h completion window are over; looking further back would only read more pages.
RESUMABLE = 25 * 3600

Requests = dict[str, tuple[list[SmsIn], dict[str, Any]]]  # custom_id -> (its SMS, its request line)


def job_key(requests: Requests) -> str:
    lines = json.dumps([line for _, line in requests.values()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(lines.encode()).hexdigest()[:32]


class JobsLeftRunning(StopCleanly):
    """The consumer was asked to stop while batch jobs run: what is written is committed, the jobs stay in the
    ledger, and the next run polls them instead of paying again. A stop asked for, not a failure: exit 0."""

    exit_code = 0

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"stopped while batch job {job_id} runs: it stays recorded, and the next run resumes it without "
            "paying for it again"
        )


class BatchExtractor(Extractor):
    text_only = True

    def __init__(
        self,
        online: OpenAIExtractor,
        client: BatchClient,
        poll_interval: float = 30.0,
        ledger: BatchLedger | None = None,
        topic: str = "",
    ) -> None:
        super().__init__()
        self.online = online
        self.client = client
        self.poll_interval = poll_interval
        self.ledger = ledger
        self.topic = topic  # the SMS topic whose offsets the ledger's entries name
        self.model = online.model
        self.prompt_version = online.prompt_version
        self.usage = online.usage  # one account of calls, tokens and money, whichever way they were made
        self.meter = online.meter
        self.jobs = 0
        self.resumed = 0  # jobs found already created for the same requests (a retry, a restart), not paid again
        self.sent_online = 0  # SMS the batch left unanswered, extracted online instead
        self._lock = threading.Lock()
        self._job_locks: dict[bytes, threading.Lock] = {}
        self._answered: dict[str, dict[str, Any]] = {}  # results of resumed jobs, until their SMS come by
        # ... and by text: a restart may cut the records into other polls, and the content cache above then
        # sends another SMS of a text than the one the job was asked about.
        self._answered_text: dict[tuple[str, str], dict[str, Any]] = {}
        self._answered_cost: dict[str, float] = {}
        self._collected: set[bytes] = set()  # entries resumed by this run: their answers are in _answered

    def requests(self, batch: Sequence[SmsIn]) -> Requests:
        """The job's requests by custom_id: the same for the same SMS in the same order, so a job can be
        matched to the records it covers again after a restart."""
        size = self.online.settings.batch_size
        out: Requests = {}
        for start in range(0, len(batch), size):
            part = list(batch[start : start + size])
            body = chat_request(self.model, part, self.online.settings.max_tokens_per_sms)
            out[part[0].sms_id] = (part, request_line(part[0].sms_id, body))
        return out

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        if not batch:
            return Extracted()
        if self.ledger is None or any(sms.partition is None or sms.offset is None for sms in batch):
            return self._job(batch, on_results, None)
        out = Extracted()
        partitions: dict[int, list[SmsIn]] = {}
        for sms in batch:
            assert sms.partition is not None
            partitions.setdefault(sms.partition, []).append(sms)
        # One read of the ledger and of the group's offsets per poll, not per partition.
        committed = self.ledger.committed(self.topic, partitions)
        entries = self.ledger.entries(self.topic, partitions)
        for partition, items in sorted(partitions.items()):
            mine = [e for e in entries if e.partition == partition]
            out.merge(self._partition(self.ledger, partition, items, mine, committed.get(partition), on_results))
        return out

    # -- one partition's SMS, with the ledger ---------------------------------------------------------------
    def _partition(
        self,
        ledger: BatchLedger,
        partition: int,
        items: list[SmsIn],
        entries: list[JobEntry],
        committed: int | None,
        on_results: OnResults | None,
    ) -> Extracted:
        covering: list[JobEntry] = []
        for entry in entries:
            if committed is not None and entry.last_offset < committed:
                ledger.close(entry)  # 1. its records are committed: nothing of it is left to resume
                continue
            in_hand = any(entry.covers(partition, sms.offset) for sms in items if sms.offset is not None)
            if in_hand and self._resume(ledger, entry):  # 2.
                covering.append(entry)
        out = Extracted()
        fresh: list[SmsIn] = []
        online: list[SmsIn] = []
        with self._lock:
            for sms in items:
                if sms.sms_id in self._answered:
                    out.results[sms.sms_id] = self._answered.pop(sms.sms_id)
                    out.costs[sms.sms_id] = self._answered_cost.pop(sms.sms_id, 0.0)
                elif (copied := self._copy(sms)) is not None:
                    out.results[sms.sms_id] = copied
                elif any(e.covers(partition, sms.offset) for e in covering if sms.offset is not None):
                    online.append(sms)  # its job did not answer it
                else:
                    fresh.append(sms)
        if fresh:  # 3.
            first, last = min(s.offset or 0 for s in fresh), max(s.offset or 0 for s in fresh)
            made = self._job(fresh, on_results, (ledger, partition, first, last))
            out.merge(made)
        if online:
            self.sent_online += len(online)
            again = self.online.extract(online, on_results)
            out.merge(again)
        return out

    def _resume(self, ledger: BatchLedger, entry: JobEntry) -> bool:
        """Poll an entry's job and keep its answers for the SMS it covers; never creates a job. Returns whether
        there was a job (False: recorded but never created, and now removed)."""
        with self._job_lock(entry.key):  # (held by ``_job`` while it creates the job this entry records)
            if entry.key in self._collected:
                return True
            job: BatchJob | None
            try:
                if entry.batch_id is not None:
                    job = self.client.retrieve(entry.batch_id)
                else:
                    job = self.client.find(JOB_KEY, entry.job_key, since=entry.updated_at / 1000 - 3600)
            except BatchNotFound:
                job = None
            if job is None or entry.file_id is None:
                # Recorded, never created (or gone from the server): nothing was paid; its SMS form a new job.
                log.info("batch job for offsets %d-%d was never created: forming it again", *entry.span)
                ledger.close(entry)
                return False
            self.resumed += 1
            if entry.batch_id is None:
                ledger.record(entry.opened(job.id))
            log.info("batch job %s (%s) covers offsets %d-%d: resuming it", job.id, job.status, *entry.span)
            requests = _requests_of(self.client.content(entry.file_id))
            answered = self._collect(self._wait(job), requests, None, None)
            texts = {s.sms_id: (s.sender, s.body) for part, _ in requests.values() for s in part}
            with self._lock:
                self._answered.update(answered.results)
                self._answered_cost.update(answered.costs)
                self._answered_text.update((texts[sid], r) for sid, r in answered.results.items() if sid in texts)
                self._collected.add(entry.key)
            return True

    # -- one job --------------------------------------------------------------------------------------------
    def _job(
        self,
        batch: Sequence[SmsIn],
        on_results: OnResults | None,
        record: tuple[BatchLedger, int, int, int] | None,
    ) -> Extracted:
        """One job for ``batch``: found if already created for the same requests, else created (recorded in
        the ledger first when ``record`` names it: ledger, partition, first and last offset); then waited for."""
        requests = self.requests(batch)
        key = job_key(requests)
        held = self._reserve(requests)
        try:
            # Without a ledger, the account's job list is the only memory of a job created before a crash; with
            # one, the ledger is (listing every job of the last day for each new one would cost pages per job).
            job = self.client.find(JOB_KEY, key, since=time.time() - RESUMABLE) if record is None else None
            if job is not None and job.status != "failed":  # failed: its input was refused, nothing was paid
                self.resumed += 1
                log.info("batch job %s (%s) already covers these %d SMS: resuming it", job.id, job.status, len(batch))
            else:
                job = self._create(requests, key, record)
                self.jobs += 1
                log.info("batch job %s created: %d requests for %d SMS", job.id, len(requests), len(batch))
            job = self._wait(job)
        except BaseException:
            for amount in held.values():
                self.meter.release(amount)
            raise
        return self._collect(job, requests, held, on_results)

    def _create(self, requests: Requests, key: str, record: tuple[BatchLedger, int, int, int] | None) -> BatchJob:
        """Upload and create, recorded before and after in the ledger (see the module's docstring)."""
        file_id = self.client.upload(line for _, line in requests.values())
        metadata = {JOB_KEY: key, "model": self.model[:400], "prompt_version": self.prompt_version}
        if record is None:
            return self.client.create(file_id, metadata)
        ledger, partition, first, last = record
        entry = JobEntry(ledger.group, self.topic, partition, first, last, key, "submitting", file_id)
        with self._job_lock(entry.key):  # a reader of the ledger meanwhile waits, then finds the job
            ledger.record(entry)
            job = self.client.create(file_id, metadata)
            ledger.record(entry.opened(job.id))
        return job

    def _reserve(self, requests: Requests) -> dict[str, float]:
        held: dict[str, float] = {}
        try:
            for custom_id, (_, line) in requests.items():
                size = len(json.dumps(line["body"]).encode())
                held[custom_id] = self.meter.reserve(size, line["body"]["max_tokens"], batch=True)
        except BaseException:
            for amount in held.values():
                self.meter.release(amount)
            raise
        return held

    def _wait(self, job: BatchJob) -> BatchJob:
        while not job.finished:
            if self.stop.wait(self.poll_interval):
                raise JobsLeftRunning(job.id)
            job = self.client.retrieve(job.id)
        return job

    def _copy(self, sms: SmsIn) -> dict[str, Any] | None:
        """A resumed job's result for the same text, as this SMS's (caller holds the lock)."""
        result = self._answered_text.get((sms.sender, sms.body))
        try:
            return validate({**result, "sms_id": sms.sms_id}, sms.sms_id) if result is not None else None
        except InvalidResult:
            return None

    def _job_lock(self, key: bytes) -> threading.Lock:
        with self._lock:
            return self._job_locks.setdefault(key, threading.Lock())

    def _collect(
        self,
        job: BatchJob,
        requests: Requests,
        held: dict[str, float] | None,
        on_results: OnResults | None,
    ) -> Extracted:
        """A finished job's validated answers. Without ``held`` (a resumed job: its SMS may come in other
        batches) what it left unanswered is only left out; with it, it is extracted online now."""
        out = Extracted()
        outcome = self.client.outcome(job)
        leftover: list[SmsIn] = []
        paid: dict[str, float] = {}
        for custom_id, (part, line) in requests.items():
            reserved = held.get(custom_id, 0.0) if held is not None else 0.0
            reply = outcome.answers.get(custom_id)
            if reply is None:
                self.meter.release(reserved)
                code, message = outcome.errors.get(custom_id, ("no_answer", f"the {job.status} job did not say"))
                log.info("batch job %s: request %s not answered (%s: %s)", job.id, custom_id, code, message)
                leftover += part
                continue
            usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
            prompt, completion = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
            size = len(json.dumps(line["body"]).encode())
            cost = self.meter.charge(reserved, size, prompt, completion, batch=True)
            self.usage.add(prompt, completion, cost)
            share(paid, part, cost)
            try:
                accepted, wrong = judge(part, read_answer(reply, part))
            except Retryable:
                accepted, wrong = {}, {sms.sms_id: "unreadable" for sms in part}
            out.results.update(accepted)
            if accepted and on_results is not None and held is not None:
                on_results(accepted)
            leftover += [sms for sms in part if sms.sms_id in wrong]
        if leftover and held is not None:
            self.sent_online += len(leftover)
            online = self.online.extract(leftover, on_results)
            out.results.update(online.results)
            out.failures.update(online.failures)
            for sid, cost in online.costs.items():
                paid[sid] = paid.get(sid, 0.0) + cost
        out.costs.update((sid, paid.get(sid, 0.0)) for sid in out.results)
        return out


def _requests_of(content: bytes) -> Requests:
    """A job's requests as its input file holds them, with the SMS each one asked about (to validate the
    answers against, as when the job was created)."""
    out: Requests = {}
    for raw in content.decode("utf-8", "replace").splitlines():
        try:
            line = json.loads(raw)
            sent = json.loads(line["body"]["messages"][-1]["content"])
            part = [SmsIn(str(s["sms_id"]), str(s["sender"]), str(s["body"])) for s in sent]
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a request this version wrote: its SMS go online when they come
        out[str(line["custom_id"])] = (part, line)
    return out


def _tokens(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
