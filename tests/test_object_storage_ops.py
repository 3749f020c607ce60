"""Operating pipelines whose chunk files are in a bucket: status, clean, replay and a group of several consumers
sharing one prefix, on the real stack with the local S3 server.

The bucket is what several machines would share: every member lists it afresh, so whichever member a partition
moves to finds and removes what its previous owner left past the committed offset.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from confluent_kafka import Producer

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.sinks.chunks import list_chunks, open_store, read_chunks
from offsetflow.sinks.storage import s3_filesystem
from offsetflow.stack.s3 import DEV_SECRET_ACCESS_KEY, S3Server
from tests.cli import offsetflow
from tests.pipelines import PostsRun

SMALL = ["--chunk-rows", "40"]


@pytest.fixture()
def out(s3_out: str) -> str:
    return s3_out


@pytest.fixture()
def finished(run: PostsRun, out: str) -> PostsRun:
    """A posts pipeline that has consumed everything into the bucket: 600 posts, 6 partitions, group idle."""
    run.seed(actors=10, per_actor=20)
    offsetflow(*run.produce_argv(10))
    offsetflow(*run.consume_argv("--until-idle", "3", *SMALL, "--out", out))  # the last --out wins
    return run


def status(*args: str) -> dict[str, Any]:
    return dict(json.loads(offsetflow("status", "--json", *args).stdout))


def wait_for(condition: Callable[[], bool], timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def send(kafka: KafkaSettings, topic: str, posts: list[dict[str, Any]]) -> None:
    """Post ids onto the topic as the producer writes them, keyed by post id."""
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config())
    for p in posts:
        record = {"post_id": p["_id"], "platform": p["platform"], "actor_id": p["actor_id"], "sample_seed": 7}
        producer.produce(topic, key=p["_id"].encode(), value=schema.encode(record))
    assert producer.flush(10) == 0


def keys(out: str, topic: str) -> list[str]:
    return [c.url for c in list_chunks(out, topic)]


def test_status_reports_the_chunk_files_in_the_bucket_from_its_listing(finished: PostsRun, out: str) -> None:
    chunks = list_chunks(out, finished.topic)
    report = status("--group", finished.group, "--out", out)
    [output] = [o for o in report["outputs"] if o["topic"] == finished.topic]
    assert output == {
        "directory": out,
        "topic": finished.topic,
        "partitions": 6,
        "files": len(chunks),
        "bytes": sum(c.size for c in chunks),
        "last_offset": max(c.last for c in chunks),
    }
    assert output["files"] >= 6 and output["bytes"] > 0
    table = offsetflow("status", "--group", finished.group, "--out", out)
    assert out in table.stdout and finished.topic in table.stdout
    assert DEV_SECRET_ACCESS_KEY not in table.stdout + table.stderr


def test_status_of_a_missing_bucket_says_so_in_one_line(s3: S3Server, unique: str) -> None:
    result = offsetflow("status", "--out", f"s3://no-such-{unique}/out", check=False)
    assert result.returncode == 1
    assert f"bucket no-such-{unique} not found" in result.stderr and "Traceback" not in result.stderr


def test_clean_removes_only_the_groups_chunk_objects_so_the_next_run_starts_over(finished: PostsRun, out: str) -> None:
    notes = f"{out.removeprefix('s3://')}/notes.txt"
    s3_filesystem().pipe_file(notes, b"mine")
    argv = ["clean", "--group", finished.group, "--out", out]
    refused = offsetflow(*argv, check=False, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert keys(out, finished.topic), "nothing is removed without a yes"

    files = len(open_store(out).list_files(finished.topic))
    done = offsetflow(*argv, "--yes")
    assert f"deleted group {finished.group}" in done.stderr
    assert f"removed {files:,} files" in done.stderr and out in done.stderr
    assert keys(out, finished.topic) == []
    assert s3_filesystem().cat_file(notes) == b"mine"  # nothing but chunk files is touched
    assert status("--group", finished.group)["groups"] == []
    assert [o for o in status("--out", out)["outputs"] if o["topic"] == finished.topic] == []

    offsetflow(*finished.consume_argv("--until-idle", "3", *SMALL, "--out", out))
    frame = read_chunks(out, finished.topic)
    assert frame.height == frame["post_id"].n_unique() == 600


def test_clean_of_the_bucket_alone_names_the_groups_that_will_not_rewrite_it(finished: PostsRun, out: str) -> None:
    done = offsetflow("clean", "--out", out, "--yes")
    assert f"replay --group {finished.group} --to earliest" in done.stderr
    assert keys(out, finished.topic) == []


def test_replay_to_earliest_then_rerun_leaves_the_bucket_unchanged_in_rows_content_and_keys(
    finished: PostsRun, out: str
) -> None:
    """As on a local folder: each partition's new owner removes the chunks at or past the rewound offset and the
    rerun writes them again under the same keys, with the same rows."""
    before_rows = read_chunks(out, finished.topic).sort("post_id")
    before_docs = sorted(finished.mongo["offsetflow"][finished.sink].find(), key=lambda d: d["_id"])
    before_keys = keys(out, finished.topic)

    offsetflow("replay", "--group", finished.group, "--to", "earliest")
    assert status("--group", finished.group)["groups"][0]["lag"] >= 600
    rerun = offsetflow(*finished.consume_argv("--until-idle", "3", *SMALL, "--out", out))
    # Every chunk was at or past the rewound offsets: each partition's owner removed them from the bucket.
    starts = re.findall(
        r"partition \d+: .*, (\d+) chunk files kept(?:, (\d+) uncommitted leftovers removed)?", rerun.stderr
    )
    assert len(starts) == 6 and all(kept == "0" for kept, _ in starts)
    assert sum(int(removed or 0) for _, removed in starts) == len(before_keys)

    assert read_chunks(out, finished.topic).sort("post_id").equals(before_rows)
    assert sorted(finished.mongo["offsetflow"][finished.sink].find(), key=lambda d: d["_id"]) == before_docs
    assert keys(out, finished.topic) == before_keys
    assert all(p["lag"] == 0 for p in status("--group", finished.group)["groups"][0]["partitions"])


def test_two_consumers_sharing_the_bucket_through_a_rebalance_write_every_post_exactly_once(
    run: PostsRun, out: str, kafka: KafkaSettings
) -> None:
    """A second member joins mid-run, then the first leaves with SIGTERM: partitions move twice, between
    processes that share nothing but Kafka and the bucket. Ids arrive in three parts, a part just before each
    rebalance, so both find work in flight however fast the machine is."""
    run.seed(actors=12, per_actor=30)
    offsetflow("topics", "create", "--posts-topic", run.topic, "--sms-topic", f"test.sms.{run.unique}")
    posts = list(run.mongo[run.source].posts.find({}, {"_id": 1, "platform": 1, "actor_id": 1}).sort("_id"))
    expected = {p["_id"] for p in posts}
    # A few to start with, most just before the second member joins, the rest just before the first leaves.
    cuts = len(posts) // 6, 2 * len(posts) // 3
    # Slow on purpose: on FerretDB an `$in` query scans the source.
    slow = ["--batch-size", "10", "--fetch-mode", "in", "--fetch-batch", "5", "--fetch-workers", "1"]
    slow += ["--chunk-rows", "30", "--chunk-max-age", "0.3", "--out", out]

    def owned() -> list[int]:
        """Partitions per member (members on one host may share a client id and host, so no names)."""
        groups = status("--group", run.group)["groups"]
        return sorted(len(m["partitions"]) for m in groups[0]["members"]) if groups else []

    send(kafka, run.topic, posts[: cuts[0]])
    first = run.spawn(run.consume_argv(*slow))
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: owned() == [6], what="the first member to own every partition")
        wait_for(lambda: bool(list_chunks(out, run.topic)), what="the first member's first chunks")
        send(kafka, run.topic, posts[cuts[0] : cuts[1]])
        second = run.spawn(run.consume_argv(*slow, "--until-idle", "5"))
        wait_for(lambda: owned() == [3, 3], what="the second member to take half the partitions")
        send(kafka, run.topic, posts[cuts[1] :])
        first.send_signal(signal.SIGTERM)
        first_out, _ = first.communicate(timeout=120)
        assert first.returncode == 0, first_out
        second_out, _ = second.communicate(timeout=600)
        assert second.returncode == 0, second_out
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()

    files = open_store(out).list_files(run.topic)  # every object, not only what readers see
    for previous, chunk in pairwise(files):
        if chunk.partition == previous.partition:
            assert chunk.first > previous.last, f"overlapping chunks {previous.url} and {chunk.url}"
    frame = read_chunks(out, run.topic)
    assert frame.height == len(expected)
    assert set(frame["post_id"].to_list()) == expected
    ids = run.sink_ids()
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert all(p["lag"] == 0 for p in status("--group", run.group)["groups"][0]["partitions"])
    assert not run.out.exists()  # nothing went to a local folder
