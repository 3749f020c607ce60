"""Chunk files on object storage: the local stack's S3 server (versitygw), reached as any S3 client would.

Exactly-once without rename: a chunk's key is a function of its records, one PUT makes it visible whole,
and leftovers past the committed offset are found by listing the bucket, whichever machine wrote them.
"""

from __future__ import annotations

import random
import signal
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.chunks import chunk_topics, list_chunks, open_store, read_chunks, remove_chunks
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sinks.storage import StorageError, s3_filesystem
from offsetflow.stack.s3 import DEV_BUCKET, DEV_SECRET_ACCESS_KEY, S3Server
from offsetflow.stream.isolate import caused_by_data
from offsetflow.stream.records import Origin, Output
from tests.cli import offsetflow
from tests.pipelines import PostsRun

TOPIC = "posts.ids"


@pytest.fixture()
def out(s3_out: str) -> str:
    return s3_out


def _post(offset: int, partition: int = 0) -> Output:
    row = {
        "post_id": f"p{partition}-{offset}",
        "platform": "twitter",
        "actor_id": "a",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "text": "hi",
        "lang": "en",
        "likes": 1,
        "shares": 0,
        "comments": 0,
        "views": 3,
        "hashtags": [],
        "has_media": False,
        "source_partition": partition,
        "source_offset": offset,
    }
    return Output(Origin(TOPIC, partition, offset, None, None, None), str(row["post_id"]), row)


def _sink(out: str, **kwargs: Any) -> ParquetChunkSink:
    return ParquetChunkSink(out, TOPIC, POST_ROW_SCHEMA, "post_id", **kwargs)


def _write_chunks(out: str, ranges: list[tuple[int, int]], partition: int = 0) -> None:
    sink = _sink(out)
    for first, last in ranges:
        sink.write([_post(o, partition) for o in range(first, last + 1)])
        sink.flush()


def test_the_s3_server_stores_lists_returns_and_deletes_objects(s3: S3Server, unique: str) -> None:
    fs = s3_filesystem(s3.client_env())
    key = f"{DEV_BUCKET}/smoke-{unique}/héllo.bin"
    fs.pipe_file(key, b"\x00payload\xff")
    assert fs.ls(f"{DEV_BUCKET}/smoke-{unique}") == [key]
    assert fs.cat_file(key) == b"\x00payload\xff"
    fs.rm(key)
    assert not fs.exists(key)
    assert (s3.buckets / DEV_BUCKET).is_dir()  # data lives in the stack's data dir


def test_dev_status_shows_the_s3_server_and_never_its_secret(s3: S3Server) -> None:
    status = offsetflow("dev", "status").stdout
    assert "s3" in status and s3.endpoint_url in status and str(s3.process.log_file) in status
    up = offsetflow("dev", "up", "--s3")
    assert f"AWS_ENDPOINT_URL={s3.endpoint_url}" in up.stdout
    assert "AWS_SECRET_ACCESS_KEY=***" in up.stdout
    assert DEV_SECRET_ACCESS_KEY not in up.stdout + up.stderr + status


def test_chunks_are_written_under_keys_named_by_topic_partition_and_offsets(out: str) -> None:
    _write_chunks(out, [(0, 9), (10, 19)])
    _write_chunks(out, [(0, 4)], partition=3)
    chunks = list_chunks(out, TOPIC)
    assert [(c.partition, c.first, c.last) for c in chunks] == [(0, 0, 9), (0, 10, 19), (3, 0, 4)]
    assert chunks[0].url == f"{out}/{TOPIC}/partition=0/{TOPIC}+0+{0:019d}+{9:019d}.parquet"
    assert all(c.size > 0 for c in chunks)
    frame = read_chunks(out, TOPIC)
    assert frame.height == 25 and frame["post_id"].n_unique() == 25
    assert [(c.first, c.last) for c in list_chunks(out, TOPIC, partition=3)] == [(0, 4)]


def test_listing_sees_only_chunk_files_of_the_topic(out: str) -> None:
    _write_chunks(out, [(0, 1)])
    fs = s3_filesystem()
    root = out.removeprefix("s3://")
    fs.pipe_file(f"{root}/{TOPIC}/partition=0/notes.txt", b"not a chunk")
    fs.pipe_file(f"{root}/{TOPIC}/partition=0/other+0+1+2.parquet", b"another topic's name")
    fs.pipe_file(f"{root}/{TOPIC}/stray.parquet", b"not in a partition folder")
    fs.pipe_file(f"{root}/README", b"not a topic")
    assert chunk_topics(out) == [TOPIC]
    assert [(c.first, c.last) for c in list_chunks(out, TOPIC)] == [(0, 1)]
    removed = remove_chunks(out, TOPIC)
    assert removed.files == 1 and removed.bytes > 0
    assert chunk_topics(out) == []
    assert fs.cat_file(f"{root}/{TOPIC}/partition=0/notes.txt") == b"not a chunk"  # nothing else is touched


