"""A small OpenAI-compatible chat-completions server for tests and benchmarks.

It answers with the rules extractor, so results are checkable, and can misbehave on purpose: latency,
429s, 500s, timeouts and malformed JSON, each with a probability; bodies containing ``--malformed-marker``
always get malformed output. ``GET /stats`` returns calls made and, per sms_id, how often it was sent.

    python -m offsetflow.testing.llm_server --port 8765 --latency 0.05 --p429 0.1
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class Stats:
    calls: int = 0
    ok: int = 0
    sms_calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LlmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.behaviour = behaviour
        self.stats = Stats()
        self.rng = random.Random(behaviour.seed)
        self.rng_lock = threading.Lock()

    def roll(self, p: float) -> bool:
        with self.rng_lock:
            return self.rng.random() < p


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

    def do_GET(self) -> None:
        stats = self.server.stats
        with stats.lock:
            self._send(200, {"calls": stats.calls, "ok": stats.ok, "sms_calls": dict(stats.sms_calls)})

    def do_POST(self) -> None:
        srv, b = self.server, self.server.behaviour
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
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
        results = [rules.extract(s["sms_id"], s["body"]) for s in sms]
        for result, message in zip(results, sms, strict=True):
            if b.inject_marker and b.inject_marker in message["body"]:
                result.update(sms_id=b.inject_target, is_transaction=True, amount=999999.0, direction="credit")
        malformed = srv.roll(b.pmalformed) or any(b.malformed_marker and b.malformed_marker in s["body"] for s in sms)
        content = (
            ('{"results": [{"sms_id": "' + sms[0]["sms_id"] + '", "amount": "lots"')
            if malformed
            else json.dumps({"results": results})
        )
        if marked(b.inf_marker):
            content = content.replace('"amount": null', '"amount": 1e999')
            content = re.sub(r'"amount": [0-9.]+', '"amount": 1e999', content)
        with srv.stats.lock:
            srv.stats.ok += 1
        self._send(
            200,
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": request.get("model", "test"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {
                    "prompt_tokens": None if b.null_usage else len(json.dumps(sms)) // 4 + 150,
                    "completion_tokens": None if b.null_usage else len(content) // 4,
                    "total_tokens": None if b.null_usage else len(json.dumps(sms)) // 4 + 150 + len(content) // 4,
                },
            },
            trickle=marked(b.trickle_marker),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    for name in ("latency", "p429", "p500", "ptimeout", "pmalformed"):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    parser.add_argument("--malformed-marker")
    args = parser.parse_args()
    behaviour = Behaviour(
        args.latency, args.p429, args.p500, args.ptimeout, 5.0, args.pmalformed, args.malformed_marker
    )
    server = LlmServer(args.port, behaviour)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
