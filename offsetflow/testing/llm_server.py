"""A small OpenAI-compatible server for tests and benchmarks: chat completions, files and batches.

It answers with the rules extractor, so results are checkable, and can misbehave on purpose: latency,
429s, 500s, timeouts and malformed JSON, each with a probability; bodies containing ``--malformed-marker``
always get malformed output. ``GET /stats`` returns calls made, batches created and, per sms_id, how often it
was sent (online or in a batch).

The Batch API is OpenAI's: upload a JSONL file of requests (``POST /v1/files``, multipart, purpose ``batch``),
``POST /v1/batches`` with its id, poll ``GET /v1/batches/{id}`` until ``completed`` (or ``expired``,
``failed``, ``cancelled``), then read ``output_file_id`` and ``error_file_id`` through
``GET /v1/files/{id}/content``. A batch takes ``batch_delay`` seconds; with ``batch_expire_after`` below
that it expires with only the requests done by then answered and the rest in the error file as
``batch_expired``; ``batch_pfail`` and ``batch_fail_marker`` fail single requests. Output lines come in no
particular order (shuffled, as a real provider's may be): match them by ``custom_id``. State lives in memory.

    python -m offsetflow.testing.llm_server --port 8765 --latency 0.05 --p429 0.1
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from offsetflow.sms import rules


@dataclass
class Behaviour:
    latency: float = 0.0
    p429: float = 0.0
    p500: float = 0.0
    ptimeout: float = 0.0
    timeout_sleep: float = 5.0
    pmalformed: float = 0.0
    malformed_marker: str | None = None
    seed: int = 0
    # An SMS containing this text "succeeds" in instructing the model: the reply claims another SMS instead.
    inject_marker: str | None = None
    inject_target: str = "victim"
    # Hostile answers, each triggered by an SMS whose body contains the marker (so a test can aim at one SMS).
    html_marker: str | None = None  # HTTP 200 with an HTML error page instead of JSON
    reject_marker: str | None = None  # HTTP 400, as for a request over the context length
    trickle_marker: str | None = None  # a valid answer sent one byte every 0.5 s
    inf_marker: str | None = None  # amount 1e999, which JSON parsers read as infinity
    null_usage: bool = False  # "usage" with null token counts, as some servers send
    # Batch API: seconds from creation to completion; expiry before that; failure of single requests.
    batch_delay: float = 1.0
    batch_expire_after: float | None = None
    batch_pfail: float = 0.0
    batch_fail_marker: str | None = None
    # Seconds a created batch's answer is held back: the job exists before its creator hears of it (a client
    # killed meanwhile must find it, not create another).
    batch_create_delay: float = 0.0


@dataclass
class Stats:
    calls: int = 0
    ok: int = 0
    sms_calls: Counter[str] = field(default_factory=Counter)
    files: int = 0
    batches: int = 0  # batch jobs created: a client that resumes its job instead of creating it again adds none
    batch_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass
class BatchJob:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created: float  # time.time(): the job's clock
    requests: list[dict[str, Any]]
    errors: list[dict[str, Any]] | None = None  # validation errors: the job failed as a whole
    status: str = "validating"
    cancelled_at: float | None = None
    ended_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    done: int = 0
    failed: int = 0


class LlmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.behaviour = behaviour
        self.stats = Stats()
        self.rng = random.Random(behaviour.seed)
        self.rng_lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, BatchJob] = {}
        self.store_lock = threading.Lock()  # files and batches
        self._ids = itertools.count(1)

    def roll(self, p: float) -> bool:
        with self.rng_lock:
            return self.rng.random() < p

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        with self.store_lock:
            stored = StoredFile(self.new_id("file-"), filename, purpose, content, int(time.time()))
            self.files[stored.id] = stored
        with self.stats.lock:
            self.stats.files += 1
        return stored

    def create_batch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        input_id = request.get("input_file_id")
        endpoint = request.get("endpoint")
        if endpoint != "/v1/chat/completions":
            return 400, _error(f"endpoint must be /v1/chat/completions, not {endpoint!r}", "invalid_request_error")
        if request.get("completion_window") != "24h":
            return 400, _error("completion_window must be 24h", "invalid_request_error")
        with self.store_lock:
            stored = self.files.get(input_id) if isinstance(input_id, str) else None
            if stored is None:
                return 400, _error(f"no file with id {input_id!r}", "invalid_request_error")
            if stored.purpose != "batch":
                return 400, _error(f"file {input_id} has purpose {stored.purpose!r}, not 'batch'", "invalid_purpose")
            requests, errors = _parse_batch_input(stored.content)
            metadata = request.get("metadata")
            job = BatchJob(
                self.new_id("batch_"),
                stored.id,
                endpoint,
                "24h",
                metadata if isinstance(metadata, dict) else None,
                time.time(),
                requests,
                errors or None,
            )
            self.batches[job.id] = job
            with self.stats.lock:
                self.stats.batches += 1
            return 200, self.describe_batch(job)

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        with self.store_lock:
            job = self.batches.get(batch_id)
            return None if job is None else self.describe_batch(job)

    def cancel_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self.store_lock:
            job = self.batches.get(batch_id)
            if job is None:
                return None
            self._advance(job)
            if job.ended_at is None:
                job.cancelled_at = time.time()
                self._advance(job)
            return self.describe_batch(job)

    def list_batches(self, after: str | None = None, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
        """A page of jobs, newest first, starting after the job ``after`` (OpenAI's cursor); and whether more
        follow."""
        with self.store_lock:
            jobs = list(reversed(self.batches.values()))
            ids = [job.id for job in jobs]
            start = ids.index(after) + 1 if after in ids else 0
            page = jobs[start : start + limit]
            return [self.describe_batch(job) for job in page], start + limit < len(jobs)

    def describe_batch(self, job: BatchJob) -> dict[str, Any]:
        """The job as OpenAI shows it, moved on to what its clock says (call with ``store_lock`` held)."""
        self._advance(job)
        created = int(job.created)
        ended = None if job.ended_at is None else int(job.ended_at)
        running = self._done_by(job, time.time())
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": job.endpoint,
            "errors": None if job.errors is None else {"object": "list", "data": job.errors},
            "input_file_id": job.input_file_id,
            "completion_window": job.completion_window,
            "status": job.status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": created,
            "in_progress_at": None if job.status in ("validating", "failed") else created,
            "expires_at": created + 24 * 3600,
            "finalizing_at": ended if job.status == "completed" else None,
            "completed_at": ended if job.status == "completed" else None,
            "failed_at": ended if job.status == "failed" else None,
            "expired_at": ended if job.status == "expired" else None,
            "cancelling_at": None if job.cancelled_at is None else int(job.cancelled_at),
            "cancelled_at": ended if job.status == "cancelled" else None,
            "request_counts": {
                "total": len(job.requests),
                "completed": job.done if job.ended_at is not None else running,
                "failed": job.failed,
            },
            "metadata": job.metadata,
        }

    def _done_by(self, job: BatchJob, at: float) -> int:
        """Requests answered by ``at``: a job works through its requests in order over ``batch_delay``."""
        delay = self.behaviour.batch_delay
        if delay <= 0:
            return len(job.requests)
        share = max(0.0, at - job.created) / delay
        return min(len(job.requests), int(len(job.requests) * share + 1e-6))  # 0.5 s of 2 s is a quarter, exactly

    def _advance(self, job: BatchJob) -> None:
        """Move a job through validating -> in_progress -> completed | expired | cancelled (or failed, for an
        input file that does not validate); when it ends, answer its requests and write its files. Lazily, on
        each look: the job's clock is its creation time."""
        if job.ended_at is not None:
            return
        b, now = self.behaviour, time.time()
        if job.errors is not None:
            job.status, job.ended_at = "failed", now
            return
        if now - job.created < min(0.05, b.batch_delay / 10) and job.cancelled_at is None:
            job.status = "validating"
            return
        job.status = "in_progress"
        expire_at = job.created + b.batch_expire_after if b.batch_expire_after is not None else None
        if job.cancelled_at is not None:
            end, final = job.cancelled_at, "cancelled"
        elif expire_at is not None and expire_at < job.created + b.batch_delay and now >= expire_at:
            end, final = expire_at, "expired"
        elif now >= job.created + b.batch_delay:
            end, final = job.created + b.batch_delay, "completed"
        else:
            return
        answered = job.requests if final == "completed" else job.requests[: self._done_by(job, end)]
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for request in answered:
            line = self._answer_batch_request(request)
            (outputs if line["error"] is None else errors).append(line)
        why = {"expired": "batch_expired", "cancelled": "batch_cancelled"}
        for request in job.requests[len(answered) :]:
            message = f"This request could not be executed before the batch was {final}."
            errors.append(_batch_line(request["custom_id"], None, {"code": why[final], "message": message}))
        with self.rng_lock:
            self.rng.shuffle(outputs)
        job.done, job.failed = len(outputs), len(errors)
        if outputs:
            job.output_file_id = self._file_locked("batch_output.jsonl", outputs).id
        if errors:
            job.error_file_id = self._file_locked("batch_errors.jsonl", errors).id
        job.status, job.ended_at = final, end

    def _file_locked(self, name: str, lines: list[dict[str, Any]]) -> StoredFile:
        content = "".join(json.dumps(line) + "\n" for line in lines).encode()
        stored = StoredFile(self.new_id("file-"), name, "batch_output", content, int(time.time()))
        self.files[stored.id] = stored
        return stored

    def _answer_batch_request(self, request: dict[str, Any]) -> dict[str, Any]:
        b, body = self.behaviour, request["body"]
        sms = json.loads(body["messages"][-1]["content"])
        with self.stats.lock:
            self.stats.batch_requests += 1
            self.stats.sms_calls.update(s["sms_id"] for s in sms)
        marked = b.batch_fail_marker is not None and any(b.batch_fail_marker in s["body"] for s in sms)
        if marked or self.roll(b.batch_pfail):
            failed = {"status_code": 500, "request_id": self.new_id("req_"), "body": _error("injected failure")}
            return _batch_line(request["custom_id"], failed, {"code": "server_error", "message": "injected failure"})
        answer = {"status_code": 200, "request_id": self.new_id("req_"), "body": self.completion(body, sms)}
        return _batch_line(request["custom_id"], answer, None)

    def completion(self, request: dict[str, Any], sms: list[dict[str, Any]]) -> dict[str, Any]:
        """The chat completion for a request whose last message holds ``sms`` (online or in a batch)."""
        b = self.behaviour
        results = [rules.extract(s["sms_id"], s["body"]) for s in sms]
        for result, message in zip(results, sms, strict=True):
            if b.inject_marker and b.inject_marker in message["body"]:
                result.update(sms_id=b.inject_target, is_transaction=True, amount=999999.0, direction="credit")
        malformed = self.roll(b.pmalformed) or any(b.malformed_marker and b.malformed_marker in s["body"] for s in sms)
        content = (
            ('{"results": [{"sms_id": "' + sms[0]["sms_id"] + '", "amount": "lots"')
            if malformed
            else json.dumps({"results": results})
        )
        if b.inf_marker is not None and any(b.inf_marker in s["body"] for s in sms):
            content = content.replace('"amount": null', '"amount": 1e999')
            content = re.sub(r'"amount": [0-9.]+', '"amount": 1e999', content)
        prompt = len(json.dumps(sms)) // 4 + 150
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": request.get("model", "test"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {
                "prompt_tokens": None if b.null_usage else prompt,
                "completion_tokens": None if b.null_usage else len(content) // 4,
                "total_tokens": None if b.null_usage else prompt + len(content) // 4,
            },
        }


