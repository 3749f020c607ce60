"""The commit rule, as the checkpoint applies it: pure, no broker."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from offsetflow.stream.checkpoint import Checkpoint
from offsetflow.stream.commits import CommitInfo


def _holding(**pending: int | None) -> Callable[[int], Iterable[int | None]]:
    """Sinks holding rows from these offsets, per partition (``p0=5``: partition 0 holds from offset 5)."""
    return lambda p: [pending.get(f"p{p}")]


def _targets(cp: Checkpoint, **pending: int | None) -> dict[int, int]:
    return {t.partition: t.offset for t in cp.targets(_holding(**pending))}


def test_the_target_is_the_next_offset_when_no_sink_holds_anything() -> None:
    cp = Checkpoint()
    cp.assigned(0, 10)
    for offset in (10, 11, 12):
        cp.processed(0, offset)
    assert _targets(cp) == {0: 13}


def test_a_sink_holding_rows_holds_the_commit_at_its_first_buffered_offset() -> None:
    cp = Checkpoint()
    cp.assigned(0, 0)
    cp.processed(0, 99)
    assert _targets(cp, p0=40) == {0: 40}
    assert _targets(cp, p0=0) == {}  # nothing durable past the last commit: nothing to commit


def test_nothing_is_committed_for_a_partition_without_processed_records() -> None:
    cp = Checkpoint()
    cp.assigned(3, 7)
    assert _targets(cp) == {}


def test_an_end_of_partition_moves_past_transaction_markers() -> None:
    cp = Checkpoint()
    cp.assigned(1, 0)
    cp.processed(1, 4)
    assert cp.reached_end(1, 6)  # offset 5 is a commit marker: the end is 6
    assert _targets(cp) == {1: 6}
    assert not cp.reached_end(1, 6)


def test_an_end_of_partition_on_a_caught_up_partition_moves_from_the_committed_offset() -> None:
    cp = Checkpoint()
    cp.assigned(2, 50)
    assert cp.reached_end(2, 51)
    assert _targets(cp) == {2: 51}


def test_offsets_never_go_backwards() -> None:
    cp = Checkpoint()
    cp.assigned(0, 0)
    cp.processed(0, 9)
    [target] = cp.targets(_holding())
    cp.committed(0, target.offset)
    cp.processed(0, 3)  # a record seen again (a redelivery) does not pull the next offset back
    assert _targets(cp) == {}
    assert _targets(cp, p0=5) == {}  # nor does a sink that buffered it again


def test_assignment_rewinds_to_where_a_sink_asked_to_start() -> None:
    cp = Checkpoint()
    cp.assigned(0, 0)
    cp.processed(0, 29)
    cp.committed(0, 30)
    cp.assigned(0, 20)  # reassigned; the chunk straddling the commit is redone from 20
    assert _targets(cp) == {}
    cp.processed(0, 20)
    assert _targets(cp) == {0: 21}


def test_a_revoked_partition_is_forgotten_and_never_committed_by_this_member() -> None:
    cp = Checkpoint()
    cp.assigned(4, 0)
    cp.processed(4, 5)
    cp.revoked(4)
    assert _targets(cp) == {}
    assert cp.committed_offset(4) is None


def test_targets_can_be_limited_to_some_partitions_and_carry_commit_metadata() -> None:
    cp = Checkpoint()
    for p in (0, 1):
        cp.assigned(p, 0)
        cp.processed(p, 1)
    [target] = cp.targets(_holding(), partitions=[1], now_ms=1234)
    assert target.partition == 1 and target.offset == 2
    info = CommitInfo.decode(target.metadata)
    assert info is not None and info.at_ms == 1234


def test_a_late_answer_to_an_older_commit_never_moves_the_committed_offset_back() -> None:
    cp = Checkpoint()
    cp.assigned(0, 0)
    cp.processed(0, 49)
    cp.committed(0, 50)  # a synchronous commit, recorded at once
    cp.committed(0, 20)  # the answer to an asynchronous commit sent before it
    assert cp.committed_offset(0) == 50
    assert _targets(cp) == {}
