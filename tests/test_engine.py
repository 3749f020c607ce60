"""The pipelined loop on the real stack: several batches in flight, members coming and going, and
--until-idle meaning "caught up" — every record still lands in every sink exactly once."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import polars as pl
import pytest

from offsetflow.sinks.chunks import list_chunks
from tests.cli import offsetflow
from tests.pipelines import PostsRun, SmsRun, spawn

pytestmark = pytest.mark.slow

SMALL = ["--batch-size", "25", "--chunk-rows", "40", "--chunk-max-age", "0.5", "--fetch-workers", "2"]


def _wait_for_partitions(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    while "partition" not in (line := proc.stdout.readline()):
        assert line, "the consumer exited before it was assigned partitions"


def _exactly_once(run: PostsRun, expected: set[str]) -> None:
    rows = Counter(run.parquet()["post_id"].to_list())
    assert set(rows) == expected and max(rows.values()) == 1
    assert sorted(run.sink_ids()) == sorted(expected)


def test_members_joining_and_leaving_while_batches_are_in_flight_write_each_post_once(run: PostsRun) -> None:
    run.seed(actors=20, per_actor=30)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    first = run.spawn(run.consume_argv(*SMALL))
    _wait_for_partitions(first)
    time.sleep(1.0)
    second = run.spawn(run.consume_argv(*SMALL))  # a rebalance while the first has batches in flight
    _wait_for_partitions(second)
    time.sleep(1.0)
    first.send_signal(signal.SIGTERM)  # leaves cleanly: drains, commits, hands its partitions over
    first_out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, first_out
    third = run.spawn(run.consume_argv(*SMALL, "--until-idle", "3"))
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=120)
    third_out, _ = third.communicate(timeout=300)
    assert third.returncode == 0, third_out
    _exactly_once(run, expected)


def test_until_idle_waits_for_partitions_held_by_dead_members_instead_of_exiting_early(run: PostsRun) -> None:
    """Killed members keep their partitions until their sessions expire; a new run that is assigned nothing
    meanwhile looks idle, but the group is not caught up, so it waits, takes them over and finishes them."""
    run.seed(actors=20, per_actor=30)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    for _ in range(3):
        proc = run.spawn(run.consume_argv(*SMALL))
        _wait_for_partitions(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = offsetflow(*run.consume_argv(*SMALL, "--until-idle", "2"), timeout=300)
    assert "no new records" in final.stderr
    _exactly_once(run, expected)


def test_a_rebalance_waits_for_slow_llm_calls_only_the_grace_period_and_loses_nothing(
    sms_run: SmsRun, llm_factory: Any
) -> None:
    """A member's batch waits 8 s for the LLM when a second member joins: the eager rebalance holds the whole
    group while the first drains, so it waits only --revoke-grace, leaves that batch uncommitted, and whoever
    is assigned its partition redoes it (the answer, stored as it arrived, is reused)."""
    llm = llm_factory(latency=8.0)
    sms_run.seed(users=2, per_user=10)
    sms_run.produce()
    argv = sms_run.consume_argv(
        *llm.args("--llm-batch-size", "5", "--llm-concurrency", "4"), "--chunk-max-age", "0.5", "--revoke-grace", "1"
    )
    first = spawn(argv)
    _wait_for_partitions(first)
    time.sleep(1.5)  # the first batch's calls are out
    second = offsetflow(*argv, "--until-idle", "3", timeout=300)
    first.send_signal(signal.SIGTERM)
    first_out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, first_out
    assert re.search(r"rebalance: \d+ records still being processed after 1s were left uncommitted", first_out)
    assert "error" not in second.stderr.lower()
    results = sms_run.results()
    assert len(results) == 20 == len({r["_id"] for r in results})
    assert sms_run.db.sms_fin_rawdata.count_documents({"isprocessed": True}) == 20
    frame = pl.read_parquet([c.path for c in list_chunks(sms_run.out, sms_run.topic)])
    assert frame.height == 20 == frame["sms_id"].n_unique()
