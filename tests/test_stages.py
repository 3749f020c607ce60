"""The stages on their own, without a broker: batches come back done in poll order, and a rebalance's drain
is bounded — what is still being processed after the grace period is dropped undone, never half written."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from offsetflow.stream.records import Failure, Origin, Output, Processed, Record
from offsetflow.stream.stages import Batch, Stages


def _batch(partition: int, first: int, count: int) -> Batch:
    origins = [Origin("t", partition, first + i, None, None, None) for i in range(count)]
    return Batch(origins, [Record(o, {"n": o.offset}) for o in origins], [])


class Slow:
    """A processor that holds the batches starting at offsets in ``held`` until ``release`` is set."""

    def __init__(self, held: set[int]) -> None:
        self.held = held
        self.release = threading.Event()

    def __call__(self, records: Sequence[Record]) -> Processed:
        if records[0].origin.offset in self.held:
            self.release.wait(timeout=30)
        return Processed(outputs=[Output(r.origin, str(r.origin.offset), r.value) for r in records])


class Written:
    def __init__(self) -> None:
        self.offsets: list[int] = []

    def __call__(self, processed: Processed) -> tuple[int, list[Failure]]:
        self.offsets += [out.origin.offset for out in processed.outputs]
        return len(processed.outputs), []


def test_done_batches_come_back_in_poll_order_even_when_a_later_one_is_processed_first() -> None:
    slow, written = Slow(held={0}), Written()
    stages = Stages(slow, written, lambda: None, parallel=2)
    stages.start()
    stages.submit(_batch(0, 0, 3))
    stages.submit(_batch(0, 3, 3))
    slow.release.set()
    done = stages.drain()
    stages.close()
    assert [b.origins[0].offset for b in done] == [0, 3]
    assert written.offsets == [0, 1, 2, 3, 4, 5]


def test_a_bounded_drain_drops_batches_still_processing_and_keeps_the_written_prefix() -> None:
    slow, written = Slow(held={3}), Written()
    stages = Stages(slow, written, lambda: None, parallel=1)
    stages.start()
    for first in (0, 3, 6):
        stages.submit(_batch(0, first, 3))
    done = stages.drain(grace=0.3)
    slow.release.set()
    stages.close()
    # The first batch was written; the second was still being processed after the grace period and the
    # third waited behind it: both are dropped undone, so nothing past offset 2 can be committed.
    assert [b.origins[0].offset for b in done] == [0]
    assert written.offsets == [0, 1, 2]
    assert stages.abandoned == 6
    assert stages.idle and stages.records_in_flight == 0


def test_after_a_bounded_drain_new_batches_run_normally() -> None:
    slow, written = Slow(held={3}), Written()
    stages = Stages(slow, written, lambda: None, parallel=2)
    stages.start()
    stages.submit(_batch(0, 3, 3))
    assert stages.drain(grace=0.1) == []
    slow.release.set()
    stages.submit(_batch(1, 10, 2))
    done = stages.drain()
    stages.close()
    assert [b.origins[0].offset for b in done] == [10]
    assert written.offsets == [10, 11]


def test_batches_written_before_an_error_come_back_before_the_error() -> None:
    """A processor that stops the consumer on purpose (a budget) must not cost the batches already written:
    the loop commits them, then stops."""

    def process(records: Sequence[Record]) -> Processed:
        if records[0].origin.offset == 6:
            raise RuntimeError("budget reached")
        return Processed(outputs=[Output(r.origin, str(r.origin.offset), r.value) for r in records])

    written = Written()
    stages = Stages(process, written, lambda: None, parallel=1)
    stages.start()
    for first in (0, 3, 6, 9):
        stages.submit(_batch(0, first, 3))
    while stages.error is None:
        time.sleep(0.01)
    assert [b.origins[0].offset for b in stages.done()] == [0, 3]
    with pytest.raises(RuntimeError, match="budget"):
        stages.done()
    stages.close()
    assert written.offsets == [0, 1, 2, 3, 4, 5]


def test_end_of_partition_offsets_wait_for_the_batches_before_them_and_never_apply_after_a_failed_write() -> None:
    """An end offset says "every record before me is done" only if the batches polled before it are. After a
    write failed, that batch left undone: an end seen then must not move the checkpoint, or a budget stop
    would commit records it never paid for (seen in CI: the restart found nothing left to do)."""
    slow = Slow(held={0})
    stages = Stages(slow, Written(), lambda: None, parallel=1)
    stages.start()
    assert stages.ends_seen({0: 0})  # nothing in flight: applies now
    stages.submit(_batch(0, 0, 3))
    assert not stages.ends_seen({0: 3})  # rides with the batch in flight
    slow.release.set()
    [done] = stages.drain()
    assert done.ends == {0: 3}
    stages.close()

    def fail(records: Sequence[Record]) -> Processed:
        raise RuntimeError("budget reached")

    failing = Stages(fail, Written(), lambda: None, parallel=1)
    failing.start()
    failing.submit(_batch(0, 0, 3))
    while failing.error is None:
        time.sleep(0.01)
    assert failing.idle  # the failed batch is out of flight ...
    assert not failing.ends_seen({0: 3})  # ... yet its end does not apply
    failing.close()
