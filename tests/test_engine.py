"""The pipelined loop on the real stack: several batches in flight, members coming and going, and
--until-idle meaning "caught up" — every record still lands in every sink exactly once."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import pytest

from tests.cli import offsetflow
from tests.pipelines import PostsRun

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
