"""Extractors turn a batch of SMS into one validated result per SMS.

`rules` runs the built-in regexes. `openai` talks to any OpenAI-compatible chat-completions endpoint
(OpenAI, vLLM, Ollama, llama.cpp server), asks for JSON that fits RESULT_SCHEMA, validates every result
against the SMS it must describe, and retries 429/5xx/timeouts with exponential backoff and jitter, under
concurrency, requests-per-minute and tokens-per-minute limits.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from offsetflow.sms import rules
from offsetflow.sms.cost import Meter
from offsetflow.sms.prompt import FEW_SHOT, SYSTEM_PROMPT
from offsetflow.sms.result import PROMPT_VERSION, RESULT_SCHEMA, InvalidResult, validate
from offsetflow.stream.retry import InfrastructureError

log = logging.getLogger("offsetflow")


@dataclass(frozen=True)
class SmsIn:
    sms_id: str
    sender: str
    body: str
    received_at: datetime | None = None
    # Where the SMS sits in its topic: a batch job is recorded by the offsets it covers (``batch_ledger``).
    partition: int | None = None
    offset: int | None = None


@dataclass
class Extracted:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # sms_id -> reason
    # sms_id -> USD its result cost, stored with it so spending per user survives the process: each request's
    # cost (as ``Meter.charge`` counted it) split evenly over the SMS it carried, summed over every request
    # that carried the SMS (the request that failed for it included). Only SMS in ``results``; a missing
    # sms_id cost nothing (the rules, a copy of a text already paid for).
    costs: dict[str, float] = field(default_factory=dict)

    def merge(self, other: Extracted) -> None:
        """Take another part's results, failures and costs (parts cover different SMS)."""
        self.results.update(other.results)
        self.failures.update(other.failures)
        self.costs.update(other.costs)


OnResults = Callable[[dict[str, dict[str, Any]]], None]


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # USD, by the extractor's price table (0 for a model without a price)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt: int, completion: int, cost: float = 0.0) -> None:
        with self.lock:
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.cost += cost

    def charge(self, cost: float) -> None:
        """Money a failed call may have cost (see ``Meter.charge``): no call, no tokens, counted."""
        with self.lock:
            self.cost += cost


class Extractor:
    model = "?"
    prompt_version = PROMPT_VERSION
    # Whether a result depends only on the text sent (sender and body), so it may be reused for another SMS
    # with the same text (``offsetflow.sms.cache``). The rules read ``received_at`` too; the LLM is never sent it.
    text_only = False

    def __init__(self) -> None:
        self.usage = Usage()
        self.meter = Meter(None)
        # Set when the consumer stops: an extractor that waits long (a batch job runs for hours) stops waiting
        # and leaves the rest to the next run. The pipeline hands the same event to the loop.
        self.stop = threading.Event()

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        """One result or one failure reason per SMS. ``on_results`` is called with each group of validated
        results as soon as it is known (possibly from several threads), so the caller can store them before
        the whole batch is done."""
        raise NotImplementedError


class RulesExtractor(Extractor):
    model = rules.MODEL

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        out = Extracted()
        for sms in batch:
            try:
                out.results[sms.sms_id] = validate(rules.extract(sms.sms_id, sms.body, sms.received_at), sms.sms_id)
            except Exception as exc:  # a body the rules cannot handle is that SMS's failure, not the batch's
                out.failures[sms.sms_id] = f"rules extractor: {type(exc).__name__}: {exc}"[:500]
        return out


class RateLimiter:
    """Token buckets for requests and tokens per minute; ``acquire`` blocks until both allow the request."""

    def __init__(self, rpm: float, tpm: float) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._req, self._tok = rpm, tpm
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, tokens: int) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                elapsed, self._at = now - self._at, now
                self._req = min(self.rpm, self._req + elapsed * self.rpm / 60)
                self._tok = min(self.tpm, self._tok + elapsed * self.tpm / 60)
                need_tok = min(tokens, self.tpm)
                if self._req >= 1 and self._tok >= need_tok:
                    self._req -= 1
                    self._tok -= need_tok
                    return
                wait = max((1 - self._req) * 60 / self.rpm, (need_tok - self._tok) * 60 / self.tpm, 0.01)
            time.sleep(min(wait, 5.0))


