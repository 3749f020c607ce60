"""Compaction and the overlap rule: every reader sees each offset's rows exactly once, before, during and after
`offsetflow compact`, on a local folder and on the real S3 server, even when compaction is killed at any point
or runs next to a consumer."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from offsetflow.config import KafkaSettings
from offsetflow.ops import compact as compaction
from offsetflow.ops.groups import Groups
from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.chunks import (
    Chunk,
    list_chunks,
    open_store,
    owned_from,
    read_chunks,
    shadowed,
    visible,
)
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sinks.storage import Location
from offsetflow.stream.records import Origin, Output
from tests.cli import offsetflow
from tests.pipelines import PostsRun, spawn

TOPIC = "posts.ids"


def _c(first: int, last: int, partition: int = 0) -> Chunk:
    return Chunk(f"p{partition}/{first}-{last}", partition, first, last, 1)


def _ranges(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.first, c.last) for c in chunks]


# -- the rule, on names alone ---------------------------------------------------------------------------------


def test_a_chunk_within_another_chunks_range_is_shadowed() -> None:
    merged, parts = _c(0, 29), [_c(0, 9), _c(10, 19), _c(20, 29)]
    assert visible([*parts, merged]) == [merged]
    assert shadowed([*parts, merged]) == parts


def test_of_chunks_starting_together_the_longer_one_is_seen() -> None:
    assert _ranges(visible([_c(5, 9), _c(5, 20), _c(5, 12)])) == [(5, 20)]


def test_containment_is_judged_per_partition() -> None:
    chunks = [_c(0, 99, partition=0), _c(10, 19, partition=1)]
    assert visible(chunks) == chunks


def test_of_two_partially_overlapping_chunks_the_earlier_owns_the_overlap() -> None:
    early, late = _c(10, 29), _c(20, 39)
    assert owned_from([late, early]) == [(early, 10), (late, 30)]


def test_visible_chunks_have_increasing_lasts_so_owned_windows_tile_without_overlap() -> None:
    rng = random.Random(14)
    for _ in range(300):
        chunks = []
        for _ in range(rng.randint(1, 12)):
            first = rng.randint(0, 60)
            chunks.append(_c(first, first + rng.randint(0, 20)))
        chunks = list({(c.first, c.last): c for c in chunks}.values())
        covered = {o for c in chunks for o in range(c.first, c.last + 1)}
        owners: dict[int, int] = {}
        for chunk, low in owned_from(chunks):
            for o in range(low, chunk.last + 1):
                assert o not in owners  # each offset owned once
                owners[o] = chunk.first
        assert set(owners) == covered  # and every offset some chunk holds is owned by a chunk holding it


# -- planning, on names alone ---------------------------------------------------------------------------------


def test_settled_small_chunks_merge_into_runs_of_about_the_target_named_by_their_range() -> None:
    files = [_c(o, o + 9) for o in range(0, 100, 10)]  # ten chunks of 10 offsets
    plan = compaction.plan_partition(TOPIC, 0, files, committed=100, target_rows=40)
    assert [(m.first, m.last, len(m.parts)) for m in plan.merges] == [(0, 39, 4), (40, 79, 4), (80, 99, 2)]
    assert (plan.files, plan.files_after, plan.unsettled) == (10, 3, 0)


def test_chunks_at_or_past_the_committed_offset_are_left_to_the_consumer() -> None:
    files = [_c(o, o + 9) for o in range(0, 60, 10)]
    plan = compaction.plan_partition(TOPIC, 0, files, committed=35, target_rows=1000)
    assert [(m.first, m.last) for m in plan.merges] == [(0, 29)]  # (30, 39) straddles 35: the consumer's
    assert plan.unsettled == 3


def test_a_partition_the_group_never_committed_is_not_touched() -> None:
    plan = compaction.plan_partition(TOPIC, 0, [_c(0, 9), _c(10, 19)], committed=None, target_rows=1000)
    assert plan.merges == () and plan.files_after == 2


def test_a_chunk_already_big_enough_stays_as_it_is() -> None:
    files = [_c(0, 99), _c(100, 109), _c(110, 119), _c(120, 299)]
    plan = compaction.plan_partition(TOPIC, 0, files, committed=1000, target_rows=100)
    assert [(m.first, m.last) for m in plan.merges] == [(100, 119)]


def test_parts_an_interrupted_run_left_are_deleted_and_not_merged_again() -> None:
    files = [_c(0, 29), _c(0, 9), _c(10, 19), _c(20, 29), _c(30, 39)]
    plan = compaction.plan_partition(TOPIC, 0, files, committed=40, target_rows=30)
    assert _ranges(list(plan.leftovers)) == [(0, 9), (10, 19), (20, 29)]
    assert plan.merges == ()  # (0, 29) is full; (30, 39) alone
    assert plan.files_after == 2


def test_partially_overlapping_chunks_are_merged_whatever_their_size_unless_rows_cannot_be_split() -> None:
    files = [_c(0, 99), _c(50, 149)]
    merged = compaction.plan_partition(TOPIC, 0, files, committed=1000, target_rows=10)
    assert [(m.first, m.last) for m in merged.merges] == [(0, 149)]
    left = compaction.plan_partition(TOPIC, 0, files, committed=1000, target_rows=10, splittable=False)
    assert left.merges == () and left.overlaps == 1


# -- on a real store: a local folder and the S3 server --------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def out(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Iterator[Location]:
    if request.param == "local":
        yield tmp_path / "out"
        return
    yield request.getfixturevalue("s3_out")


def _post(offset: int, partition: int = 0, topic: str = TOPIC) -> Output:
    row = {
        "post_id": f"p{partition}-{offset}",
        "platform": "twitter",
        "actor_id": "a",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "text": f"post {offset}",
        "lang": "en",
        "likes": offset,
        "shares": 0,
        "comments": 0,
        "views": 3,
        "hashtags": [],
        "has_media": False,
        "source_partition": partition,
        "source_offset": offset,
    }
    return Output(Origin(topic, partition, offset, None, None, None), str(row["post_id"]), row)


def _write(out: Location, ranges: list[tuple[int, int]], partition: int = 0, topic: str = TOPIC) -> None:
    sink = ParquetChunkSink(out, topic, POST_ROW_SCHEMA, "post_id")
    for first, last in ranges:
        sink.write([_post(o, partition, topic) for o in range(first, last + 1)])
        sink.flush()


def _small_chunks(out: Location, chunks: int, rows: int, partitions: int = 2) -> None:
    for p in range(partitions):
        _write(out, [(i * rows, i * rows + rows - 1) for i in range(chunks)], partition=p)


def _exactly_once(out: Location, partitions: int, offsets: int, whole_files: bool = True) -> pl.DataFrame:
    """Every post of every partition, each once, with its own content, in partition and offset order; and,
    unless a partial overlap is expected, the same through reading the listed files whole."""
    frame = read_chunks(out, TOPIC)
    expected = [(p, o) for p in range(partitions) for o in range(offsets)]
    assert list(zip(frame["source_partition"], frame["source_offset"], strict=True)) == expected
    assert frame["text"].to_list() == [f"post {o}" for _, o in expected]
    if whole_files:  # as polars or DuckDB given the listed files would read them
        store = open_store(out)
        assert store.read(store.list_chunks(TOPIC)).equals(frame)
    return frame


def _compact(out: Location, committed: int, target_rows: int, partitions: int = 2) -> compaction.Plan:
    store = open_store(out)
    settled = {(TOPIC, p): committed for p in range(partitions)}
    plan = compaction.plan(store, ["g"], [TOPIC], settled, target_rows)
    list(compaction.apply(store, plan))
    return plan


def test_compaction_reduces_files_and_keeps_every_row_once_with_its_content(out: Location) -> None:
    _small_chunks(out, chunks=12, rows=10)
    before = _exactly_once(out, 2, 120)
    plan = _compact(out, committed=120, target_rows=50)
    assert (plan.files, plan.files_after) == (24, 6)
    assert [_ranges(list_chunks(out, TOPIC, p)) for p in (0, 1)] == [[(0, 49), (50, 99), (100, 119)]] * 2
    assert _exactly_once(out, 2, 120).equals(before)
    assert len(open_store(out).list_files(TOPIC)) == 6  # the parts are gone
    assert _compact(out, committed=120, target_rows=50).merges == []  # a second run has nothing to do


def test_readers_during_compaction_see_every_row_once_at_every_moment(out: Location) -> None:
    _small_chunks(out, chunks=40, rows=5)
    before = _exactly_once(out, 2, 200)
    worker = threading.Thread(target=_compact, args=(out, 200, 10))
    worker.start()
    reads = 0
    while worker.is_alive() or reads == 0:
        assert _exactly_once(out, 2, 200, whole_files=False).equals(before)
        reads += 1
    worker.join()
    assert len(open_store(out).list_files(TOPIC)) == 40  # 80 chunks of 5 offsets, merged in pairs


def test_a_kill_between_writing_the_merged_file_and_deleting_its_parts_is_invisible_then_finished(
    out: Location,
) -> None:
    _small_chunks(out, chunks=4, rows=10, partitions=1)
    store = open_store(out)
    merge = compaction.plan(store, ["g"], [TOPIC], {(TOPIC, 0): 40}, 100).merges[0]
    store.write(TOPIC, 0, merge.first, merge.last, store.read_rows(merge.parts), "zstd")  # ...killed here
    assert len(store.list_files(TOPIC)) == 5
    assert _ranges(list_chunks(out, TOPIC)) == [(0, 39)]
    _exactly_once(out, 1, 40)
    plan = _compact(out, committed=40, target_rows=100, partitions=1)
    assert len(plan.leftovers) == 4
    assert _ranges(store.list_files(TOPIC)) == [(0, 39)]
    _exactly_once(out, 1, 40)


def test_a_merge_whose_part_vanished_meanwhile_is_skipped_leaving_the_rest_as_readers_saw_it(
    out: Location,
) -> None:
    _small_chunks(out, chunks=4, rows=10, partitions=2)
    store = open_store(out)
    plan = compaction.plan(store, ["g"], [TOPIC], {(TOPIC, 0): 40, (TOPIC, 1): 40}, 20)
    first = plan.merges[0]
    store.write(TOPIC, 0, first.first, first.last, store.read_rows(first.parts), "zstd")  # another compaction
    store.delete(first.parts)
    steps = list(compaction.apply(store, plan))
    assert isinstance(steps[0], compaction.Skipped) and steps[0].merge == first
    assert all(isinstance(s, compaction.Merged) for s in steps[1:])
    _exactly_once(out, 2, 40)
    assert len(store.list_files(TOPIC)) == 4


def test_a_zombies_late_chunk_overlapping_partially_is_read_once_and_merged_away(out: Location) -> None:
    _write(out, [(0, 9), (10, 19), (20, 29)])
    _write(out, [(5, 24)])  # a member that lost the partition wrote these after the new owner did
    _exactly_once(out, 1, 30, whole_files=False)  # only rule 2, which needs offsets, reads it exactly
    _compact(out, committed=30, target_rows=1, partitions=1)
    assert _ranges(open_store(out).list_files(TOPIC)) == [(0, 29)]
    _exactly_once(out, 1, 30)


def test_a_new_owner_removes_shadowed_parts_past_the_committed_offset_with_their_merged_file(out: Location) -> None:
    _write(out, [(0, 9), (10, 19), (20, 29)])
    store = open_store(out)
    store.write(TOPIC, 0, 10, 29, store.read_rows(store.list_files(TOPIC)[1:]), "zstd")  # not committed yet
    resume = ParquetChunkSink(out, TOPIC, POST_ROW_SCHEMA, "post_id").assigned(0, committed=10)
    assert resume.rewind_to is None
    assert _ranges(store.list_files(TOPIC)) == [(0, 9)]


# -- the command: killed at random points, and next to a running consumer ------------------------------------


@pytest.fixture()
def group(kafka: KafkaSettings, unique: str) -> Iterator[tuple[str, Groups]]:
    """A group that committed offset 10,000 on both partitions of the test topic."""
    offsetflow("topics", "create", "--posts-topic", TOPIC, "--sms-topic", "sms.raw")
    name = f"compact-{unique}"
    groups = Groups(kafka)
    groups.set_offsets(name, {(TOPIC, 0): 10_000, (TOPIC, 1): 10_000})
    yield name, groups
    groups.delete(name)


def test_compaction_killed_at_random_points_never_shows_a_reader_a_duplicate_or_a_gap(
    out: Location, group: tuple[str, Groups]
) -> None:
    _small_chunks(out, chunks=100, rows=10)
    before = _exactly_once(out, 2, 1000)
    argv = ["compact", "--out", str(out), "--group", group[0], "--topic", TOPIC, "--target-rows", "20"]
    rng = random.Random(1414)
    counts = []
    for _ in range(5):
        proc = spawn(argv)
        assert proc.stdout is not None
        for line in proc.stdout:  # killed once merging is under way, somewhere in the next few merges
            if line.startswith("[") or line.startswith("compacted"):
                break
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _exactly_once(out, 2, 1000).equals(before)
        counts.append(len(open_store(out).list_files(TOPIC)))
    assert any(100 < n < 200 for n in counts), counts  # at least one kill came mid-way through the work
    final = offsetflow(*argv)
    assert "files -> 100" in final.stderr
    assert len(open_store(out).list_files(TOPIC)) == 100
    assert _exactly_once(out, 2, 1000).equals(before)


def test_dry_run_changes_nothing_and_says_what_would_happen(out: Location, group: tuple[str, Groups]) -> None:
    _small_chunks(out, chunks=6, rows=10, partitions=1)
    result = offsetflow("compact", "--out", str(out), "--group", group[0], "--target-rows", "30", "--dry-run")
    assert "6 files would become 2" in result.stderr
    assert len(open_store(out).list_files(TOPIC)) == 6


def test_a_group_that_never_committed_is_one_line_naming_the_mistake(out: Location, unique: str) -> None:
    _small_chunks(out, chunks=2, rows=10, partitions=1)
    result = offsetflow("compact", "--out", str(out), "--group", f"typo-{unique}", check=False)
    assert result.returncode == 1
    assert f"group typo-{unique} has committed no offsets" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_a_group_only_chunks_below_every_groups_committed_offset_are_merged(
    out: Location, kafka: KafkaSettings, unique: str
) -> None:
    topic = f"test.compact.{unique}"
    offsetflow("topics", "create", "--posts-topic", topic, "--sms-topic", f"test.sms.{unique}", "--partitions", "1")
    _write(out, [(o, o + 9) for o in range(0, 100, 10)], topic=topic)
    argv = ["compact", "--out", str(out), "--topic", topic, "--target-rows", "1000"]
    nobody = offsetflow(*argv, check=False)
    assert nobody.returncode == 1 and f"no consumer group has committed offsets on {topic}" in nobody.stderr
    groups, ahead, behind = Groups(kafka), f"ahead-{unique}", f"behind-{unique}"
    groups.set_offsets(ahead, {(topic, 0): 100})
    groups.set_offsets(behind, {(topic, 0): 50})  # e.g. a second pipeline reading the same topic, lagging
    try:
        result = offsetflow(*argv)
        assert f"lowest committed offset of groups {ahead}, {behind}" in result.stderr
        assert _ranges(list_chunks(out, topic)) == [(0, 49), (50, 59), (60, 69), (70, 79), (80, 89), (90, 99)]
    finally:
        groups.delete(ahead)
        groups.delete(behind)


def test_compaction_next_to_a_running_consumer_keeps_every_post_exactly_once(
    run: PostsRun, out: Location, kafka: KafkaSettings
) -> None:
    run.seed(actors=20, per_actor=20)
    offsetflow(*run.produce_argv(20))
    expected = run.expected_ids(20)
    small = ["--batch-size", "20", "--chunk-rows", "15", "--chunk-max-age", "0.3", "--fetch-workers", "2"]
    consumer = spawn(run.consume_argv(*small, "--out", str(out), "--until-idle", "6"))
    compact = ["compact", "--out", str(out), "--group", run.group, "--topic", run.topic, "--target-rows", "60"]
    runs = 0
    while consumer.poll() is None:
        if Groups(kafka).committed(run.group):
            offsetflow(*compact)
            runs += 1
            seen = read_chunks(out, run.topic)["post_id"]
            assert seen.n_unique() == seen.len()  # readers never see a post twice, at any point
        time.sleep(0.5)
    assert consumer.returncode == 0 and runs > 0
    offsetflow(*compact)
    frame = read_chunks(out, run.topic)
    assert frame.height == len(expected)
    assert set(frame["post_id"].to_list()) == expected
    files = open_store(out).list_files(run.topic)
    assert len(visible(files)) == len(files)  # nothing shadowed left behind
    assert len(files) < len(expected) / 15  # fewer than the consumer's chunks of at most 15 rows: merged
