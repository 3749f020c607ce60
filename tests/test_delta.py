"""`--format delta`: a Delta Lake table per topic, exactly once through the table's own transaction log.

Each commit records Delta's application transaction (``txn``) for ``<group>/<topic>/<partition>`` with the
next offset the table does not hold; a batch delivered again (the Delta commit landed, the Kafka commit did
not) is dropped by reading that version back, as Spark's Delta sink does. On a local folder and on the
stack's S3 server (versitygw), where delta-rs commits by a PUT with ``If-None-Match: *``.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from offsetflow.config import ConfigError
from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks import delta
from offsetflow.sinks.delta import (
    DeltaTableSink,
    compact_table,
    open_table,
    read_table,
    require_deltalake,
    storage_options,
    table_location,
    table_topics,
)
from offsetflow.stack.s3 import DEV_BUCKET, DEV_SECRET_ACCESS_KEY, S3Server
from offsetflow.stream.isolate import caused_by_data
from offsetflow.stream.records import Origin, Output
from tests.cli import offsetflow
from tests.pipelines import PostsRun, SmsRun

TOPIC = "posts.ids"
GROUP = "posts-fetcher"


@pytest.fixture(params=["local", "s3"])
def out(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same specifications on a local folder and on the S3 server."""
    if request.param == "local":
        return str(tmp_path / "out")
    return str(request.getfixturevalue("s3_out"))


def _post(offset: int, partition: int = 0) -> Output:
    row = {
        "post_id": f"p{partition}-{offset}",
        "platform": "twitter",
        "actor_id": "a",
        "created_at": datetime(2026, 1, 1, 12, 30, tzinfo=UTC),
        "text": "hi",
        "lang": "en",
        "likes": 1,
        "shares": 0,
        "comments": 0,
        "views": 3,
        "hashtags": ["x", "y"],
        "has_media": False,
        "source_partition": partition,
        "source_offset": offset,
    }
    return Output(Origin(TOPIC, partition, offset, None, None, None), str(row["post_id"]), row)


def _sink(out: str, **kwargs: float) -> DeltaTableSink:
    return DeltaTableSink(out, TOPIC, GROUP, POST_ROW_SCHEMA, "post_id", **kwargs)  # type: ignore[arg-type]


def _deliver(sink: DeltaTableSink, offsets: range, partition: int = 0, committed: int = 0) -> None:
    """What the loop does with one run's records of a partition: assign, write, flush."""
    sink.assigned(partition, committed)
    sink.write([_post(o, partition) for o in offsets])
    sink.flush()


def _table(out: str) -> pl.DataFrame:
    return read_table(table_location(out, TOPIC))


def test_a_batch_delivered_twice_is_in_the_table_once(out: str) -> None:
    _deliver(_sink(out), range(10))
    again = _sink(out)  # a restart: the Delta commit landed, the Kafka commit (still 0) did not
    _deliver(again, range(10))
    table = _table(out)
    assert table.height == 10 and table["post_id"].n_unique() == 10
    assert again.commits == 0  # nothing new to commit: the table itself said it holds offsets below 10


def test_each_commit_records_the_next_offset_of_its_partition_as_the_tables_txn_version(out: str) -> None:
    sink = _sink(out)
    _deliver(sink, range(0, 10))
    _deliver(sink, range(0, 5), partition=3)
    table = open_table(table_location(out, TOPIC))
    assert table is not None
    assert table.transaction_version(f"{GROUP}/{TOPIC}/0") == 10
    assert table.transaction_version(f"{GROUP}/{TOPIC}/3") == 5
    assert table.transaction_version(f"other-group/{TOPIC}/0") is None


def test_a_replay_overlapping_the_table_writes_only_the_offsets_it_does_not_hold(out: str) -> None:
    _deliver(_sink(out), range(0, 20))
    _deliver(_sink(out), range(10, 30), committed=10)  # Kafka committed 10; the table holds up to 19
    table = _table(out)
    assert sorted(table["source_offset"].to_list()) == list(range(30))


def test_a_zombie_owner_flushing_late_does_not_duplicate_what_the_new_owner_wrote(out: str) -> None:
    """The partition moved while the old owner (session timed out) still held a buffer: both flush the same
    offsets; the second to commit reads the table's txn version and drops them."""
    zombie, owner = _sink(out), _sink(out)
    zombie.assigned(0, 0)
    zombie.write([_post(o) for o in range(10)])
    _deliver(owner, range(15))
    zombie.flush()
    assert zombie.pending(0) is None  # released: the table holds these offsets
    assert sorted(_table(out)["source_offset"].to_list()) == list(range(15))


