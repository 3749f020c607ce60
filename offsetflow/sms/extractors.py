"""Extractors turn a batch of SMS into one validated result per SMS.

`rules` runs the built-in regexes. `openai` talks to any OpenAI-compatible chat-completions endpoint
(OpenAI, vLLM, Ollama, llama.cpp server), asks for JSON that fits RESULT_SCHEMA, validates every result
against the SMS it must describe, and retries 429/5xx/timeouts with exponential backoff and jitter, under
concurrency, requests-per-minute and tokens-per-minute limits.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from offsetflow.sms import rules
from offsetflow.sms.prompt import FEW_SHOT, SYSTEM_PROMPT
from offsetflow.sms.result import PROMPT_VERSION, RESULT_SCHEMA, InvalidResult, validate

log = logging.getLogger("offsetflow")


@dataclass(frozen=True)
class SmsIn:
    sms_id: str
    sender: str
    body: str
    received_at: datetime | None = None


@dataclass
class Extracted:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # sms_id -> reason


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, prompt: int, completion: int) -> None:
        with self.lock:
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion


class Extractor:
    model = "?"
    prompt_version = PROMPT_VERSION

    def __init__(self) -> None:
        self.usage = Usage()

    def extract(self, batch: Sequence[SmsIn]) -> Extracted:
        raise NotImplementedError


class RulesExtractor(Extractor):
    model = rules.MODEL

    def extract(self, batch: Sequence[SmsIn]) -> Extracted:
        out = Extracted()
        for sms in batch:
            out.results[sms.sms_id] = validate(rules.extract(sms.sms_id, sms.body, sms.received_at), sms.sms_id)
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
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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


class OpenAIExtractor(Extractor):
    def __init__(self, settings: OpenAISettings) -> None:
        super().__init__()
        self.settings = settings
        self.model = settings.model
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="llm")

    def extract(self, batch: Sequence[SmsIn]) -> Extracted:
        out = Extracted()
        size = self.settings.batch_size
        for part in self.pool.map(self._extract_part, [batch[i : i + size] for i in range(0, len(batch), size)]):
            out.results.update(part.results)
            out.failures.update(part.failures)
        return out

    def _extract_part(self, part: Sequence[SmsIn]) -> Extracted:
        """Retry the request until every SMS has a valid result or the retries are spent."""
        out = Extracted()
        todo = list(part)
        delay = 1.0
        for attempt in range(self.settings.max_retries + 1):
            try:
                answers = self._request(todo)
            except Retryable as exc:
                reason = str(exc)
                if attempt == self.settings.max_retries:
                    out.failures.update(
                        (s.sms_id, f"LLM call failed after {attempt + 1} attempts: {reason}") for s in todo
                    )
                    return out
                wait = exc.retry_after or min(60.0, delay) * random.uniform(0.5, 1.5)
                log.warning("LLM: %s; retry %d in %.1fs", reason, attempt + 1, wait)
                time.sleep(wait)
                delay *= 2
                continue
            missing = []
            for sms in todo:
                try:
                    out.results[sms.sms_id] = validate(answers.get(sms.sms_id), sms.sms_id)
                except InvalidResult as exc:
                    missing.append((sms, str(exc)))
            todo = [sms for sms, _ in missing]
            if not todo:
                return out
            if attempt == self.settings.max_retries:
                out.failures.update((sms.sms_id, f"malformed model output: {why}") for sms, why in missing)
                return out
        return out

    def _request(self, part: Sequence[SmsIn]) -> dict[str, Any]:
        payload = json.dumps(
            [{"sms_id": s.sms_id, "sender": s.sender, "body": s.body} for s in part], ensure_ascii=False
        )
        body = {
            "model": self.settings.model,
            "temperature": 0,
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
        self.limiter.acquire(len(payload) // 3 + 200 * len(part))
        request = urllib.request.Request(
            self.settings.base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.settings.api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                after = exc.headers.get("Retry-After")
                raise Retryable(f"HTTP {exc.code}", float(after) if after else None) from exc
            raise
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        usage = reply.get("usage") or {}
        self.usage.add(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        try:
            content = json.loads(reply["choices"][0]["message"]["content"])
            results = content["results"]
        except (KeyError, IndexError, TypeError, ValueError):
            return {}  # unparsable: every SMS of the request counts as malformed and is retried
        # Keyed by the ids we sent: a result naming any other SMS is ignored, whatever the SMS text said.
        wanted = {s.sms_id for s in part}
        return {r["sms_id"]: r for r in results if isinstance(r, dict) and r.get("sms_id") in wanted}
