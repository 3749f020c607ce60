"""The test LLM server's Batch API, spoken over HTTP as OpenAI's clients speak it: files, then batches."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from offsetflow.sms.batch_api import BatchClient, BatchNotFound, BatchRefused, request_line
from offsetflow.sms.extractors import SmsIn, chat_request, judge, read_answer
from offsetflow.sms.prompt import SYSTEM_PROMPT
from offsetflow.stream.retry import TransientError
from tests.pipelines import Llm

SPEND = "Rs.{n}.00 debited from A/c XX7731 to SHOP{n}. UPI Ref 6022113344{n:02d}."
FINISHED = {"completed", "expired", "failed", "cancelled"}


@pytest.fixture()
def start(llm_factory: Callable[..., Llm]) -> Callable[..., Llm]:
    """Test LLM servers with the given behaviour (the suite's ``llm_factory``), stopped after the test."""
    return llm_factory


def call(llm: Llm, method: str, path: str, body: bytes | None = None, ctype: str = "application/json") -> Any:
    """One request; the parsed JSON answer (or the raw bytes of a file's content)."""
    request = urllib.request.Request(llm.url + path, body, {"Content-Type": ctype}, method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        data = reply.read()
        return data if reply.headers["Content-Type"] == "application/octet-stream" else json.loads(data)


def status_of(llm: Llm, method: str, path: str, body: bytes | None = None) -> int:
    try:
        call(llm, method, path, body)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200


def upload(llm: Llm, content: bytes, purpose: str = "batch") -> dict[str, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="requests.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return dict(call(llm, "POST", "/files", body, f"multipart/form-data; boundary={boundary}"))


def requests_file(count: int, bodies: dict[int, str] | None = None) -> bytes:
    """A batch input file: one chat-completion request per SMS, custom_id = sms_id."""
    lines = []
    for n in range(count):
        sms = [{"sms_id": f"s{n}", "sender": "AD-BANK", "body": (bodies or {}).get(n, SPEND.format(n=n))}]
        body = {
            "model": "test-model",
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": json.dumps(sms)}],
        }
        lines.append(json.dumps({"custom_id": f"s{n}", "method": "POST", "url": "/v1/chat/completions", "body": body}))
    return ("\n".join(lines) + "\n").encode()


def create(llm: Llm, file_id: str) -> dict[str, Any]:
    request = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    return dict(call(llm, "POST", "/batches", json.dumps(request).encode()))


def wait(llm: Llm, batch_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = dict(call(llm, "GET", f"/batches/{batch_id}"))
        if job["status"] in FINISHED or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def lines(llm: Llm, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    parsed = [json.loads(line) for line in call(llm, "GET", f"/files/{file_id}/content").splitlines()]
    return {line["custom_id"]: line for line in parsed}


def test_an_uploaded_file_is_described_and_read_back_byte_for_byte(start: Callable[..., Llm]) -> None:
    llm = start()
    content = requests_file(3)
    described = upload(llm, content)
    assert described["object"] == "file" and described["purpose"] == "batch"
    assert described["bytes"] == len(content) and described["filename"] == "requests.jsonl"
    assert call(llm, "GET", f"/files/{described['id']}") == described
    assert call(llm, "GET", f"/files/{described['id']}/content") == content
    assert status_of(llm, "GET", "/files/file-missing/content") == 404


def test_a_batch_runs_for_its_delay_then_answers_every_request_by_custom_id(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.5)
    job = create(llm, upload(llm, requests_file(20))["id"])
    assert job["status"] in ("validating", "in_progress") and job["output_file_id"] is None
    assert job["request_counts"] == {"total": 20, "completed": 0, "failed": 0}
    assert llm.stats()["sms_calls"] == {}  # nothing is answered before the job's time is up
    done = wait(llm, job["id"])
    assert done["status"] == "completed" and done["completed_at"] is not None and done["error_file_id"] is None
    assert done["request_counts"] == {"total": 20, "completed": 20, "failed": 0}
    answers = lines(llm, done["output_file_id"])
    assert set(answers) == {f"s{n}" for n in range(20)}
    answer = answers["s7"]["response"]
    assert answer["status_code"] == 200 and answers["s7"]["error"] is None
    [result] = json.loads(answer["body"]["choices"][0]["message"]["content"])["results"]
    assert result["sms_id"] == "s7" and result["amount"] == 7.0
    assert answer["body"]["usage"]["prompt_tokens"] > 0
    assert llm.stats()["batches"] == 1 and llm.stats()["batch_requests"] == 20 and llm.stats()["calls"] == 0
    assert [job["id"] for job in call(llm, "GET", "/batches")["data"]] == [done["id"]]


def test_a_batch_that_expires_answers_what_it_did_and_returns_the_rest_as_expired(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=2.0, batch_expire_after=0.5)
    done = wait(llm, create(llm, upload(llm, requests_file(20))["id"])["id"])
    assert done["status"] == "expired" and done["expired_at"] is not None
    answered, expired = lines(llm, done["output_file_id"]), lines(llm, done["error_file_id"])
    assert len(answered) == 5 and len(expired) == 15 and not set(answered) & set(expired)
    assert all(line["error"]["code"] == "batch_expired" and line["response"] is None for line in expired.values())
    assert done["request_counts"] == {"total": 20, "completed": 5, "failed": 15}


def test_single_requests_fail_by_marker_or_chance_and_the_rest_are_answered(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.1, batch_fail_marker="FAILME", batch_pfail=0.2, seed=3)
    content = requests_file(50, {4: "FAILME Rs.5 debited"})
    done = wait(llm, create(llm, upload(llm, content)["id"])["id"])
    answered, failed = lines(llm, done["output_file_id"]), lines(llm, done["error_file_id"])
    assert done["status"] == "completed" and "s4" in failed and 0 < len(failed) < 50
    assert set(answered) | set(failed) == {f"s{n}" for n in range(50)}
    assert failed["s4"]["response"]["status_code"] == 500 and failed["s4"]["error"]["code"] == "server_error"


def test_an_input_file_with_a_bad_line_fails_the_whole_batch_before_any_request_runs(
    start: Callable[..., Llm],
) -> None:
    llm = start(batch_delay=0.1)
    content = requests_file(3) + b'{"custom_id": "s0", "method": "POST", "url": "/v1/chat/completions"}\n'
    done = wait(llm, create(llm, upload(llm, content)["id"])["id"])
    assert done["status"] == "failed" and done["output_file_id"] is None
    [error] = done["errors"]["data"]
    assert error["line"] == 4 and "KeyError" in error["message"]
    assert llm.stats()["batch_requests"] == 0


def test_a_cancelled_batch_ends_with_its_requests_unanswered(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=30)
    job = create(llm, upload(llm, requests_file(4))["id"])
    cancelled = dict(call(llm, "POST", f"/batches/{job['id']}/cancel", b""))
    assert cancelled["status"] == "cancelled"
    assert {line["error"]["code"] for line in lines(llm, cancelled["error_file_id"]).values()} == {"batch_cancelled"}


def test_a_batch_is_refused_for_a_missing_file_a_wrong_purpose_endpoint_or_window(start: Callable[..., Llm]) -> None:
    llm = start()
    assert status_of(llm, "GET", "/batches/batch_missing") == 404
    request = {"input_file_id": "file-missing", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert status_of(llm, "POST", "/batches", json.dumps(request).encode()) == 400
    other = upload(llm, requests_file(1), purpose="fine-tune")["id"]
    assert status_of(llm, "POST", "/batches", json.dumps({**request, "input_file_id": other}).encode()) == 400
    good = upload(llm, requests_file(1))["id"]
    for wrong in ({"endpoint": "/v1/embeddings"}, {"completion_window": "1h"}):
        assert (
            status_of(llm, "POST", "/batches", json.dumps({**request, "input_file_id": good, **wrong}).encode()) == 400
        )
    assert llm.stats()["batches"] == 0


def test_the_batch_client_asks_what_online_mode_asks_and_trusts_the_answers_by_the_same_rules(
    start: Callable[..., Llm],
) -> None:
    llm = start(batch_delay=0.3, batch_fail_marker="FAILME")
    messages = [SmsIn(f"u1-{n}", "AD-BANK", SPEND.format(n=n)) for n in range(9)]
    messages[4] = SmsIn("u1-4", "AD-BANK", "FAILME Rs.5 debited")
    parts = {f"req-{i}": messages[i : i + 3] for i in range(0, 9, 3)}
    client = BatchClient(llm.url)
    file_id = client.upload(request_line(cid, chat_request("test-model", part, 400)) for cid, part in parts.items())
    job = client.create(file_id, {"topic": "sms", "offsets": "0:0-8"})
    assert job.metadata == {"topic": "sms", "offsets": "0:0-8"} and not job.finished
    while not job.finished:
        time.sleep(0.05)
        job = client.retrieve(job.id)
    assert job.status == "completed" and (job.total, job.completed, job.failed) == (3, 2, 1)
    outcome = client.outcome(job)
    assert set(outcome.answers) == {"req-0", "req-6"} and outcome.errors["req-3"][0] == "server_error"
    accepted: dict[str, dict[str, Any]] = {}
    for cid, reply in outcome.answers.items():
        results, wrong = judge(parts[cid], read_answer(reply, parts[cid]))
        assert not wrong
        accepted.update(results)
    assert sorted(accepted) == ["u1-0", "u1-1", "u1-2", "u1-6", "u1-7", "u1-8"]
    assert accepted["u1-7"]["amount"] == 7.0


def test_the_batch_client_reports_expired_requests_as_never_run(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=1.0, batch_expire_after=0.25)
    client = BatchClient(llm.url)
    parts = {f"s{n}": [SmsIn(f"s{n}", "AD-BANK", SPEND.format(n=n))] for n in range(8)}
    job = client.create(client.upload(request_line(c, chat_request("m", p, 400)) for c, p in parts.items()))
    while not job.finished:
        time.sleep(0.05)
        job = client.retrieve(job.id)
    outcome = client.outcome(job)
    assert job.status == "expired" and len(outcome.answers) == 2
    assert {code for code, _ in outcome.errors.values()} == {"batch_expired"} and len(outcome.errors) == 6


def test_the_batch_client_types_its_errors_the_way_the_consumer_loop_understands_them(
    start: Callable[..., Llm],
) -> None:
    llm = start()
    client = BatchClient(llm.url)
    with pytest.raises(BatchNotFound, match="knows no batch batch_missing"):
        client.retrieve("batch_missing")
    with pytest.raises(BatchNotFound, match="knows no file file-missing"):
        client.content("file-missing")
    with pytest.raises(BatchRefused, match=r"HTTP 400 \(no file with id 'file-missing'\)"):
        client.create("file-missing")
    llm.server.shutdown()
    llm.server.server_close()
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        client.retrieve("batch_000001")
