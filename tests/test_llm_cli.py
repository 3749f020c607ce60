"""`consume sms` with money in mind, as a user runs it: prices, a budget that stops it cleanly, the content cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from offsetflow.sinks.chunks import list_chunks
from offsetflow.sms.source import RAW
from tests.cli import offsetflow
from tests.pipelines import Llm, SmsRun

ALERT = "Dear customer, your A/c XX7731 balance is Rs 9,870.10 as of today. Never share your OTP."
DEAR = ("--llm-price-prompt", "100", "--llm-price-completion", "100")  # USD per 1M tokens: a few calls add up


def test_a_budget_stops_the_consumer_with_one_line_and_a_higher_one_finishes_paying_each_sms_once(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory()
    sms_run.seed(users=4, per_user=25)
    sms_run.produce()
    llm_args = llm.args("--llm-batch-size", "5", "--llm-concurrency", "2", *DEAR)

    stopped = offsetflow(*sms_run.consume_argv(*llm_args, "--llm-budget", "1", "--until-idle", "3"), check=False)
    assert stopped.returncode == 1, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("error: LLM budget of $1.00 reached after $")
    assert last.endswith(": raise --llm-budget and restart; nothing is lost")
    assert "Traceback" not in stopped.stderr
    paid = set(llm.stats()["sms_calls"])
    assert 0 < len(paid) < 100 and {row["_id"] for row in sms_run.results()} == paid

    done = offsetflow(*sms_run.consume_argv(*llm_args, "--llm-budget", "1000", "--until-idle", "3"))
    assert "LLM cost: $" in done.stderr
    assert set(llm.stats()["sms_calls"].values()) == {1}  # no SMS paid for twice
    assert len(sms_run.results()) == 100 == sms_run.db[RAW].count_documents({"isprocessed": True})
    frame = pl.read_parquet([c.path for c in list_chunks(sms_run.out, sms_run.topic)])
    assert frame.height == 100 == frame["sms_id"].n_unique()


def test_sms_of_one_text_cost_one_call_and_force_sends_them_all_again(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory()
    sms_run.seed(users=3, per_user=20)
    repeated = [doc["_id"] for doc in sms_run.db[RAW].find({}, {"_id": 1}).sort("_id", 1)][::4]
    sms_run.db[RAW].update_many({"_id": {"$in": repeated}}, {"$set": {"body": ALERT}})
    sms_run.produce()

    first = offsetflow(*sms_run.consume_argv(*llm.args(), "--until-idle", "3"))
    assert len(set(llm.stats()["sms_calls"]) & set(repeated)) == 1
    assert "content cache: 14 SMS copied from a text already extracted" in first.stderr
    assert len(sms_run.results()) == 60
    sent = sum(llm.stats()["sms_calls"].values())

    forced = offsetflow(
        *sms_run.consume_argv(*llm.args(), "--group", f"{sms_run.group}-f", "--force", "--until-idle", "3")
    )
    assert "content cache: 0 SMS copied" in forced.stderr
    assert sum(llm.stats()["sms_calls"].values()) == sent + 60  # every SMS sent, its text cached or not


def test_prices_and_budgets_that_cannot_work_are_refused_before_anything_runs(
    sms_run: SmsRun, llm_factory: Callable[..., Llm], tmp_path: Path
) -> None:
    llm = llm_factory()
    unpriced = offsetflow(*sms_run.consume_argv(*llm.args(), "--llm-budget", "5"), check=False)
    assert unpriced.returncode == 2
    assert "--llm-budget needs a price for model 'test-model'" in unpriced.stderr
    missing = offsetflow(*sms_run.consume_argv(*llm.args(), "--llm-prices", str(tmp_path / "nope.json")), check=False)
    assert missing.returncode == 2 and "cannot read the price file" in missing.stderr
    assert llm.stats()["calls"] == 0
