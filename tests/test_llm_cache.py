"""The content cache: a text is sent to the LLM once per model and prompt version, whatever SMS carries it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from offsetflow.sms.cache import CACHE, CachedExtractor, ContentCache, content_key, normalise
from offsetflow.sms.extractors import Extracted, OpenAIExtractor, OpenAISettings, RulesExtractor, SmsIn
from offsetflow.sms.result import PROMPT_VERSION
from offsetflow.testing.llm_server import Behaviour
from tests.pipelines import Llm

SPEND = "Rs.1,250.00 debited from A/c XX7731 on 04-03-26 to CHAI POINT. UPI Ref 602211334455."
ALERT = "Your A/c XX7731 balance is Rs 9,870.10 as of 04-03-26."


@pytest.fixture()
def llm() -> Iterator[Llm]:
    server = Llm(Behaviour(latency=0.2, malformed_marker="BROKEN"))
    yield server
    server.server.shutdown()


@pytest.fixture()
def collection(mongo: MongoClient[dict[str, Any]], unique: str) -> Iterator[Collection[dict[str, Any]]]:
    yield mongo[f"cache_{unique}"][CACHE]
    mongo.drop_database(f"cache_{unique}")


def cached(llm: Llm, collection: Collection[dict[str, Any]], force: bool = False) -> CachedExtractor:
    inner = OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=5, max_retries=0))
    return CachedExtractor(inner, ContentCache(collection, inner.model, inner.prompt_version), force)


def sent(llm: Llm) -> dict[str, int]:
    return dict(llm.stats()["sms_calls"])


def test_normalising_touches_whitespace_only_never_case_or_digits() -> None:
    assert normalise("  Rs.100\tdebited\n\nfrom  A/c XX12 ") == "Rs.100 debited from A/c XX12"
    key = content_key("m", "v1", "Rs.100 debited")
    assert content_key("m", "v1", " Rs.100   debited\n") == key
    assert content_key("m", "v1", "RS.100 DEBITED") != key
    assert content_key("m", "v1", "Rs.101 debited") != key
    assert content_key("other", "v1", "Rs.100 debited") != key
    assert content_key("m", "v2", "Rs.100 debited") != key


def test_sms_of_one_text_in_a_batch_are_sent_once_and_each_gets_the_result_under_its_own_id(
    llm: Llm, collection: Collection[dict[str, Any]]
) -> None:
    extractor = cached(llm, collection)
    batch = [SmsIn("a", "AD-BANK", SPEND), SmsIn("b", "VM-BANK", SPEND + "  "), SmsIn("c", "AD-BANK", ALERT)]
    early: dict[str, dict[str, Any]] = {}
    out = extractor.extract(batch, early.update)
    assert sent(llm) == {"a": 1, "c": 1}
    assert set(out.results) == set(early) == {"a", "b", "c"} and not out.failures
    assert out.results["b"] == {**out.results["a"], "sms_id": "b"}
    assert out.results["a"]["amount"] == 1250.0
    assert extractor.copied == 1


def test_a_text_already_extracted_is_copied_for_a_new_sms_by_a_later_run_without_a_call(
    llm: Llm, collection: Collection[dict[str, Any]]
) -> None:
    first = cached(llm, collection).extract([SmsIn("u1-1", "AD-BANK", SPEND)])
    calls = llm.stats()["calls"]
    replay = cached(llm, collection)  # a new group, a re-seeded source: a new process with the same cache
    out = replay.extract([SmsIn("u2-7", "AD-BANK", SPEND), SmsIn("u3-9", "AD-BANK", SPEND)])
    assert llm.stats()["calls"] == calls
    assert out.results["u2-7"] == {**first.results["u1-1"], "sms_id": "u2-7"}
    assert replay.copied == 2 and replay.usage.calls == 0
    [doc] = collection.find({})
    assert doc["_id"] == content_key("test-model", PROMPT_VERSION, SPEND)
    assert doc["first_sms_id"] == "u1-1" and "sms_id" not in doc["result"]


def test_a_text_another_batch_is_extracting_right_now_is_waited_for_not_sent_again(
    llm: Llm, collection: Collection[dict[str, Any]]
) -> None:
    extractor = cached(llm, collection)
    outs: list[Extracted] = []
    go = threading.Barrier(2)

    def run(prefix: str) -> None:
        go.wait()
        outs.append(extractor.extract([SmsIn(f"{prefix}-{n}", "AD-BANK", SPEND) for n in range(3)]))

    threads = [threading.Thread(target=run, args=(p,)) for p in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert llm.stats()["calls"] == 1
    assert sorted(sid for out in outs for sid in out.results) == ["x-0", "x-1", "x-2", "y-0", "y-1", "y-2"]


def test_a_text_the_model_fails_on_fails_for_each_of_its_sms_after_one_call(
    llm: Llm, collection: Collection[dict[str, Any]]
) -> None:
    extractor = cached(llm, collection)
    out = extractor.extract([SmsIn("p", "X", "BROKEN Rs.5 debited"), SmsIn("q", "X", "BROKEN Rs.5 debited")])
    assert sent(llm) == {"p": 1}
    assert set(out.failures) == {"p", "q"} and "malformed" in out.failures["q"]
    assert collection.count_documents({}) == 0  # nothing cached: the next run tries the text again


def test_force_sends_every_sms_and_replaces_the_cached_result(llm: Llm, collection: Collection[dict[str, Any]]) -> None:
    cached(llm, collection).extract([SmsIn("a", "AD-BANK", SPEND)])
    collection.update_one({}, {"$set": {"result.counterparty": "STALE"}})
    forced = cached(llm, collection, force=True)
    out = forced.extract([SmsIn("a", "AD-BANK", SPEND), SmsIn("b", "AD-BANK", SPEND)])
    assert sent(llm) == {"a": 2, "b": 1} and forced.copied == 0
    assert out.results["b"]["counterparty"] != "STALE"
    assert collection.find_one({})["result"]["counterparty"] != "STALE"  # type: ignore[index]


def test_a_cached_result_this_version_no_longer_accepts_is_extracted_again(
    llm: Llm, collection: Collection[dict[str, Any]]
) -> None:
    cached(llm, collection).extract([SmsIn("a", "AD-BANK", SPEND)])
    collection.update_one({}, {"$set": {"result.currency": "rupees"}})
    out = cached(llm, collection).extract([SmsIn("b", "AD-BANK", SPEND)])
    assert sent(llm) == {"a": 1, "b": 1} and out.results["b"]["currency"] == "INR"
    cached(llm, collection).extract([SmsIn("c", "AD-BANK", SPEND)])
    assert sent(llm) == {"a": 1, "b": 1}  # the fresh result replaced the stale one


def test_an_extractor_that_reads_more_than_the_text_is_never_cached(collection: Collection[dict[str, Any]]) -> None:
    # The rules fill transaction_time from received_at, which another SMS of the same text does not share.
    with pytest.raises(ValueError, match="cannot be shared"):
        CachedExtractor(RulesExtractor(), ContentCache(collection, "rules", PROMPT_VERSION))
