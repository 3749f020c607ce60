"""The posts pipeline on the real stack: crashes, restarts and duplicates never change the outputs."""

from __future__ import annotations

import random
import signal
import time
from typing import Any

import pytest
from confluent_kafka import Producer
from pymongo import MongoClient

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.posts import synthetic
from offsetflow.posts.sampling import sample_actors
from offsetflow.topic_reader import read_topic
from offsetflow.topics import dlq_for
from tests.cli import offsetflow
from tests.pipelines import PostsRun


def _topic_values(kafka: KafkaSettings, topic: str) -> list[bytes | None]:
    return [record.value for record in read_topic(kafka, topic)]


def test_same_seed_samples_the_same_actors_whatever_the_insertion_order(
    mongo: MongoClient[dict[str, Any]], unique: str
) -> None:
    people = synthetic.actors("telegram", 300, seed=1)
    forward, backward = mongo[f"fwd_{unique}"], mongo[f"bwd_{unique}"]
    forward.actors.insert_many([dict(p) for p in people])
    backward.actors.insert_many([dict(p) for p in reversed(people)])
    first = sample_actors(forward, "telegram", 25, seed=99)
    assert first == sample_actors(backward, "telegram", 25, seed=99)
    assert first != sample_actors(forward, "telegram", 25, seed=100)
    assert len(set(first)) == 25
    mongo.drop_database(forward.name)
    mongo.drop_database(backward.name)


def test_synthetic_source_is_deterministic_and_differs_per_platform() -> None:
    a = list(synthetic.posts("twitter", 3, 5, seed=5))
    assert a == list(synthetic.posts("twitter", 3, 5, seed=5))
    assert "public_metrics" in a[0] and "reactions" in next(synthetic.posts("facebook", 1, 1, seed=5))
    assert any(any(ord(ch) > 0x1F000 for ch in p["text"]) for p in a)  # emoji somewhere