def test_a_zombie_that_loses_the_commit_race_reads_the_table_again_and_drops_what_landed(
    out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zombie read the table before the new owner's commit landed, then commits from that stale snapshot:
    the commit fails on the shared app id, and the retry sees the owner's txn version."""
    location = table_location(out, TOPIC)
    _deliver(_sink(out), range(5))  # version 0
    stale = open_table(location)
    _deliver(_sink(out), range(5, 15), committed=5)  # the new owner: version 1, txn 15
    zombie = _sink(out)
    zombie.write([_post(o) for o in range(5, 12)])
    snapshots = iter([stale])
    monkeypatch.setattr(delta, "open_table", lambda where: next(snapshots, None) or open_table(where))
    zombie.flush()
    assert zombie.commits == 0 and zombie.pending(0) is None
    assert sorted(_table(out)["source_offset"].to_list()) == list(range(15))


def test_writers_of_different_partitions_commit_to_one_table_at_once(out: str) -> None:
    """Two consumers of a group share the table: their commits race for each next log version, and the loser
    of each race (an If-None-Match PUT refused, on S3) commits at the next one; nothing is overwritten."""
    _deliver(_sink(out), range(1), partition=9)  # the table exists before the race

    def partition_writer(partition: int) -> None:
        sink = _sink(out)
        sink.assigned(partition, 0)
        for first in range(0, 40, 5):
            sink.write([_post(o, partition) for o in range(first, first + 5)])
            sink.flush()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(partition_writer, range(4)))
    table = open_table(table_location(out, TOPIC))
    assert table is not None and table.version() == 4 * 8  # version 0 made the table
    assert [table.transaction_version(f"{GROUP}/{TOPIC}/{p}") for p in range(4)] == [40] * 4
    assert _table(out).height == 1 + 4 * 40 and _table(out)["post_id"].n_unique() == 1 + 4 * 40


def test_two_commits_carrying_the_same_app_id_from_one_snapshot_cannot_both_land(tmp_path: Path) -> None:
    """What makes the check-then-commit safe: delta-rs fails a commit when a commit with the same txn app id
    landed after the snapshot it read (the sink then reads the table again)."""
    where = str(tmp_path / "t")
    frame = pl.DataFrame({"x": [1]})
    write_deltalake(where, frame, mode="append")
    first, second = DeltaTable(where), DeltaTable(where)
    txn = CommitProperties(app_transactions=[Transaction("g/t/0", 5)])
    write_deltalake(first, frame, mode="append", commit_properties=txn)
    with pytest.raises(CommitFailedError):
        write_deltalake(second, frame, mode="append", commit_properties=txn)
    other = CommitProperties(app_transactions=[Transaction("g/t/1", 5)])
    write_deltalake(DeltaTable(where, version=0), frame, mode="append", commit_properties=other)  # no conflict
    assert DeltaTable(where).version() == 2


def test_rows_keep_the_parquet_sinks_types_and_polars_reads_them_back(out: str) -> None:
    _deliver(_sink(out), range(3))
    table = _table(out)
    assert dict(table.schema) == {**POST_ROW_SCHEMA, "created_at": pl.Datetime("us", "UTC")}  # Delta: µs only
    assert table.sort("source_offset").row(0, named=True)["created_at"] == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert table["hashtags"].to_list() == [["x", "y"]] * 3


def test_keys_the_table_holds_are_not_written_again_when_kafka_delivers_them_at_new_offsets(out: str) -> None:
    _deliver(_sink(out), range(10))
    sink = _sink(out)
    sink.assigned(0, 10)
    duplicate = Output(Origin(TOPIC, 0, 10, None, None, None), "p0-3", _post(3).row)
    sink.write([duplicate, _post(11)])
    sink.flush()
    assert _table(out).height == 11


