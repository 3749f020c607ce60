"""Stages run concurrently: while batch N is written, batch N+1 is processed and N+2 polled.

The consumer's thread polls and commits (librdkafka wants both there); processing runs in a small pool, so an
LLM- or database-bound processor of the next batch overlaps the writes of this one; one writer thread writes
every batch to every sink, in the order the batches were polled. One writer keeps each partition's records in
order and keeps sinks single-threaded; the order of sinks per record is the pipeline's (results stored before
sources are marked). A batch is *done* when its outputs are in every sink and its dead letters queued; done
batches come back to the consumer's thread in poll order, which moves the checkpoint and commits.

Memory stays flat: the loop stops polling (pauses its partitions) while ``records_in_flight`` is at its bound.

A rebalance waits for in-flight work within a bound: ``drain(grace)`` lets batches finish for ``grace``
seconds, then *abandons* the rest: every batch the writer has not started writing leaves the stages unwritten
and undone, so none of its records is committed and the partition's next owner redoes it (sinks are
idempotent). A write already started always finishes: a sink is never left between two steps of one batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from offsetflow.stream.records import Failure, Origin, Processed, Record


@dataclass
class Batch:
    """One poll's worth of records on its way through the stages."""

    origins: list[Origin]  # every record of the poll, decodable or not
    records: list[Record]
    failures: list[Failure]  # decode failures; processing and write failures are added
    ends: dict[int, int] = field(default_factory=dict)  # end-of-partition offsets seen by this poll
    started: float = field(default_factory=time.monotonic)
    rows: int = 0
    processed: Future[Processed] | None = None


Process = Callable[[Sequence[Record]], Processed]
Write = Callable[[Processed], tuple[int, list[Failure]]]  # rows written, records refused by a sink


class Stages:
    def __init__(self, process: Process, write: Write, idle: Callable[[], None], parallel: int = 2) -> None:
        self._process = process
        self._write = write
        self._idle = idle  # run by the writer after each batch and when idle (aged chunk flushes)
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="process")
        self._todo: queue.Queue[Batch | None] = queue.Queue()
        self._done: queue.Queue[Batch] = queue.Queue()
        self._lock = threading.Lock()  # held by the writer for each sink operation; see ``exclusive``
        self._in_flight: list[Batch] = []
        self._records = 0
        self._count_lock = threading.Lock()
        self.error: BaseException | None = None
        self._early: list[Batch] = []  # done batches a drain took from the queue before it met the error
        self._abandoning = threading.Event()  # set while ``drain`` drops what is not being written yet
        self.abandoned = 0  # records dropped uncommitted by bounded drains, for the log and the tests
        self._writer = threading.Thread(target=self._write_loop, name="writer", daemon=True)

    def start(self) -> None:
        self._writer.start()

    # -- the consumer's thread ------------------------------------------------------------------------
    def submit(self, batch: Batch) -> None:
        batch.processed = self._pool.submit(self._process, batch.records) if batch.records else None
        with self._count_lock:
            self._in_flight.append(batch)
            self._records += len(batch.origins)
        self._todo.put(batch)

    @property
    def records_in_flight(self) -> int:
        return self._records

    @property
    def idle(self) -> bool:
        return not self._in_flight

    def ends_seen(self, ends: dict[int, int]) -> bool:
        """End-of-partition offsets polled after every batch in flight: they belong with the newest of them
        and apply once it is done. Returns True when they apply now, because nothing is in flight.

        Once a write has failed they never apply: the batch that failed left the stages undone, so "every
        record before this end is done" no longer holds, and moving the checkpoint to the end would commit
        records nobody wrote (a budget stop that commits its partitions' ends loses what it had not paid for)."""
        with self._count_lock:
            if self.error is not None:
                return False
            if self._in_flight:
                self._in_flight[-1].ends.update(ends)
                return False
            return True

    def done(self) -> list[Batch]:
        """Batches finished since the last call, in poll order; once none is left, raises what stopped the
        writer (the batches written whole before it come first)."""
        out = self.finished()
        if not out and self.error is not None:
            raise self.error
        return out

    def finished(self) -> list[Batch]:
        """Batches finished since the last call, in poll order, never raising."""
        out, self._early = self._early, []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout: float) -> list[Batch]:
        """Done batches, waiting up to ``timeout`` for the first (back-pressure: the poller holds back)."""
        try:
            first = self._done.get(timeout=timeout)
        except queue.Empty:
            return self.done()
        return [first, *self.done()]

    def drain(self, grace: float | None = None) -> list[Batch]:
        """Wait until every batch in flight is done (a rebalance, a stop); returns them in poll order.

        With ``grace`` (seconds), batches not done by then are abandoned, except the one being written, which
        finishes: the wait is bounded by ``grace`` plus one batch's write."""
        out = []
        deadline = None if grace is None else time.monotonic() + grace
        try:
            while not self.idle:
                if deadline is not None and time.monotonic() >= deadline and not self._abandoning.is_set():
                    self._abandoning.set()
                    for batch in self._snapshot():
                        if batch.processed is not None:
                            batch.processed.cancel()  # not started yet: never paid for
                with suppress(queue.Empty):
                    out.append(self._done.get(timeout=0.05 if deadline is not None else 0.2))
                if self.error is not None:
                    self._early = out + self._early  # written whole before the error: ``finished`` returns them
                    raise self.error
        finally:
            self._abandoning.clear()
        return out + self.done()

    def _snapshot(self) -> list[Batch]:
        with self._count_lock:
            return list(self._in_flight)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Sinks to ourselves: the writer is between two operations (used on assignment and revocation)."""
        with self._lock:
            yield

    def settle(self) -> None:
        """Let processing already running finish, and start no more: its side effects (LLM answers stored as
        they arrive, paid for) complete while the clients it uses are still open."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._todo.put(None)
        if self._writer.is_alive():
            self._writer.join(timeout=30)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the writer thread ----------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            try:
                batch = self._todo.get(timeout=0.5)
            except queue.Empty:
                try:
                    with self._lock:
                        self._idle()
                except BaseException as exc:
                    self.error = exc
                    return
                continue
            if batch is None:
                return
            try:
                processed = self._processed(batch)
                if processed is None:  # abandoned by a bounded drain before its write began
                    self.abandoned += len(batch.origins)
                    self._release(batch, done=False)
                    continue
                with self._lock:
                    batch.rows, refused = self._write(processed)
                    self._idle()  # a writer that is never idle still writes aged chunks, so commits move on
                batch.failures += processed.failures + refused
            except BaseException as exc:
                self.error = exc  # the batch is never reported done: nothing of it is committed
                self._release(batch, done=False)
                return
            self._release(batch, done=True)

    def _processed(self, batch: Batch) -> Processed | None:
        """The batch's processing result once ready, or None if a drain abandons it while it waits."""
        future = batch.processed
        while not self._abandoning.is_set():
            if future is None:
                return Processed()
            try:
                return future.result(timeout=0.1)
            except TimeoutError:
                continue
            except CancelledError:  # cancelled by the drain that is abandoning it
                return None
        return None

    def _release(self, batch: Batch, done: bool) -> None:
        """Out of flight and into the done queue in one step: ``last`` never returns a batch the consumer's
        thread may already have collected, and once ``idle`` every done batch is in the queue."""
        with self._count_lock:
            self._in_flight.remove(batch)
            self._records -= len(batch.origins)
            if done:
                self._done.put(batch)