class Retryable(Exception):
    """The request may succeed if sent again (429, 5xx, timeouts, unreadable answers)."""

    def __init__(
        self, reason: str, retry_after: float | None = None, busy: bool = False, malformed: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.busy = busy  # the server said so (429/5xx): worth waiting for, whatever the request holds
        self.malformed = malformed  # an answer came, but not one we can read


class Refused(Exception):
    """The server refused this request for what it holds (HTTP 400, 413, 422: too long, unprocessable):
    sending it again unchanged cannot help, sending its SMS one by one may."""


class LlmUnusable(InfrastructureError):
    """The endpoint refuses us whatever we send (bad key, no such model or URL): stop, don't dead-letter."""


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str
    model: str
    api_key: str = ""
    batch_size: int = 10
    concurrency: int = 4
    rpm: float = 500
    tpm: float = 200_000
    timeout: float = 60.0
    max_retries: int = 5
    # The answer's bound per SMS (``max_tokens``): a result is about 120 tokens, so this never cuts a good one
    # short, and it makes a request's worst-case cost finite, which a budget needs.
    max_tokens_per_sms: int = 400


class OpenAIExtractor(Extractor):
    """Requests of ``batch_size`` SMS each, run ``concurrency`` at a time.

    Trust is per result, not per request: a result is accepted for an SMS only if it validates, names that SMS,
    and is the only result in the answer naming it. A request that fails or answers wrongly for some SMS is
    not retried whole: each SMS left over is asked again alone, so one SMS whose text breaks the model's answer
    fails alone, and an SMS that makes the model speak about another can no longer share a request with it.
    """

    text_only = True

    def __init__(self, settings: OpenAISettings, meter: Meter | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.model = settings.model
        if meter is not None:
            meter.require_price(settings.model)
            self.meter = meter
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="llm")

    def extract(self, batch: Sequence[SmsIn], on_results: OnResults | None = None) -> Extracted:
        out = Extracted()
        size = self.settings.batch_size
        parts = [batch[i : i + size] for i in range(0, len(batch), size)]
        futures = [self.pool.submit(self._extract_part, part, on_results) for part in parts]
        error: BaseException | None = None
        for future in futures:
            # Every part runs to its end even after one raised (a budget reached, a refused key): a call in
            # flight is paid for, so its results must reach ``on_results`` before the error goes up.
            try:
                done = future.result()
            except BaseException as exc:
                error = error or exc
                continue
            out.merge(done)
        if error is not None:
            raise error
        return out

    def _extract_part(self, part: Sequence[SmsIn], on_results: OnResults | None) -> Extracted:
        out = Extracted()
        paid: dict[str, float] = {}
        accepted, leftover = self._ask(part, paid)
        out.results.update(accepted)
        out.costs.update((sid, paid.get(sid, 0.0)) for sid in accepted)
        if accepted and on_results is not None:
            on_results(accepted)
        if len(part) == 1:
            out.failures.update(leftover)
            return out
        for sms in part:
            if sms.sms_id in leftover:
                alone = self._extract_part([sms], on_results)
                out.results.update(alone.results)
                out.failures.update(alone.failures)
                # its share of the request that got it wrong was paid too
                out.costs.update((sid, paid.get(sid, 0.0) + cost) for sid, cost in alone.costs.items())
        return out

    def _ask(self, part: Sequence[SmsIn], paid: dict[str, float]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """One request, retried while the server is busy or erring; a multi-SMS request is not retried for
        the SMS its answer got wrong (the caller asks those alone). Returns accepted results and, per SMS
        without one, why; what each attempt cost is added to ``paid``, shared by the SMS it carried."""
        retries = self.settings.max_retries if len(part) == 1 else 0
        delay = 1.0
        reason = "no answer"
        for attempt in range(self.settings.max_retries + 1):
            try:
                answers = self._request(part, paid)
            except Refused as exc:
                return {}, {s.sms_id: f"LLM refused the request: {exc}" for s in part}
            except Retryable as exc:
                reason = f"LLM call failed after {attempt + 1} attempts: {exc}"
                if exc.malformed:
                    reason = f"malformed model output after {attempt + 1} attempts: {exc}"
                if attempt == self.settings.max_retries or (not exc.busy and attempt >= retries):
                    return {}, {s.sms_id: reason for s in part}
                wait = exc.retry_after or min(60.0, delay) * random.uniform(0.5, 1.5)
                log.warning("LLM: %s; retry %d in %.1fs", exc, attempt + 1, wait)
                time.sleep(wait)
                delay *= 2
                continue
            accepted, wrong = judge(part, answers)
            if not wrong or attempt >= retries:
                return accepted, wrong
            part = [s for s in part if s.sms_id in wrong]
            reason = next(iter(wrong.values()))
        return {}, {s.sms_id: reason for s in part}

    def _request(self, part: Sequence[SmsIn], paid: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
        """The results of one chat completion, grouped by the SMS they name (only SMS of this request); what
        it cost, answered or not, is shared in ``paid`` by the SMS it carried."""
        body = chat_request(self.settings.model, part, self.settings.max_tokens_per_sms)
        max_tokens = body["max_tokens"]
        data = json.dumps(body).encode()
        held = self.meter.reserve(len(data), max_tokens)  # BudgetExceeded: stop before paying, not after
        try:
            self.limiter.acquire(len(body["messages"][-1]["content"]) // 3 + 200 * len(part))
            reply = self._post(data)
        except Retryable as exc:
            if exc.busy or isinstance(exc.__cause__, ConnectionRefusedError):
                self.meter.release(held)  # 429/5xx, nobody listening: nothing billed
            else:  # a timeout or an unreadable answer may well have been billed
                cost = self.meter.charge(held, len(data), 0, 0)
                self.usage.charge(cost)
                share(paid, part, cost)
            raise
        except BaseException:
            self.meter.release(held)
            raise
        usage = reply.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        cost = self.meter.charge(held, len(data), prompt, completion)
        self.usage.add(prompt, completion, cost)
        share(paid, part, cost)
        return read_answer(reply, part)

    def _post(self, data: bytes) -> dict[str, Any]:
        """POST to chat/completions; ``--llm-timeout`` bounds the whole exchange, a reply that trickles in
        included (a socket timeout alone only bounds the wait for each byte)."""
        url = urllib.parse.urlsplit(self.settings.base_url.rstrip("/") + "/chat/completions")
        deadline = time.monotonic() + self.settings.timeout
        conn_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(url.netloc, timeout=self.settings.timeout)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.settings.api_key}"}
        try:
            conn.request("POST", url.path + (f"?{url.query}" if url.query else ""), body=data, headers=headers)
            response = conn.getresponse()
            raw = bytearray()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no complete answer within {self.settings.timeout:g}s")
                if conn.sock is not None:
                    conn.sock.settimeout(left)
                piece = response.read1(65536)
                if not piece:
                    break
                raw += piece
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        status = response.status
        if status == 429 or status >= 500:
            after = response.getheader("Retry-After")
            raise Retryable(f"HTTP {status}", _seconds(after), busy=True)
        if status in (401, 403, 404):
            raise LlmUnusable(
                f"the LLM endpoint answered HTTP {status} ({_excerpt(raw)}): check --llm-base-url, --llm-model "
                "and the API key"
            )
        if status >= 400:
            raise Refused(f"HTTP {status}: {_excerpt(raw)}")
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise Retryable(f"HTTP {status} with a body that is not JSON ({_excerpt(raw)})", malformed=True) from exc
        if not isinstance(reply, dict):
            raise Retryable(f"HTTP {status} with a JSON {type(reply).__name__}, not an object", malformed=True)
        return reply


def share(paid: dict[str, float], part: Sequence[SmsIn], cost: float) -> None:
    """Split one request's cost evenly over the SMS it carried: a provider reports tokens per request, not per
    SMS, and bank SMS are alike enough in length that an even share is fair. The batch mode shares a job's
    request the same way."""
    for sms in part:
        paid[sms.sms_id] = paid.get(sms.sms_id, 0.0) + cost / len(part)


def chat_request(model: str, part: Sequence[SmsIn], max_tokens_per_sms: int) -> dict[str, Any]:
    """The chat-completions request for ``part``: the same online and in a batch file, so both modes ask the
    model the same question and their results may be reused by each other."""
    payload = json.dumps([{"sms_id": s.sms_id, "sender": s.sender, "body": s.body} for s in part], ensure_ascii=False)
    return {
        "model": model,
        "temperature": 0,
        "max_tokens": max_tokens_per_sms * len(part),
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            *FEW_SHOT,
            {"role": "user", "content": payload},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "sms_extraction",
                "strict": True,
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["results"],
                    "properties": {"results": {"type": "array", "items": RESULT_SCHEMA}},
                },
            },
        },
    }


