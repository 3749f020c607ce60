"""A client of OpenAI's Batch API (also served by vLLM and LiteLLM): upload a JSONL file of chat requests,
create a batch job on it, poll the job, read its output and error files.

Batch jobs cost about half of online calls and have their own, larger rate limits, at the price of hours of
latency. This client only speaks the protocol; what goes in a job, and how a consumer remembers the jobs it
paid for across a crash, belong to the batch mode built on it. Errors are typed the way the consumer loop
understands them: a server that refuses our key or URL is ``LlmUnusable`` (stop), a busy or unreachable one
is ``TransientError`` (wait and retry), a job or file the server does not know is ``BatchNotFound``.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from offsetflow.sms.extractors import LlmUnusable
from offsetflow.stream.retry import TransientError

ENDPOINT = "/v1/chat/completions"
FINISHED = frozenset({"completed", "expired", "failed", "cancelled"})


class BatchNotFound(RuntimeError):
    """The server knows no such batch or file (another account or endpoint, or deleted after its retention)."""


class BatchRefused(RuntimeError):
    """The server refused what we sent (HTTP 400/413/422): sending it again unchanged cannot help."""


@dataclass(frozen=True)
class BatchJob:
    id: str
    status: str  # validating, in_progress, finalizing, completed, expired, failed, cancelling, cancelled
    output_file_id: str | None
    error_file_id: str | None
    total: int
    completed: int
    failed: int
    errors: list[dict[str, Any]]  # why a job failed as a whole (its input file did not validate)
    metadata: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> BatchJob:
        counts = raw.get("request_counts") or {}
        errors = raw.get("errors") or {}
        return cls(
            str(raw["id"]),
            str(raw["status"]),
            raw.get("output_file_id"),
            raw.get("error_file_id"),
            int(counts.get("total") or 0),
            int(counts.get("completed") or 0),
            int(counts.get("failed") or 0),
            list(errors.get("data") or []) if isinstance(errors, dict) else [],
            dict(raw.get("metadata") or {}),
        )


@dataclass
class BatchOutcome:
    """A finished job's requests by custom_id: the chat completion of each one answered, the reason of each one
    not (``code``: ``batch_expired`` and ``batch_cancelled`` mean never run, worth sending again)."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # custom_id -> (code, message)


def request_line(custom_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": dict(body)}


class BatchClient:
    def __init__(self, base_url: str, api_key: str = "", timeout: float = 120.0) -> None:
        self.url = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.api_key = api_key
        self.timeout = timeout

    def upload(self, lines: Iterable[Mapping[str, Any]], filename: str = "requests.jsonl") -> str:
        """A JSONL file of requests (see ``request_line``), stored for a batch; returns its file id."""
        content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/jsonl\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        reply = self._json("POST", "/files", body, f"multipart/form-data; boundary={boundary}")
        return str(reply["id"])

    def create(self, input_file_id: str, metadata: Mapping[str, str] | None = None) -> BatchJob:
        request: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": ENDPOINT, "completion_window": "24h"}
        if metadata:
            request["metadata"] = dict(metadata)
        return BatchJob.of(self._json("POST", "/batches", json.dumps(request).encode()))

    def retrieve(self, batch_id: str) -> BatchJob:
        return BatchJob.of(self._json("GET", f"/batches/{urllib.parse.quote(batch_id)}"))

    def jobs(self, page: int = 100) -> Iterator[tuple[BatchJob, int]]:
        """Every job of the account, newest first, with its creation time (epoch seconds), page by page."""
        after: str | None = None
        while True:
            query = urllib.parse.urlencode({"limit": page, **({"after": after} if after else {})})
            listing = self._json("GET", f"/batches?{query}")
            for raw in listing.get("data") or []:
                yield BatchJob.of(raw), int(raw.get("created_at") or 0)
            after = listing.get("last_id")
            if not listing.get("has_more") or not after:
                return

    def find(self, key: str, value: str, since: float) -> BatchJob | None:
        """The newest job created since ``since`` (epoch seconds) whose metadata has ``key`` = ``value``: how a
        client that crashed between creating a job and recording its id finds the job it already paid for."""
        for job, created in self.jobs():
            if created < since:
                return None  # newest first: the rest are older still
            if job.metadata.get(key) == value:
                return job
        return None

    def cancel(self, batch_id: str) -> BatchJob:
        return BatchJob.of(self._json("POST", f"/batches/{urllib.parse.quote(batch_id)}/cancel", b""))

    def content(self, file_id: str) -> bytes:
        return self._call("GET", f"/files/{urllib.parse.quote(file_id)}/content")

    def outcome(self, job: BatchJob) -> BatchOutcome:
        """What a finished job answered, by custom_id. A line that is not JSON or names no custom_id is
        skipped: its request ends up with neither an answer nor an error, which the caller treats as unanswered."""
        out = BatchOutcome()
        for file_id in (job.output_file_id, job.error_file_id):
            if file_id is None:
                continue
            for raw in self.content(file_id).decode("utf-8", "replace").splitlines():
                try:
                    line = json.loads(raw)
                    custom_id = line["custom_id"]
                except (ValueError, KeyError, TypeError):
                    continue
                response, error = line.get("response") or {}, line.get("error")
                if isinstance(response, dict) and response.get("status_code") == 200 and not error:
                    body = response.get("body")
                    if isinstance(body, dict):
                        out.answers[str(custom_id)] = body
                        continue
                error = error if isinstance(error, dict) else {}
                status = response.get("status_code") if isinstance(response, dict) else None
                code = str(error.get("code") or (f"http_{status}" if status else "no_answer"))
                out.errors[str(custom_id)] = (code, str(error.get("message") or "no answer")[:300])
        return out

    def _json(self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json") -> Any:
        raw = self._call(method, path, body, ctype)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise TransientError(f"batch API {method} {path}: an answer that is not JSON") from exc

    def _call(self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json") -> bytes:
        conn_type = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(self.url.netloc, timeout=self.timeout)
        headers = {"Content-Type": ctype, "Authorization": f"Bearer {self.api_key}"}
        try:
            conn.request(method, self.url.path + path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"batch API {method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        status = response.status
        if status < 300:
            return data
        said = _message(data)
        if status in (401, 403):
            raise LlmUnusable(f"the batch API answered HTTP {status} ({said}): check --llm-base-url and the API key")
        if status == 404 and path.startswith(("/batches/", "/files/")):
            kind = "batch" if path.startswith("/batches/") else "file"
            raise BatchNotFound(f"the batch API knows no {kind} {urllib.parse.unquote(path.split('/')[2])}: {said}")
        if status == 404:
            raise LlmUnusable(f"the batch API answered HTTP 404 at {path} ({said}): does the server offer batches?")
        if status == 429 or status >= 500:
            raise TransientError(f"batch API {method} {path}: HTTP {status} ({said})")
        raise BatchRefused(f"batch API {method} {path}: HTTP {status} ({said})")


def _message(data: bytes) -> str:
    """The server's own words, from an OpenAI error object or the start of the body."""
    try:
        error = json.loads(data)["error"]
        text = str(error["message"] if isinstance(error, dict) else error)
    except (ValueError, KeyError, TypeError):
        text = data[:200].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:160] + ("…" if len(text) > 160 else "")
