"""The rules that keep one bad record from costing others, and a failed write from turning into a commit.
Pure logic: no broker, no database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.stream.dead_letters import MAX_LETTER_BYTES, fit_original, fit_reason
from offsetflow.stream.isolate import caused_by_data, isolate
from offsetflow.stream.records import Origin, Output
from offsetflow.stream.retry import InfrastructureError


def _fails_on(bad: set[int]) -> Any:
    calls: list[Sequence[int]] = []

    def step(items: Sequence[int]) -> list[int]:
        calls.append(items)
        if bad & set(items):
            raise ValueError(f"bad item among {list(items)}")
        return list(items)

    return step, calls


def test_a_batch_without_bad_items_runs_once() -> None:
    step, calls = _fails_on(set())
    done = isolate(step, list(range(8)))
    assert done.results == [list(range(8))] and not done.failed and len(calls) == 1


def test_bad_items_fail_alone_and_the_rest_keeps_its_order() -> None:
    step, _ = _fails_on({3, 6})
    done = isolate(step, list(range(10)))
    assert [item for item, _ in done.failed] == [3, 6]
    assert [item for part in done.results for item in part] == [0, 1, 2, 4, 5, 7, 8, 9]


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("db down"),
        OperationFailure("not authorized", code=13),
        OSError(28, "No space left on device"),
        InfrastructureError("the API key was refused"),
    ],
    ids=["transient", "refused login", "disk full", "infrastructure"],
)
def test_errors_of_the_infrastructure_are_never_blamed_on_records(error: Exception) -> None:
    assert not caused_by_data(error)

    def step(items: Sequence[int]) -> None:
        raise error

    with pytest.raises(type(error)):
        isolate(step, [1, 2, 3])


def _origin(offset: int, key: bytes | None = b"k", value: bytes | None = b"v") -> Origin:
    return Origin("posts.ids", 2, offset, key, value, None)


def test_a_dead_letter_keeps_the_original_when_it_fits() -> None:
    assert fit_original(_origin(5)) == (b"k", b"v", "")


def test_a_dead_letter_too_big_for_kafka_says_where_the_record_is_instead() -> None:
    key, value, note = fit_original(_origin(17, key=b"x" * 1_000_000, value=b"y" * 1_040_000))
    assert key is None and value == b""
    assert "posts.ids[2]@17" in note and "1,040,000 bytes" in note
    assert len(fit_reason("r" * 1_000_000)) < 2_100
    _, value, _ = fit_original(_origin(1, value=b"y" * (MAX_LETTER_BYTES - 100)))
    assert len(value) == MAX_LETTER_BYTES - 100


def _post(offset: int, **change: Any) -> Output:
    row = {
        "post_id": f"p{offset}",
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
        "source_partition": 0,
        "source_offset": offset,
        **change,
    }
    return Output(Origin("posts.ids", 0, offset, None, None, None), row["post_id"], row)


def test_a_row_parquet_cannot_type_is_refused_by_write_and_leaves_nothing_buffered(tmp_path: Path) -> None:
    sink = ParquetChunkSink(tmp_path, "posts.ids", POST_ROW_SCHEMA, "post_id", chunk_rows=100)
    sink.write([_post(0), _post(1)])
    with pytest.raises(Exception, match=r"could not append|cannot|conversion"):
        sink.write([_post(2), _post(3, lang=["en", "de"])])
    assert sink.pending(0) == 0
    sink.write([_post(2)])  # the good row of the refused batch, written again alone
    sink.flush()
    assert sink.pending(0) is None and sink.chunks_written == 1


def test_a_failed_chunk_write_keeps_its_rows_pending_so_nothing_is_committed_past_them(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the chunk folder should be")
    sink = ParquetChunkSink(blocker, "posts.ids", POST_ROW_SCHEMA, "post_id")
    sink.write([_post(7), _post(8)])
    with pytest.raises(OSError):
        sink.flush()
    assert sink.pending(0) == 7  # still held: the loop's commit target stays at 7
    blocker.unlink()
    sink.flush()
    assert sink.pending(0) is None and sink.chunks_written == 1
