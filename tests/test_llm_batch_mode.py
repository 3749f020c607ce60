"""Extraction through the Batch API: answers trusted as online, the unanswered sent online, the budget first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offsetflow.sms.batch_api import BatchClient, request_line
from offsetflow.sms.batch_mode import JOB_KEY, BatchExtractor, job_key
from offsetflow.sms.cost import BudgetExceeded, Meter, Price
from offsetflow.sms.extractors import OpenAIExtractor, OpenAISettings, SmsIn
from tests.pipelines import Llm

PRICE = Price(prompt=1.0, completion=2.0)


@pytest.fixture()
def start(llm_factory: Callable[..., Llm]) -> Callable[..., Llm]:
    """Test LLM servers with the given behaviour (the suite's ``llm_factory``), stopped after the test."""
    return llm_factory


def batch_extractor(llm: Llm, budget: float | None = None) -> BatchExtractor:
    online = OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=5, max_retries=1), Meter(PRICE, budget))
    return BatchExtractor(online, BatchClient(llm.url), poll_interval=0.05)


def sms(count: int, bodies: dict[int, str] | None = None) -> list[SmsIn]:
    text = "Rs.{n}.00 debited from A/c XX7731 to SHOP{n}. UPI Ref 60221133{n:04d}."
    return [SmsIn(f"s{n}", "AD-BANK", (bodies or {}).get(n, text.format(n=n))) for n in range(count)]


def test_a_batch_job_answers_every_sms_at_the_batch_price_without_an_online_call(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.2)
    extractor = batch_extractor(llm)
    early: dict[str, dict[str, Any]] = {}
    out = extractor.extract(sms(23), early.update)
    assert len(out.results) == 23 == len(early) and not out.failures
    assert out.results["s17"]["amount"] == 17.0
    stats = llm.stats()
    assert (stats["batches"], stats["batch_requests"], stats["calls"]) == (1, 5, 0)
    usage = extractor.usage
    assert usage.calls == 5
    assert usage.cost == pytest.approx(PRICE.cost(usage.prompt_tokens, usage.completion_tokens, batch=True))
    assert set(out.costs) == set(out.results) and sum(out.costs.values()) == pytest.approx(usage.cost)
    assert extractor.meter.reserved == pytest.approx(0)


def test_what_an_expired_job_left_unanswered_is_extracted_online_once(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=1.0, batch_expire_after=0.4)
    extractor = batch_extractor(llm)
    out = extractor.extract(sms(20))
    assert len(out.results) == 20 and not out.failures
    stats = llm.stats()
    assert stats["calls"] > 0 and extractor.sent_online == 20 - 5 * (stats["batch_requests"])
    assert set(stats["sms_calls"].values()) == {1}  # each SMS sent once: in the job or online, never both


def test_a_failed_request_goes_online_and_a_text_the_model_cannot_answer_fails_with_its_reason(
    start: Callable[..., Llm],
) -> None:
    llm = start(batch_delay=0.1, batch_fail_marker="FLAKY", malformed_marker="BROKEN")
    extractor = batch_extractor(llm)
    out = extractor.extract(sms(10, {2: "FLAKY Rs.7 debited from A/c XX7731", 7: "BROKEN Rs.5 debited"}))
    assert set(out.failures) == {"s7"} and "malformed" in out.failures["s7"]
    assert len(out.results) == 9 and out.results["s2"]["amount"] == 7.0


def test_a_job_whose_worst_case_does_not_fit_the_budget_is_never_created(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.1)
    extractor = batch_extractor(llm, budget=0.01)
    with pytest.raises(BudgetExceeded, match=r"LLM budget of \$0.01 reached after \$0"):
        extractor.extract(sms(40))
    assert (llm.stats()["files"], llm.stats()["batches"]) == (0, 0)
    assert extractor.meter.reserved == 0


def test_a_job_already_created_for_the_same_sms_is_resumed_not_paid_for_again(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.3)
    batch = sms(12)
    crashed = batch_extractor(llm)
    requests = crashed.requests(batch)
    client = BatchClient(llm.url)
    # A consumer that created the job and died before it could record or collect it:
    client.create(client.upload(line for _, line in requests.values()), {JOB_KEY: job_key(requests)})
    for _ in range(3):  # other jobs created since, so the job is found past the first page
        client.create(client.upload([next(iter(requests.values()))[1]]), {JOB_KEY: "another"})

    restarted = batch_extractor(llm)
    out = restarted.extract(batch)
    assert len(out.results) == 12 and not out.failures
    assert (restarted.jobs, restarted.resumed, llm.stats()["batches"]) == (0, 1, 4)
    assert llm.stats()["calls"] == 0


def test_listing_jobs_pages_through_all_of_them_newest_first(start: Callable[..., Llm]) -> None:
    llm = start(batch_delay=0.1)
    client = BatchClient(llm.url)
    lines = [[request_line(f"r{n}", {"messages": [{"content": "[]"}]})] for n in range(5)]
    created = [client.create(client.upload(line)) for line in lines]
    assert [job.id for job, _ in client.jobs(page=2)] == [job.id for job in reversed(created)]
    assert client.find(JOB_KEY, "nothing", since=0) is None