def test_rows_are_pending_until_committed_and_a_failed_commit_commits_nothing(
    s3: S3Server, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _sink(f"s3://{DEV_BUCKET}/test-delta-{unique}")
    sink.assigned(0, 7)
    sink.write([_post(7), _post(8)])
    assert sink.pending(0) == 7
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    with pytest.raises(OSError) as raised:
        sink.flush()
    assert not caused_by_data(raised.value)  # an outage: retried, never dead-lettered
    assert sink.pending(0) == 7  # still held: the loop's commit target stays at 7


def test_s3_options_come_from_the_aws_variables_and_allow_http_only_for_an_http_endpoint() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k", "AWS_REGION": "eu-west-1"}
    assert storage_options("s3://b/p", env) == {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "eu-west-1",
    }
    assert "AWS_ALLOW_HTTP" not in storage_options("s3://b/p", {"AWS_ENDPOINT_URL_S3": "https://s3.example"})
    assert storage_options("/data/out", env) == {}


def test_compaction_merges_the_small_files_keeps_rows_and_txn_versions(out: str) -> None:
    sink = _sink(out)
    sink.assigned(0, 0)
    for first in range(0, 50, 10):
        sink.write([_post(o) for o in range(first, first + 10)])
        sink.flush()
    location = table_location(out, TOPIC)
    before = open_table(location)
    assert before is not None and len(before.file_uris()) == 5
    done = compact_table(location, retention_hours=168)
    assert (done.files_removed, done.files_added) == (5, 1)
    after = open_table(location)
    assert after is not None and len(after.file_uris()) == 1
    assert after.transaction_version(f"{GROUP}/{TOPIC}/0") == 50
    assert sorted(_table(out)["source_offset"].to_list()) == list(range(50))
    assert "5 files merged into 1" in done.describe()


def test_tables_under_an_out_location_are_found_by_their_log(out: str) -> None:
    _deliver(_sink(out), range(2))
    DeltaTableSink(out, "sms.raw", GROUP, POST_ROW_SCHEMA, "post_id").flush()  # nothing written: no table
    assert table_topics(out) == [TOPIC]
    assert compact_table(table_location(out, TOPIC), dry_run=True).files_removed == 1


def test_without_deltalake_the_format_says_in_one_line_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deltalake", None)
    with pytest.raises(ConfigError, match=r"pip install 'offsetflow\[delta\]'"):
        require_deltalake()


def test_an_unknown_format_is_one_line_naming_the_choices(run: PostsRun) -> None:
    result = offsetflow(*run.consume_argv("--format", "orc"), check=False, timeout=60)
    assert result.returncode != 0
    assert "choose parquet or delta" in result.stderr and "Traceback" not in result.stderr


def test_consumer_killed_mid_run_leaves_every_post_exactly_once_in_the_delta_table(run: PostsRun, s3_out: str) -> None:
    run.seed(actors=20, per_actor=20)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    rng = random.Random(11)
    small = ["--batch-size", "40", "--chunk-rows", "60", "--chunk-max-age", "0.5", "--fetch-workers", "2"]
    small += ["--out", s3_out, "--format", "delta"]
    for _ in range(3):
        proc = run.spawn(run.consume_argv(*small))
        assert proc.stdout is not None
        while "partition" not in proc.stdout.readline():  # killed only once it has partitions to work on
            assert proc.poll() is None
        time.sleep(rng.uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = offsetflow(*run.consume_argv(*small, "--until-idle", "4"))
    location = table_location(s3_out, run.topic)
    said = "".join((final.stderr + final.stdout).split())  # the console wraps long lines
    assert f"Delta:{len(expected):,}rowsatversion" in said and location in said
    assert DEV_SECRET_ACCESS_KEY not in final.stderr + final.stdout

    table = read_table(location)
    assert table.height == len(expected)
    assert set(table["post_id"].to_list()) == expected
    assert not run.out.exists()  # nothing went to a local folder


def test_the_sms_consumer_writes_one_row_per_sms_to_its_delta_table_read_by_polars(sms_run: SmsRun) -> None:
    sms_run.seed(users=3, per_user=10)
    sms_run.produce()
    offsetflow(*sms_run.consume_argv("--format", "delta", "--until-idle", "2"))
    location = table_location(str(sms_run.out), sms_run.topic)
    table = pl.read_delta(location)  # a plain polars reader, no offsetflow in between
    assert table.height == 30 and table["sms_id"].n_unique() == 30
    assert {r["_id"] for r in sms_run.results()} == set(table["sms_id"].to_list())
    assert not list(sms_run.out.glob(f"{sms_run.topic}/partition=*"))  # no Parquet chunks beside it


def test_records_delivered_again_after_a_replay_leave_the_table_as_it_was(run: PostsRun) -> None:
    """The crash window at scale: every record comes again while the table holds it already. The table's
    txn versions drop them all, so no commit is made (a replay does not rewrite a Delta table's rows, unlike
    chunk files: to rebuild one, write a new table)."""
    run.seed(actors=5, per_actor=20)
    offsetflow(*run.produce_argv(5))
    expected = run.expected_ids(5)
    argv = run.consume_argv("--format", "delta", "--chunk-max-age", "0.5", "--until-idle", "3")
    offsetflow(*argv)
    location = table_location(str(run.out), run.topic)
    before = open_table(location)
    assert before is not None and read_table(location).height == len(expected)
    offsetflow("replay", "--group", run.group, "--to", "earliest", "--topic", run.topic)
    again = offsetflow(*argv)
    assert f"{len(expected):,} records" in again.stderr  # all delivered again
    after = open_table(location)
    assert after is not None and after.version() == before.version()  # and none committed
    assert set(read_table(location)["post_id"].to_list()) == expected and read_table(location).height == len(expected)


def test_compact_with_format_delta_compacts_and_vacuums_the_tables_under_out(sms_run: SmsRun) -> None:
    sms_run.seed(users=3, per_user=10)
    sms_run.produce()
    small = ("--batch-size", "5", "--chunk-rows", "5")
    offsetflow(*sms_run.consume_argv("--format", "delta", *small, "--until-idle", "2"))
    location = table_location(str(sms_run.out), sms_run.topic)
    before = pl.read_delta(location)
    dry = offsetflow("compact", "--out", str(sms_run.out), "--format", "delta", "--dry-run")
    assert "would be compacted" in dry.stderr
    done = offsetflow("compact", "--out", str(sms_run.out), "--format", "delta")
    assert location in done.stderr
    after = pl.read_delta(location)
    assert after.sort("sms_id").equals(before.sort("sms_id")) and after.height == 30
