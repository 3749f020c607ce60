"""The LLM economy on the real stack (Kafka, FerretDB, the test LLM server), pipelines run in this process:
a text is paid for once, and a budget stops the consumer before it could pass it, losing nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
import pytest

from offsetflow.config import KafkaSettings
from offsetflow.sinks.chunks import list_chunks
from offsetflow.sms.cache import CACHE, CachedExtractor, ContentCache
from offsetflow.sms.cost import BudgetExceeded, Meter, Price
from offsetflow.sms.extractors import Extractor, OpenAIExtractor, OpenAISettings
from offsetflow.sms.source import RAW
from offsetflow.stream.progress import ProgressReporter
from tests.pipelines import Llm, SmsRun

ALERT = "Dear customer, your A/c XX7731 balance is Rs 9,870.10 as of today. Never share your OTP."


def consume(sms_run: SmsRun, kafka: KafkaSettings, extractor: Extractor) -> None:
    with ProgressReporter("sms", interactive=False) as progress:
        sms_run.pipeline(extractor).run(kafka, progress)


def cached(sms_run: SmsRun, llm: Llm) -> CachedExtractor:
    inner = OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=5, concurrency=2))
    return CachedExtractor(inner, ContentCache(sms_run.db[CACHE], inner.model, inner.prompt_version))


def test_sms_of_one_text_are_sent_once_across_users_batches_and_a_reseeded_source(
    sms_run: SmsRun, kafka: KafkaSettings, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory(latency=0.05)
    sms_run.seed(users=3, per_user=20)
    repeated = [doc["_id"] for doc in sms_run.db[RAW].find({}, {"_id": 1}).sort("_id", 1)][::4]  # 15, every user
    sms_run.db[RAW].update_many({"_id": {"$in": repeated}}, {"$set": {"body": ALERT}})
    sms_run.produce()

    first = cached(sms_run, llm)
    consume(sms_run, kafka, first)
    sent = llm.stats()["sms_calls"]
    assert len(set(sent) & set(repeated)) == 1 and sum(sent.values()) == 60 - 14
    assert first.copied == 14
    rows = {row["_id"]: row for row in sms_run.results()}
    assert len(rows) == 60
    raw = {doc["_id"]: doc for doc in sms_run.db[RAW].find()}
    for sms_id in repeated:  # each copy is that SMS's row: its own id, user and time
        assert rows[sms_id]["sms_id"] == sms_id and rows[sms_id]["user_id"] == raw[sms_id]["user_id"]
        assert rows[sms_id]["received_at"].replace(tzinfo=None) == raw[sms_id]["received_at"].replace(tzinfo=None)
        assert rows[sms_id]["is_transaction"] is False

    # A re-seeded source: new SMS ids for another user, with texts already extracted. Not one call.
    calls = llm.stats()["calls"]
    again = [
        {
            **doc,
            "_id": f"user09999-{n:06d}",
            "sms_id": f"user09999-{n:06d}",
            "user_id": "user09999",
            "isprocessed": False,
        }
        for n, doc in enumerate(raw.values())
    ]
    sms_run.db[RAW].insert_many(again)
    sms_run.produce()
    second = cached(sms_run, llm)
    consume(sms_run, kafka, second)
    assert llm.stats()["calls"] == calls and second.copied == 60
    rows = {row["_id"]: row for row in sms_run.results()}
    assert len(rows) == 120 and all(rows[doc["_id"]]["user_id"] == "user09999" for doc in again)
    fields = ("is_transaction", "amount", "currency", "direction", "account_mask", "counterparty", "reference")
    for copy, original in zip(again, raw, strict=True):
        assert [rows[copy["_id"]][f] for f in fields] == [rows[original][f] for f in fields]


def test_a_budget_stops_the_consumer_before_it_could_pass_it_and_a_higher_one_finishes_paying_each_sms_once(
    sms_run: SmsRun, kafka: KafkaSettings, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory()
    price = Price(prompt=100.0, completion=100.0)  # dear, so a few calls reach the budget
    sms_run.seed(users=4, per_user=25)
    sms_run.produce()

    def extractor(budget: float) -> OpenAIExtractor:
        return OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=5, concurrency=2), Meter(price, budget))

    capped = extractor(1.0)
    with pytest.raises(BudgetExceeded, match=r"^LLM budget of \$1.00 reached after \$[0-9.]+: raise --llm-budget"):
        consume(sms_run, kafka, capped)
    assert 0 < capped.usage.calls < 20 and capped.meter.spent <= 1.0
    # Every result paid for is stored, once the calls in flight when the budget was reached have answered
    # (another batch's, processed at the same time: a CLI process joins them before it exits).
    deadline = time.monotonic() + 10
    while {row["_id"] for row in sms_run.results()} != set(llm.stats()["sms_calls"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {row["_id"] for row in sms_run.results()} == set(llm.stats()["sms_calls"])

    consume(sms_run, kafka, extractor(1_000.0))
    assert set(llm.stats()["sms_calls"].values()) == {1}  # no SMS paid for twice
    assert len(sms_run.results()) == 100 == sms_run.db[RAW].count_documents({"isprocessed": True})
    frame = pl.read_parquet([c.path for c in list_chunks(sms_run.out, sms_run.topic)])
    assert frame.height == 100 == frame["sms_id"].n_unique()
