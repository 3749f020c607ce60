"""Extraction through the Batch API: the same requests as online, at the batch price, answered later.

``BatchExtractor.extract`` sends a batch of SMS as one batch job (one request per ``--llm-batch-size`` SMS,
``custom_id`` = the request's first sms_id), waits for the job, and trusts each answer by the online mode's
rules (``judge``). What the job did not answer (expired, cancelled, a failed request, an answer that does not
validate) is extracted online, through the online extractor, with its retries and its dead letters.

The budget sees a job before it is created: every request's worst case is reserved at the batch price, and
each answer then costs what its usage says.

This is the synchronous core of ``--llm-mode batch``: a job is waited for in the processing thread. What
the issue asks on top (jobs sized and aged per partition, the job id and offset range recorded in Kafka before
the job is created so that a restarted consumer polls the job it paid for instead of creating it again, and
``status`` listing open jobs) is built around it, not in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from offsetflow.sms.batch_api import BatchClient, BatchJob, request_line
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
)

log = logging.getLogger("offsetflow")

# The metadata a job is created with, naming its requests: the same SMS in the same order give the same key,
# so a retry of the batch (or a restart that reads it again) finds the job instead of paying for another.
JOB_KEY = "offsetflow_job"
# Jobs older than their 24 h completion window are over; looking further back would only read more pages.
RESUMABLE = 25 * 3600


def job_key(requests: dict[str, tuple[list[SmsIn], dict[str, Any]]]) -> str:
    lines = json.dumps([line for _, line in requests.values()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(lines.encode()).hexdigest()[:32]


class BatchExtractor(Extractor):
    text_only = True

    def __init__(self, online: OpenAIExtractor, client: BatchClient, poll_interval: float = 30.0) -> None:
        super().__init__()
        self.online = online
        self.client = client
        self.poll_interval = poll_interval
        self.model = online.model
        self.prompt_version = online.prompt_version
        self.usage = online.usage  # one account of calls, tokens and money, whichever way they were made
        self.meter = online.meter
        self.jobs = 0
        self.resumed = 0  # jobs found already created for the same requests (a retry, a restart), not paid again
        self.sent_online = 0  # SMS the batch left unanswered, extracted online instead

    def requests(self, batch: Sequence[SmsIn]) -> dict[str, tuple[list[SmsIn], dict[str, Any]]]:
        """The job's requests by custom_id: the same for the same SMS in the same order, so a job can be
        matched to the records it covers again after a restart."""
        size = self.online.settings.batch_size
        out: dict[str, tuple[list[SmsIn], dict[str, Any]]] = {}
        for start in range(0, len(batch), size):
            part = list(batch[start : start + size])
            body = chat_request(self.model, part, self.online.settings.max_tokens_per_sms)
            out[part[0].sms_id] = (part, request_line(part[0].sms_id, body))
        return out

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        if not batch:
            return Extracted()
        requests = self.requests(batch)
        key = job_key(requests)
        held = self._reserve(requests)
        try:
            job = self.client.find(JOB_KEY, key, since=time.time() - RESUMABLE)
            if job is None or job.status == "failed":  # failed: its input was refused, nothing was run or paid
                job = self.client.create(
                    self.client.upload(line for _, line in requests.values()),
                    {JOB_KEY: key, "model": self.model[:400], "prompt_version": self.prompt_version},
                )
                self.jobs += 1
                log.info("batch job %s created: %d requests for %d SMS", job.id, len(requests), len(batch))
            else:
                self.resumed += 1
                log.info("batch job %s (%s) already covers these %d SMS: resuming it", job.id, job.status, len(batch))
            job = self._wait(job)
        except BaseException:
            for amount in held.values():
                self.meter.release(amount)
            raise
        return self._collect(job, requests, held, on_results)

    def _reserve(self, requests: dict[str, tuple[list[SmsIn], dict[str, Any]]]) -> dict[str, float]:
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
            time.sleep(self.poll_interval)
            job = self.client.retrieve(job.id)
        return job

    def _collect(
        self,
        job: BatchJob,
        requests: dict[str, tuple[list[SmsIn], dict[str, Any]]],
        held: dict[str, float],
        on_results: OnResults | None,
    ) -> Extracted:
        out = Extracted()
        outcome = self.client.outcome(job)
        leftover: list[SmsIn] = []
        for custom_id, (part, line) in requests.items():
            reply = outcome.answers.get(custom_id)
            if reply is None:
                self.meter.release(held[custom_id])
                code, message = outcome.errors.get(custom_id, ("no_answer", f"the {job.status} job did not say"))
                log.info("batch job %s: request %s not answered (%s: %s)", job.id, custom_id, code, message)
                leftover += part
                continue
            usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
            prompt, completion = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
            size = len(json.dumps(line["body"]).encode())
            cost = self.meter.charge(held[custom_id], size, prompt, completion, batch=True)
            self.usage.add(prompt, completion, cost)
            try:
                accepted, wrong = judge(part, read_answer(reply, part))
            except Retryable:
                accepted, wrong = {}, {sms.sms_id: "unreadable" for sms in part}
            out.results.update(accepted)
            if accepted and on_results is not None:
                on_results(accepted)
            leftover += [sms for sms in part if sms.sms_id in wrong]
        if leftover:
            self.sent_online += len(leftover)
            online = self.online.extract(leftover, on_results)
            out.results.update(online.results)
            out.failures.update(online.failures)
        return out


def _tokens(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