def test_a_retried_chunk_overwrites_its_own_key_with_the_same_bytes(out: str) -> None:
    """A consumer that dies after the PUT but before the commit reads the same records again: the chunk it
    writes has the same key and the same content, on whichever machine it runs."""
    _write_chunks(out, [(0, 49)])
    [first] = list_chunks(out, TOPIC)
    before = s3_filesystem().cat_file(first.url)
    _write_chunks(out, [(0, 49)])
    [again] = list_chunks(out, TOPIC)
    assert again.url == first.url
    assert s3_filesystem().cat_file(again.url) == before


def test_a_failed_put_keeps_the_rows_pending_so_nothing_is_committed_past_them(s3: S3Server, unique: str) -> None:
    sink = _sink(f"s3://no-such-bucket-{unique}/out")
    sink.write([_post(7), _post(8)])
    with pytest.raises(OSError):
        sink.flush()
    assert sink.pending(0) == 7  # still held: the loop's commit target stays at 7


def test_an_unreachable_object_store_is_an_os_error_never_the_records_fault(
    out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's connection errors are not OSErrors; left as they are, the loop would bisect the batch and
    dead-letter good records for an outage."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    sink = _sink(out)
    sink.write([_post(3)])
    with pytest.raises(OSError, match=r"127\.0\.0\.1:1") as raised:
        sink.flush()
    assert not caused_by_data(raised.value)
    assert sink.pending(0) == 3


def test_chunks_past_the_committed_offset_are_removed_on_assignment(out: str) -> None:
    _write_chunks(out, [(0, 9), (10, 19), (20, 29)])
    _write_chunks(out, [(0, 9)], partition=1)
    sink = _sink(out)
    resume = sink.assigned(0, committed=20)
    assert (resume.existing, resume.removed, resume.rewind_to) == (2, 1, None)
    assert [(c.partition, c.first) for c in list_chunks(out, TOPIC)] == [(0, 0), (0, 10), (1, 0)]
    # Keys of committed chunks are not written again when Kafka delivers their records twice.
    sink.write([_post(5), _post(20)])
    sink.flush()
    assert read_chunks(out, TOPIC).filter(pl.col("source_partition") == 0).height == 21


def test_a_chunk_straddling_the_committed_offset_is_redone_whole(out: str) -> None:
    _write_chunks(out, [(0, 9), (10, 19), (20, 29)])
    resume = _sink(out).assigned(0, committed=15)
    assert (resume.existing, resume.removed, resume.rewind_to) == (1, 2, 10)
    assert [(c.first, c.last) for c in list_chunks(out, TOPIC)] == [(0, 9)]


def test_a_missing_bucket_or_a_wrong_key_is_one_line_at_start_saying_what_to_fix(
    out: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(out).check()  # the dev bucket, even with nothing under the prefix yet
    with pytest.raises(StorageError, match=f"bucket no-such-{unique} not found.*AWS_ENDPOINT_URL"):
        open_store(f"s3://no-such-{unique}/out").check()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(StorageError, match="AWS_SECRET_ACCESS_KEY") as raised:
        open_store(out).check()
    assert "wrong-secret" not in str(raised.value)


def test_the_store_of_a_url_is_an_object_store_and_of_a_path_a_directory(out: str, tmp_path: Any) -> None:
    assert open_store(out).location == out
    assert open_store(tmp_path).location == str(tmp_path)
    assert open_store(f"file://{tmp_path}").location == str(tmp_path)


def test_consumer_killed_mid_run_leaves_every_post_exactly_once_in_the_bucket(run: PostsRun, out: str) -> None:
    run.seed(actors=20, per_actor=20)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    rng = random.Random(5)
    small = ["--batch-size", "40", "--chunk-rows", "60", "--chunk-max-age", "0.5", "--fetch-workers", "2"]
    small += ["--out", out]  # the last --out wins over the run's local folder
    for _ in range(3):
        proc = run.spawn(run.consume_argv(*small))
        assert proc.stdout is not None
        while "partition" not in proc.stdout.readline():  # killed only once it has partitions to work on
            assert proc.poll() is None
        time.sleep(rng.uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = offsetflow(*run.consume_argv(*small, "--until-idle", "4"))
    assert "chunk files kept" in final.stderr  # it resumed from chunks in the bucket
    assert out in final.stderr + final.stdout
    assert DEV_SECRET_ACCESS_KEY not in final.stderr + final.stdout

    frame = read_chunks(out, run.topic)
    assert frame.height == len(expected)
    assert set(frame["post_id"].to_list()) == expected
    assert not run.out.exists()  # nothing went to a local folder


def test_a_consumer_told_to_write_to_a_missing_bucket_says_so_in_one_line(run: PostsRun, s3: S3Server) -> None:
    offsetflow("topics", "create", "--posts-topic", run.topic, "--sms-topic", f"test.sms.{run.unique}")
    result = offsetflow(*run.consume_argv("--out", f"s3://no-such-{run.unique}/x"), check=False, timeout=120)
    assert result.returncode == 1
    assert f"bucket no-such-{run.unique} not found" in result.stderr
    assert "Traceback" not in result.stderr