def read_answer(reply: dict[str, Any], part: Sequence[SmsIn]) -> dict[str, list[dict[str, Any]]]:
    """The results of one chat completion, grouped by the SMS they name (only SMS of ``part``); an answer
    that is not the JSON asked for raises ``Retryable`` (malformed)."""
    try:
        content = json.loads(reply["choices"][0]["message"]["content"])
        results = content["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise Retryable(f"unreadable answer ({type(exc).__name__})", malformed=True) from exc
    wanted = {s.sms_id for s in part}
    named: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        if isinstance(result, dict) and result.get("sms_id") in wanted:
            named.setdefault(result["sms_id"], []).append(result)
    return named


def judge(
    part: Sequence[SmsIn], answers: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Trust per result: accepted results by sms_id and, per SMS without one, why. A result is accepted only
    if it validates, names its SMS, and is the only one in the answer naming it."""
    accepted: dict[str, dict[str, Any]] = {}
    wrong: dict[str, str] = {}
    if any(len(named) > 1 for named in answers.values()):
        # Two results claim one SMS: one of them came from another SMS's text. Trust none of this answer.
        return {}, {s.sms_id: "malformed model output: several results name one SMS" for s in part}
    for sms in part:
        named = answers.get(sms.sms_id, [])
        if not named:
            wrong[sms.sms_id] = "malformed model output: no result names this SMS"
            continue
        try:
            accepted[sms.sms_id] = validate(named[0], sms.sms_id)
        except InvalidResult as exc:
            wrong[sms.sms_id] = f"malformed model output: {exc}"
    return accepted, wrong


def _count(value: Any) -> int:
    """A token count as providers report it: sometimes null, sometimes missing."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0


def _seconds(header: str | None) -> float | None:
    try:
        return min(300.0, max(0.0, float(header))) if header else None
    except ValueError:
        return None


def _excerpt(raw: bytes | bytearray, limit: int = 160) -> str:
    text = " ".join(raw[: limit * 4].decode("utf-8", "replace").split())
    return text[:limit] + ("…" if len(text) > limit else "")