def test_consumer_killed_repeatedly_leaves_every_post_exactly_once(run: PostsRun, kafka: KafkaSettings) -> None:
    run.seed(actors=20, per_actor=20)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    assert len(expected) == 1200
    rng = random.Random(3)
    small = ["--batch-size", "40", "--chunk-rows", "60", "--chunk-max-age", "0.5", "--fetch-workers", "2"]
    for _ in range(3):
        proc = run.spawn(run.consume_argv(*small))
        assert proc.stdout is not None
        while "partition" not in proc.stdout.readline():  # killed only once it has partitions to work on
            assert proc.poll() is None
        time.sleep(rng.uniform(0.3, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = offsetflow(*run.consume_argv(*small, "--until-idle", "4"))
    assert "chunk files kept" in final.stderr  # it said what it resumed from

    frame = run.parquet()
    assert frame.height == len(expected)
    assert set(frame["post_id"].to_list()) == expected
    ids = run.sink_ids()
    assert len(ids) == len(expected) and set(ids) == expected


def test_two_consumers_in_one_group_split_partitions_and_write_each_post_once(run: PostsRun) -> None:
    run.seed(actors=10, per_actor=20)
    offsetflow(*run.produce_argv(10))
    procs = [run.spawn(run.consume_argv("--batch-size", "50", "--until-idle", "6")) for _ in range(2)]
    logs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    assert all("partition" in log for log in logs)
    frame = run.parquet()
    assert frame.height == 600 == frame["post_id"].n_unique()
    assert len(run.sink_ids()) == 600


def test_producer_killed_mid_run_and_rerun_puts_each_id_in_the_topic_once(run: PostsRun, kafka: KafkaSettings) -> None:
    run.seed(actors=20, per_actor=20)
    proc = run.spawn(run.produce_argv(20, "--transaction-size", "1"))  # slow enough to be killed mid-run
    job_marker_seen = time.monotonic() + 60
    while time.monotonic() < job_marker_seen and len(_topic_values(kafka, run.topic)) < 100:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(_topic_values(kafka, run.topic))
    assert 0 < partial < 1200, "kill the producer mid-run"
    rerun = offsetflow(*run.produce_argv(20, "--transaction-size", "50"))
    assert "resumed after" in rerun.stderr
    values = _topic_values(kafka, run.topic)
    ids = [codec.load(codec.POST_ID).decode(v)["post_id"] for v in values]
    assert len(ids) == len(set(ids)) == 1200
    assert "nothing to do" in offsetflow(*run.produce_argv(20)).stderr


def test_missing_posts_and_undecodable_records_go_to_the_dead_letter_topic(run: PostsRun, kafka: KafkaSettings) -> None:
    run.seed(actors=2, per_actor=3)
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config())
    producer.produce(
        run.topic,
        key=b"ghost",
        value=schema.encode({"post_id": "no-such-post", "platform": "twitter", "actor_id": "x", "sample_seed": 1}),
    )
    producer.produce(run.topic, key=b"junk", value=b"not avro at all")
    producer.produce(
        run.topic,
        key=b"tw-0000000-00000",
        value=schema.encode(
            {"post_id": "tw-0000000-00000", "platform": "twitter", "actor_id": "tw-actor-0000000", "sample_seed": 1}
        ),
    )
    assert producer.flush(10) == 0

    result = offsetflow(*run.consume_argv("--until-idle", "3"))
    assert "2 dead letters" in result.stderr
    assert run.sink_ids() == ["tw-0000000-00000"]
    letters = [codec.load(codec.DEAD_LETTER).decode(v) for v in _topic_values(kafka, dlq_for(run.topic))]
    by_kind = {d["error_type"]: d for d in letters}
    assert set(by_kind) == {"not_found", "decode"}
    assert "no-such-post" in by_kind["not_found"]["reason"]
    assert by_kind["decode"]["value"] == b"not avro at all"
    assert all(d["source_topic"] == run.topic and d["consumer_group"] == run.group for d in letters)


@pytest.mark.parametrize("delay", [0.6, 1.0])  # 0.6 s: the signal lands mid-fetch on most runs
def test_sigterm_finishes_the_batch_in_hand_commits_and_exits_cleanly(run: PostsRun, delay: float) -> None:
    run.seed(actors=10, per_actor=20)
    offsetflow(*run.produce_argv(10))
    proc = run.spawn(run.consume_argv("--batch-size", "50", "--chunk-max-age", "0.5"))
    assert proc.stdout is not None
    while "partition" not in proc.stdout.readline():
        assert proc.poll() is None
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    assert "SIGTERM" in output

    # Everything it wrote is committed: a restart has no leftovers to remove and finishes the rest.
    final = offsetflow(*run.consume_argv("--until-idle", "3"))
    assert "leftovers removed" not in final.stderr
    assert run.parquet().height == 600 == len(run.sink_ids())


def test_a_restarted_static_member_gets_its_partitions_back_without_waiting_out_the_session(run: PostsRun) -> None:
    """With --group-instance-id the broker hands a restarted member its predecessor's partitions at once. The
    session timeout here is 45 s: a restart that waited it out could not be assigned within 30 s."""
    run.seed(actors=10, per_actor=20)
    offsetflow(*run.produce_argv(10))
    argv = run.consume_argv(
        "--group-instance-id", f"fetcher-{run.unique}", "--kafka-config", "session.timeout.ms=45000",
        "--batch-size", "20", "--chunk-max-age", "0.5", "--fetch-workers", "1",
    )  # fmt: skip
    first = run.spawn(argv)
    assert first.stdout is not None
    while "partition" not in first.stdout.readline():
        assert first.poll() is None
    time.sleep(1.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    second = run.spawn([*argv, "--until-idle", "3"])
    assert second.stdout is not None
    while "partition" not in (line := second.stdout.readline()):
        assert line, "the restarted consumer exited without partitions"
    assert time.monotonic() - started < 30
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    frame = run.parquet()
    assert frame.height == 600 == frame["post_id"].n_unique()