def _error(message: str, kind: str = "server_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _batch_line(custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": response, "error": error}


def _parse_batch_input(content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The requests of a batch input file, or the validation errors that fail the whole job (as OpenAI does:
    one bad line fails the batch before any request runs)."""
    requests: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            custom_id, body = line["custom_id"], line["body"]
            if not isinstance(custom_id, str) or not isinstance(body, dict):
                raise TypeError("custom_id must be a string and body an object")
            if line.get("method") != "POST" or line.get("url") != "/v1/chat/completions":
                raise ValueError("method must be POST and url /v1/chat/completions")
            json.loads(body["messages"][-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            errors.append({"code": "invalid_request", "message": f"{type(exc).__name__}: {exc}", "line": number})
            continue
        if custom_id in seen:
            errors.append({"code": "duplicate_custom_id", "message": f"custom_id {custom_id} twice", "line": number})
            continue
        seen.add(custom_id)
        requests.append(line)
    if not requests and not errors:
        errors.append({"code": "empty_file", "message": "the input file holds no requests", "line": None})
    return requests, errors


class _Handler(BaseHTTPRequestHandler):
    server: LlmServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, payload: dict[str, Any] | str, trickle: bool = False) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not trickle:
            self.wfile.write(data)
            return
        try:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass  # the client gave up, as it should

    def _send_bytes(self, content: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self) -> None:
        srv, path = self.server, self.path.split("?")[0].rstrip("/")
        if match := re.fullmatch(r"/v1/files/([^/]+)(/content)?", path):
            with srv.store_lock:
                stored = srv.files.get(match[1])
            if stored is None:
                return self._send(404, _error(f"no file with id {match[1]!r}", "invalid_request_error"))
            return self._send_bytes(stored.content) if match[2] else self._send(200, stored.describe())
        if match := re.fullmatch(r"/v1/batches/([^/]+)", path):
            job = srv.batch(match[1])
            if job is None:
                return self._send(404, _error(f"no batch with id {match[1]!r}", "invalid_request_error"))
            return self._send(200, job)
        if path == "/v1/batches":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            limit = int(query.get("limit", ["20"])[0])
            jobs, more = srv.list_batches(query.get("after", [None])[0], max(1, min(100, limit)))
            first, last = (jobs[0]["id"], jobs[-1]["id"]) if jobs else (None, None)
            return self._send(
                200, {"object": "list", "data": jobs, "first_id": first, "last_id": last, "has_more": more}
            )
        stats = srv.stats
        with stats.lock:
            self._send(
                200,
                {
                    "calls": stats.calls,
                    "ok": stats.ok,
                    "sms_calls": dict(stats.sms_calls),
                    "files": stats.files,
                    "batches": stats.batches,
                    "batch_requests": stats.batch_requests,
                },
            )

    def _upload(self, raw: bytes) -> None:
        """``POST /v1/files``: multipart/form-data with ``purpose`` and ``file``, as the OpenAI clients send."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._send(400, _error("expected multipart/form-data", "invalid_request_error"))
        form = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in form.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
        if "file" not in fields or "purpose" not in fields:
            return self._send(400, _error("a file and its purpose are required", "invalid_request_error"))
        filename, content = fields["file"]
        purpose = fields["purpose"][1].decode()
        self._send(200, self.server.add_file(filename or "upload.jsonl", purpose, content).describe())

    def do_POST(self) -> None:
        srv, b = self.server, self.server.behaviour
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path.split("?")[0].rstrip("/")
        if path == "/v1/files":
            return self._upload(raw)
        if path == "/v1/batches":
            try:
                create = json.loads(raw)
            except ValueError:
                return self._send(400, _error("the body is not JSON", "invalid_request_error"))
            created = srv.create_batch(create if isinstance(create, dict) else {})
            time.sleep(srv.behaviour.batch_create_delay)
            return self._send(*created)
        if match := re.fullmatch(r"/v1/batches/([^/]+)/cancel", path):
            job = srv.cancel_batch(match[1])
            if job is None:
                return self._send(404, _error(f"no batch with id {match[1]!r}", "invalid_request_error"))
            return self._send(200, job)
        request = json.loads(raw)
        sms = json.loads(request["messages"][-1]["content"])
        with srv.stats.lock:
            srv.stats.calls += 1
            srv.stats.sms_calls.update(s["sms_id"] for s in sms)
        time.sleep(b.latency)
        if srv.roll(b.p429):
            self.send_response(429)
            self.send_header("Retry-After", "0.2")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if srv.roll(b.p500):
            return self._send(500, {"error": {"message": "injected server error"}})
        if srv.roll(b.ptimeout):
            time.sleep(b.timeout_sleep)
            return self._send(200, {"error": "too late"})

        def marked(marker: str | None) -> bool:
            return marker is not None and any(marker in s["body"] for s in sms)

        if marked(b.reject_marker):
            return self._send(400, {"error": {"message": "This model's maximum context length is 8192 tokens"}})
        if marked(b.html_marker):
            return self._send(200, "<html><body><h1>502 Bad Gateway</h1></body></html>")
        with srv.stats.lock:
            srv.stats.ok += 1
        self._send(
            200,
            srv.completion(request, sms),
            trickle=marked(b.trickle_marker),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    for name in ("latency", "p429", "p500", "ptimeout", "pmalformed"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    parser.add_argument("--malformed-marker")
    parser.add_argument("--batch-delay", type=float, default=1.0, help="seconds a batch job takes")
    parser.add_argument("--batch-expire-after", type=float, help="seconds after which a batch job expires")
    parser.add_argument("--batch-pfail", type=float, default=0.0, help="probability a batch request fails")
    args = parser.parse_args()
    behaviour = Behaviour(
        args.latency, args.p429, args.p500, args.ptimeout, 5.0, args.pmalformed, args.malformed_marker
    )
    behaviour.batch_delay, behaviour.batch_expire_after = args.batch_delay, args.batch_expire_after
    behaviour.batch_pfail = args.batch_pfail
    server = LlmServer(args.port, behaviour)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
