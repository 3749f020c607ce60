"""Money: prices per model, what calls cost, and a budget that refuses a call before it could overshoot."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from offsetflow.config import ConfigError
from offsetflow.sms.cost import (
    EXAMPLE_PRICES,
    BudgetExceeded,
    Meter,
    Price,
    PriceTable,
    load_prices,
    meter_for,
    usd,
)
from offsetflow.sms.extractors import OpenAIExtractor, OpenAISettings, SmsIn
from offsetflow.stream.isolate import caused_by_data
from offsetflow.stream.retry import InfrastructureError
from offsetflow.testing.llm_server import Behaviour
from tests.pipelines import Llm


@pytest.fixture()
def llm() -> Iterator[Llm]:
    server = Llm(Behaviour())
    yield server
    server.server.shutdown()


def sms(n: int) -> list[SmsIn]:
    return [SmsIn(f"s{i}", "AD-BANK", f"Rs.{100 + i}.00 debited from A/c XX1234 to SHOP{i}") for i in range(n)]


def test_a_call_costs_its_tokens_at_the_model_price_and_batch_defaults_to_half() -> None:
    price = Price(prompt=0.15, completion=0.60)
    assert price.cost(1_000_000, 0) == pytest.approx(0.15)
    assert price.cost(2_000, 500) == pytest.approx((2_000 * 0.15 + 500 * 0.60) / 1e6)
    assert price.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)
    assert Price(1.0, 2.0, batch_prompt=0.8, batch_completion=1.0).cost(1_000_000, 1_000_000, batch=True) == 1.8


def test_a_dated_model_is_priced_as_the_longest_known_name_it_starts_with_and_an_unknown_one_not_at_all() -> None:
    table = PriceTable()
    assert table.price("gpt-4o-mini-2024-07-18") == EXAMPLE_PRICES["gpt-4o-mini"]
    assert table.price("gpt-4o-2024-08-06") == EXAMPLE_PRICES["gpt-4o"]
    assert table.price("llama-3.1-8b-instruct") is None


def test_flags_override_one_model_price_and_an_unknown_model_needs_both() -> None:
    table = PriceTable().with_price("gpt-4o-mini", 0.2, None)
    assert table.price("gpt-4o-mini") == Price(0.2, 0.60, None, None)
    assert PriceTable().with_price("local", 0.0, 0.0).price("local") == Price(0.0, 0.0)
    with pytest.raises(ConfigError, match="give both --llm-price-prompt and --llm-price-completion"):
        PriceTable().with_price("local", 1.0, None)


def test_prices_load_from_json_or_toml_and_replace_the_examples(tmp_path: Path) -> None:
    as_json = tmp_path / "prices.json"
    as_json.write_text('{"models": {"my-model": {"prompt": 1, "completion": 2, "batch_prompt": 0.4}}}')
    as_toml = tmp_path / "prices.toml"
    as_toml.write_text('["my-model"]\nprompt = 1\ncompletion = 2\nbatch_prompt = 0.4\n')
    for path in (as_json, as_toml):
        table = load_prices(path)
        assert table.price("my-model") == Price(1.0, 2.0, 0.4, None)
        assert table.price("gpt-4o-mini") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not valid JSON"),
        ("{}", "holds no models"),
        ('{"m": {"prompt": 1}}', "completion (USD per 1M tokens) is missing"),
        ('{"m": {"prompt": -1, "completion": 1}}', "must be a number of USD per 1M tokens"),
        ('{"m": {"prompt": "cheap", "completion": 1}}', "must be a number"),
        ('{"m": {"prompt": 1, "completion": 1, "input": 2}}', "unknown field 'input'"),
        ('{"m": 3}', "expected a table"),
    ],
)
def test_a_broken_price_file_is_one_line_saying_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_prices(path)
    with pytest.raises(ConfigError, match="cannot read the price file"):
        load_prices(tmp_path / "missing.json")


def test_money_reads_as_cents_or_as_the_fraction_of_a_cent_a_call_costs() -> None:
    assert usd(0) == "$0.00"
    assert usd(12.5) == "$12.50"
    assert usd(1234.567) == "$1,234.57"
    assert usd(0.5) == "$0.50"
    assert usd(0.00042) == "$0.0004"


def test_the_budget_refuses_a_call_whose_worst_case_would_pass_it_and_counts_what_calls_cost() -> None:
    meter = Meter(Price(prompt=1.0, completion=2.0), budget=0.01)
    held = meter.reserve(sent_bytes=3_000, max_completion_tokens=1_000)  # 1,000 + 1,000 tokens: $0.003
    assert held == pytest.approx(0.003)
    assert meter.charge(held, 3_000, prompt_tokens=800, completion_tokens=100) == pytest.approx(0.001)
    assert meter.spent == pytest.approx(0.001) and meter.reserved == 0
    with pytest.raises(BudgetExceeded) as refused:
        meter.reserve(sent_bytes=3_000, max_completion_tokens=5_000)  # $0.011 more
    assert str(refused.value) == (
        "LLM budget of $0.01 reached after $0.001: raise --llm-budget and restart; nothing is lost"
    )


def test_a_budget_stop_is_infrastructure_not_the_fault_of_the_records_in_hand() -> None:
    stop = BudgetExceeded(5.0, 4.99)
    assert isinstance(stop, InfrastructureError) and isinstance(stop, RuntimeError)
    assert not caused_by_data(stop)


def test_calls_in_flight_together_cannot_overshoot_the_budget_between_them() -> None:
    meter = Meter(Price(prompt=1.0, completion=0.0), budget=0.01)  # room for ten calls of $0.001
    admitted: list[float] = []
    refused = 0
    lock = threading.Lock()
    go = threading.Barrier(16)

    def call() -> None:
        nonlocal refused
        go.wait()
        try:
            held = meter.reserve(sent_bytes=3_000, max_completion_tokens=0)
        except BudgetExceeded:
            with lock:
                refused += 1
            return
        with lock:
            admitted.append(held)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 10 and refused == 6
    assert meter.reserved == pytest.approx(0.01)


def test_an_uncounted_call_costs_its_worst_case_and_a_release_costs_nothing() -> None:
    meter = Meter(Price(prompt=1.0, completion=1.0), budget=1.0)
    held = meter.reserve(3_000, 1_000)
    assert meter.charge(held, 3_000, 0, 0) == pytest.approx(0.002)
    meter.release(meter.reserve(3_000, 1_000))
    assert meter.spent == pytest.approx(0.002) and meter.reserved == 0


def test_a_server_counting_more_tokens_than_estimated_makes_later_estimates_as_pessimistic() -> None:
    meter = Meter(Price(prompt=1.0, completion=0.0))
    assert meter.estimate_prompt_tokens(3_000) == 1_000
    meter.charge(meter.reserve(3_000, 0), 3_000, prompt_tokens=1_500, completion_tokens=0)
    assert meter.estimate_prompt_tokens(3_000) == 1_500


def test_a_budget_on_a_model_without_a_price_is_refused_up_front(llm: Llm) -> None:
    with pytest.raises(ConfigError, match="--llm-budget needs a price for model 'test-model'"):
        OpenAIExtractor(OpenAISettings(llm.url, "test-model"), Meter(None, budget=1.0))


def test_the_extractor_counts_money_and_stops_before_the_call_that_could_pass_the_budget(llm: Llm) -> None:
    price = Price(prompt=100.0, completion=100.0)  # dear, so a few calls reach a small budget
    free = OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=2), Meter(price))
    free.extract(sms(2))
    one_call = free.usage.cost
    assert one_call == pytest.approx(price.cost(free.usage.prompt_tokens, free.usage.completion_tokens))
    assert free.usage.cost == pytest.approx(free.meter.spent)

    capped = OpenAIExtractor(OpenAISettings(llm.url, "test-model", batch_size=2, concurrency=1), Meter(price, 0.5))
    calls_before = llm.stats()["calls"]
    stored: dict[str, object] = {}
    with pytest.raises(BudgetExceeded, match=r"LLM budget of \$0.50 reached after \$0\.\d+"):
        capped.extract(sms(40), stored.update)
    calls = llm.stats()["calls"] - calls_before
    assert 0 < calls < 20 and capped.usage.calls == calls
    assert capped.meter.spent <= 0.5 and capped.meter.reserved == 0
    assert len(stored) == 2 * calls  # every call paid for handed its results over before the stop


def test_the_flags_make_one_meter_file_then_flags_then_budget(tmp_path: Path) -> None:
    assert meter_for("gpt-4o-mini").price == EXAMPLE_PRICES["gpt-4o-mini"]
    assert meter_for("local-llama").price is None  # no budget: spending is counted as unknown, not refused
    path = tmp_path / "prices.toml"
    path.write_text('[models."local-llama"]\nprompt = 0.05\ncompletion = 0.1\n')
    assert meter_for("local-llama", path, price_completion=0.2, budget=3.0).price == Price(0.05, 0.2)
    with pytest.raises(ConfigError, match="--llm-budget needs a price for model 'local-llama'"):
        meter_for("local-llama", budget=3.0)
    with pytest.raises(ConfigError, match="--llm-budget must be an amount of USD above 0"):
        meter_for("gpt-4o-mini", budget=0.0)


def test_calls_in_flight_when_the_budget_stops_hand_their_results_over_before_the_stop() -> None:
    slow = Llm(Behaviour(latency=0.3))
    try:
        capped = OpenAIExtractor(
            OpenAISettings(slow.url, "test-model", batch_size=2, concurrency=4), Meter(Price(100.0, 100.0), 0.8)
        )
        stored: dict[str, object] = {}
        with pytest.raises(BudgetExceeded):
            capped.extract(sms(40), stored.update)
        assert set(stored) == set(slow.stats()["sms_calls"])  # nothing paid for is left behind
    finally:
        slow.server.shutdown()
