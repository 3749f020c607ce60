"""The one consumer loop: poll -> decode -> process -> write -> commit, for every pipeline.

Offsets are the checkpoint. A partition's offset is committed only up to records whose outputs are durable
in every sink (and whose dead letters are acknowledged), so a consumer killed at any instant resumes at a
point where nothing is lost; anything redone is rewritten idempotently by the sinks.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from offsetflow import codec, kafka_logs
from offsetflow.config import KafkaSettings
from offsetflow.stream.checkpoint import Checkpoint
from offsetflow.stream.contracts import Processor, Progress, Sink
from offsetflow.stream.dead_letters import DeadLetterWriter
from offsetflow.stream.isolate import Isolated, describe, isolate
from offsetflow.stream.metrics import LoopMetrics
from offsetflow.stream.records import Failure, Output, Processed, Record, origin_of
from offsetflow.stream.retry import StopCleanly, Stopped, retry
from offsetflow.stream.stages import Batch, Stages

log = logging.getLogger("offsetflow")

# Commit failures that mean the partition now belongs to someone else: its new owner redoes the work.
_LOST_OWNERSHIP = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
}

_REPORT_INTERVAL = 0.5  # seconds between two lag reads (a position() and a watermark per partition: not free)
_HOLD_BEFORE_PAUSE = 2.0  # seconds of back-pressure without polling before the partitions are paused

CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 10_000,  # a crashed consumer's partitions move on after 10 s, not 45 s
    "max.poll.interval.ms": 600_000,  # room to wait out a database outage without leaving the group
    "enable.partition.eof": True,  # tells where a caught-up partition ends, transaction markers included
}


@dataclass(frozen=True)
class LoopSettings:
    topic: str
    group: str
    dlq_topic: str
    batch_size: int = 500
    poll_timeout: float = 1.0
    until_idle: float | None = None
    # Static membership (``group.instance.id``): a restarted member with the same id gets its partitions back
    # at once instead of after its predecessor's session timeout. Must be unique among live members.
    group_instance_id: str | None = None
    # Records polled but not yet written: the bound that keeps memory flat. At it the loop pauses its
    # partitions (it stays in the group) until half of it is written. Default: four batches, at least 2,000
    # records (a pause drops librdkafka's prefetched records, so pausing often costs a fetch round trip each).
    max_in_flight: int | None = None
    # Batches processed at once (fetching, LLM calls), overlapping the writes of the batch before.
    process_parallel: int = 2
    # Seconds between two commits while running (asynchronous; what a crash makes the next run redo is at most
    # this much, rewritten idempotently). Revocation and exit always commit, synchronously.
    commit_interval: float = 1.0
    # Seconds a rebalance waits for batches still being processed (an LLM call, a fetch) before dropping them
    # uncommitted for the partitions' next owner to redo; the eager protocol holds the whole group meanwhile.
    # A write already started always finishes.
    revoke_grace: float = 10.0


@dataclass(frozen=True)
class PartitionStart:
    """What a consumer resumes from, as shown to the user on assignment."""

    partition: int
    committed: int | None
    start: int
    end: int
    chunks: int
    removed: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.start)

    def describe(self) -> str:
        committed = f"committed offset {self.committed}" if self.committed is not None else "no commit yet"
        text = f"partition {self.partition}: {committed}, lag {self.lag}, {self.chunks} chunk files kept"
        if self.removed:
            text += f", {self.removed} uncommitted leftovers removed"
        if self.committed is not None and self.start != self.committed:
            text += f", rewound to {self.start}"
        return text


@dataclass
class RunSummary:
    records: int = 0
    rows: int = 0
    dead_letters: int = 0
    elapsed: float = 0.0
    starts: list[PartitionStart] = field(default_factory=list)


class ConsumerLoop:
    def __init__(
        self,
        kafka: KafkaSettings,
        settings: LoopSettings,
        schema: codec.Schema,
        processor: Processor,
        sinks: Sequence[Sink],
        progress: Progress,
        stop: threading.Event | None = None,
        metrics: LoopMetrics | None = None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.schema = schema
        self.processor = processor
        self.sinks = list(sinks)
        self.progress = progress
        self.stop = stop or threading.Event()
        self.summary = RunSummary()
        self.metrics = metrics or LoopMetrics(settings.group, settings.topic)
        self.checkpoint = Checkpoint()
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterWriter | None = None
        self._rebalanced_at = time.monotonic()
        self._owns_all_partitions: bool | None = False
        self._failed = False
        self._paused = False
        self._full_since: float | None = None
        self._committed_at = 0.0
        self._commit_sent: dict[int, int] = {}  # partition -> offset of the last asynchronous commit sent
        self._commit_started: dict[tuple[tuple[int, int], ...], float] = {}  # commits awaiting their answer
        self._lag = 0
        self._reported_at = 0.0
        self._caught_up_checked = 0.0
        self._stages = Stages(self._process, self._write_all, self._flush_aged, settings.process_parallel)
        self._config = kafka.client_config(
            CONSUMER_DEFAULTS,
            group_id=settings.group,
            enable_auto_commit=False,
            enable_auto_offset_store=False,
            isolation_level="read_committed",
        )
        self._config["on_commit"] = self._on_commit  # a callback, not a librdkafka property: set as is
        if settings.group_instance_id:
            self._config["group.instance.id"] = settings.group_instance_id
        self._session_timeout = float(self._config.get("session.timeout.ms", 45_000)) / 1000

    # -- the loop -------------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        s = self.settings
        consumer = Consumer(self._config)
        producer = Producer(self.kafka.client_config(enable_idempotence=True, linger_ms=5))
        self._consumer, self._dlq = consumer, DeadLetterWriter(producer, s.dlq_topic, s.group)
        self._stages.start()
        consumer.subscribe([s.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        began = time.monotonic()
        restore = _stop_on_signals(self.stop)
        last_record = time.monotonic()
        bound = s.max_in_flight or max(4 * s.batch_size, 2_000)
        try:
            while not self.stop.is_set():
                if self._back_pressure(consumer, bound):
                    continue
                messages, ends = self._poll(consumer)
                if messages:
                    self._submit(messages, ends)
                    last_record = time.monotonic()
                elif ends:
                    self._ends_after_in_flight(ends)
                self._collect(self._stages.done())
                if time.monotonic() - self._committed_at >= s.commit_interval:
                    self._commit()
                if time.monotonic() - self._reported_at >= _REPORT_INTERVAL:
                    self._report()
                if s.until_idle is not None and self._stages.idle and self._idle_long_enough(last_record, s.until_idle):
                    self.progress.say(f"no new records for {s.until_idle:g}s: finishing")
                    break
            self._finish()
        except Stopped as exc:
            self._failed = True
            log.warning("stopped while waiting for %s; uncommitted records will be processed on restart", exc)
        except StopCleanly:
            self._stop_cleanly()
            raise
        except BaseException:
            # Leaving on an error: the revoke that close() triggers must not flush or commit anything, since
            # what the sinks hold may be exactly what failed. The next owner resumes at the last commit.
            self._failed = True
            raise
        finally:
            restore()
            consumer.close()  # leaves the group; a clean revoke has nothing left to flush
            self._stages.close()
            producer.flush(10)
            for sink in self.sinks:
                sink.close()
        self.summary.dead_letters = self._dlq.sent
        self.summary.elapsed = time.monotonic() - began
        return self.summary

    def _back_pressure(self, consumer: Consumer, bound: int) -> bool:
        """At ``bound`` records in flight, stop polling: first by simply not polling for a moment (the writer
        usually catches up within a second, and librdkafka's prefetched records stay where they are), then, if
        it does not, by pausing the partitions and polling on, so the member stays in its group, serves
        rebalances and never reaches max.poll.interval.ms; resumed at half the bound. (A pause drops the
        prefetched records, so pausing for every short hold-up would cost a fetch round trip each time.)
        Returns whether to wait instead of polling now."""
        in_flight = self._stages.records_in_flight
        if self._paused:
            if in_flight <= bound // 2:
                consumer.resume(consumer.assignment())
                self._paused = False
            return False
        if in_flight < bound:
            self._full_since = None
            return False
        now = time.monotonic()
        self._full_since = self._full_since or now
        if now - self._full_since < _HOLD_BEFORE_PAUSE:
            self._collect(self._stages.wait(0.05))
            return True
        consumer.pause(consumer.assignment())
        self._paused = True
        return False

    def _idle_long_enough(self, last_record: float, until_idle: float) -> bool:
        """Idle means: no record for ``until_idle`` since the last record *and* the last rebalance. While other
        members hold partitions, also wait out a session timeout, so partitions of a crashed member (which the
        group hands over only then) are not left behind."""
        now = time.monotonic()
        if now - max(last_record, self._rebalanced_at) < until_idle:
            return False
        if not (self._owns_all() or now - self._rebalanced_at >= self._session_timeout + 1):
            return False
        if now - self._caught_up_checked < 2:
            return False
        self._caught_up_checked = now
        return self._group_caught_up()

    def _owns_all(self) -> bool:
        """Whether the current assignment is every partition of the topic (asked once per assignment)."""
        assert self._consumer is not None
        if self._owns_all_partitions is None:
            topic = self.settings.topic
            try:
                total = len(self._consumer.list_topics(topic, timeout=10).topics[topic].partitions)
            except KafkaException as exc:
                log.debug("cannot tell how many partitions %s has: %s", topic, exc)
                return False
            self._owns_all_partitions = len(self._consumer.assignment()) >= total
        return self._owns_all_partitions

    def _group_caught_up(self) -> bool:
        """Whether every partition of the topic is done: processed to its end by this member, or committed to
        its end by whoever owned it. Idle alone is not done (a member that was never assigned anything, an
        unreachable broker, or partitions still held by a dead member's session all look idle)."""
        assert self._consumer is not None
        consumer, topic = self._consumer, self.settings.topic
        try:
            meta = consumer.list_topics(topic, timeout=5).topics[topic]
            if meta.error is not None or not meta.partitions:
                return False
            partitions = [TopicPartition(topic, p) for p in meta.partitions]
            for tp in consumer.committed(partitions, timeout=5):
                low, high = consumer.get_watermark_offsets(tp, timeout=5)
                # Our own partitions count as done once processed: what the sinks still buffer is written and
                # committed on the way out. Anyone else's must be committed.
                mine = self.checkpoint.processed_offset(tp.partition)
                at = max(tp.offset, mine) if mine is not None else tp.offset
                done = at >= high if at >= 0 else high == low
                if not done:
                    return False
        except KafkaException as exc:
            log.debug("cannot tell whether the group is caught up: %s", exc)
            return False
        return True

    def _poll(self, consumer: Consumer) -> tuple[list[Message], dict[int, int]]:
        """Records, and the end offsets of partitions this batch read to the end."""
        # While paused nothing can arrive: come back soon to resume once the writer has caught up.
        timeout = 0.05 if self._paused else self.settings.poll_timeout
        messages = consumer.consume(self.settings.batch_size, timeout=timeout)
        good: list[Message] = []
        ends: dict[int, int] = {}
        for msg in messages:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                partition, offset = msg.partition(), msg.offset()
                if partition is not None and offset is not None:
                    ends[partition] = offset
            elif err.fatal():
                raise KafkaException(err)
            else:  # broker down, partition moving ...: librdkafka retries on its own; said once per 30 s
                kafka_logs.HUB.report("other", self.kafka.bootstrap_servers, err.str(), key=err.name())
        if self.stop.is_set():
            # A signal can cut a fetch short and drop records before an end-of-partition event: only trust
            # ends seen in an uninterrupted batch.
            ends = {}
        return good, ends

    def _submit(self, messages: Sequence[Message], ends: dict[int, int]) -> None:
        """Decode a poll's records and hand them to the stages; undecodable ones fail here, alone."""
        records: list[Record] = []
        failures: list[Failure] = []
        origins = [origin_of(msg) for msg in messages]
        decode = self.schema.decode
        for origin in origins:
            try:
                records.append(Record(origin, decode(origin.value)))
            except codec.DecodeError as exc:
                failures.append(Failure(origin, "decode", str(exc)))
        self._stages.submit(Batch(origins, records, failures, dict(ends)))

    def _ends_after_in_flight(self, ends: dict[int, int]) -> None:
        """End-of-partition offsets follow every record polled before them: they apply once those are done."""
        if self._stages.ends_seen(ends):
            self._reached_end(ends)

    def _collect(self, batches: Sequence[Batch]) -> None:
        """Done batches, in poll order: every record is in every sink or has a dead letter queued. The
        checkpoint moves past them; ``_commit`` decides what the sinks' buffers allow."""
        assert self._dlq is not None
        for batch in batches:
            self._dlq.send(batch.failures)
            last: dict[int, int] = {}
            for origin in batch.origins:
                last[origin.partition] = origin.offset  # a partition's records come in offset order
            for partition, offset in last.items():
                self.checkpoint.processed(partition, offset)
            for p, end in batch.ends.items():
                self.checkpoint.reached_end(p, end)
            self.metrics.batch_time.observe(time.monotonic() - batch.started)
            self.metrics.records_seen.inc(len(batch.origins))
            self.metrics.rows_written.inc(batch.rows)
            self.metrics.dead_lettered.inc(len(batch.failures))
            self.summary.records += len(batch.origins)
            self.summary.rows += batch.rows
            self.progress.update(len(batch.origins), batch.rows, len(batch.failures), self._lag)

    def _write_all(self, processed: Processed) -> tuple[int, list[Failure]]:
        """The writer's step: every sink in order; a record refused by one sink skips the sinks after it."""
        outputs: Sequence[Output] = processed.outputs
        refused_all: list[Failure] = []
        for sink in self.sinks:
            outputs, refused = self._write(sink, outputs)
            refused_all += refused
        return len(outputs), refused_all

    def _flush_aged(self) -> None:
        """The writer, when idle: chunks that waited long enough are written (every sink gets its turn)."""
        for sink in self.sinks:
            retry(partial(sink.flush, aged_only=True), f"flushing {sink.name}", self.stop)

    def _process(self, records: Sequence[Record]) -> Processed:
        def step(part: Sequence[Record]) -> Processed:
            return retry(lambda: self.processor.process(part), "processing", self.stop)

        done = isolate(step, records) if records else Isolated[Record, Processed]()
        out = Processed()
        for part in done.results:
            out.outputs += part.outputs
            out.failures += part.failures
        out.failures += [Failure(rec.origin, "transform", describe(exc)) for rec, exc in done.failed]
        return out

    def _write(self, sink: Sink, outputs: Sequence[Output]) -> tuple[list[Output], list[Failure]]:
        """Write ``outputs`` to one sink; the ones it refuses alone are returned as failures."""

        def step(part: Sequence[Output]) -> Sequence[Output]:
            retry(_bind(sink.write, part), f"writing to {sink.name}", self.stop)
            return part

        done = isolate(step, outputs)
        written = [out for part in done.results for out in part]
        refused = [Failure(out.origin, "write", f"{sink.name} refused it: {describe(exc)}") for out, exc in done.failed]
        return written, refused

    def _reached_end(self, ends: dict[int, int]) -> None:
        """A finished group shows lag 0: see ``Checkpoint`` step 3."""
        moved = [self.checkpoint.reached_end(p, end) for p, end in ends.items()]
        if any(moved):
            self._commit()

    def _finish(self) -> None:
        """Drain what is in flight, write every buffer, commit: SIGTERM and --until-idle end here."""
        self._collect(self._stages.drain())
        with self._stages.exclusive():
            for sink in self.sinks:
                retry(sink.flush, f"flushing {sink.name}", self.stop)
        self._commit(wait=True)

    def _stop_cleanly(self) -> None:
        """A processor stopped the consumer on purpose (``StopCleanly``): the batches written whole before it
        are flushed and committed; the batch that raised, and any after it, are left for the next run."""
        self._failed = True  # the revoke that closing triggers flushes and commits nothing more
        self.stop.set()  # whatever waits on it (a batch job being polled) stops waiting
        self._stages.settle()  # calls in flight for other batches finish and store what they paid for
        self._collect(self._stages.finished())
        with self._stages.exclusive():  # the writer has stopped: the sinks hold only those batches
            for sink in self.sinks:
                retry(sink.flush, f"flushing {sink.name}", self.stop)
        self._commit(wait=True)

    # -- commits --------------------------------------------------------------------------------------
    def _commit(self, partitions: Sequence[int] | None = None, wait: bool = False) -> None:
        """Commit what the checkpoint allows, once the dead letters it covers are acknowledged.

        While running, commits are asynchronous: the broker's answer comes back through ``_on_commit`` on a
        later poll, and a commit that fails is simply covered by the next one (the targets only ever move
        forward). On revocation and at exit (``wait``) the commit is synchronous: the partitions' next owner,
        or the next run, must find it."""
        assert self._consumer is not None and self._dlq is not None
        consumer = self._consumer
        held = lambda p: [sink.pending(p) for sink in self.sinks]  # noqa: E731
        targets = [
            t
            for t in self.checkpoint.targets(held, partitions, now_ms=int(time.time() * 1000))
            if wait or t.offset > self._commit_sent.get(t.partition, -1)
        ]
        self._committed_at = time.monotonic()
        if not targets:
            return
        offsets = [TopicPartition(self.settings.topic, t.partition, t.offset, metadata=t.metadata) for t in targets]
        started = time.monotonic()
        retry(self._dlq.flush, "acknowledging dead letters", self.stop)
        if not wait:
            for tp in offsets:
                self._commit_sent[tp.partition] = tp.offset
            self._commit_started[_commit_key(offsets)] = started
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:  # not even sent (e.g. no coordinator yet): the next commit covers it
                log.debug("asynchronous commit not sent: %s", exc)
                self._commit_sent.clear()
            return
        try:
            retry(lambda: consumer.commit(offsets=offsets, asynchronous=False), "committing offsets", self.stop)
        except KafkaException as exc:
            if exc.args[0].code() not in _LOST_OWNERSHIP:
                raise
            log.warning("commit refused (%s): partitions moved to another consumer, which redoes them", exc)
            return
        self._accepted(offsets, time.monotonic() - started)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The broker's answer to an asynchronous commit (served by a poll, on the consumer's thread)."""
        started = self._commit_started.pop(_commit_key(partitions), None)
        if started is None:
            return  # a synchronous commit: recorded where it was made
        accepted = [tp for tp in partitions if tp.error is None] if err is None else []
        if len(accepted) < len(partitions):
            # Not committed: forget what was sent, so the next commit sends these partitions again.
            for tp in partitions:
                self._commit_sent.pop(tp.partition, None)
            log.debug("asynchronous commit failed (the next commit covers it): %s", err or partitions)
        self._accepted(accepted, time.monotonic() - started)

    def _accepted(self, offsets: Sequence[TopicPartition], took: float) -> None:
        if offsets:
            self.metrics.commit_time.observe(took)
        for tp in offsets:
            self.checkpoint.committed(tp.partition, tp.offset)
            self.metrics.set_committed(tp.partition, tp.offset)

    # -- rebalances -----------------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = retry(lambda: consumer.committed(partitions, timeout=30), "reading committed offsets", self.stop)
        for tp in committed:
            low, high = retry(
                _bind(lambda t: consumer.get_watermark_offsets(t, timeout=10), tp), "reading offsets", self.stop
            )
            start = tp.offset if tp.offset >= 0 else low
            chunks = removed = 0
            with self._stages.exclusive():
                for sink in self.sinks:
                    resume = sink.assigned(tp.partition, start)
                    chunks, removed = chunks + resume.existing, removed + resume.removed
                    if resume.rewind_to is not None:
                        start = min(start, resume.rewind_to)
            report = PartitionStart(tp.partition, tp.offset if tp.offset >= 0 else None, start, high, chunks, removed)
            self.summary.starts.append(report)
            self.progress.say(report.describe())
            tp.offset = start
            self.checkpoint.assigned(tp.partition, start)
            self.metrics.set_committed(tp.partition, start)
        consumer.assign(committed)
        # librdkafka keeps a partition's pause across rebalances: one paused for back-pressure before it was
        # revoked would never be fetched again. New assignments start resumed.
        consumer.resume(committed)
        self._paused = False
        self._rebalanced_at = time.monotonic()
        # Whether this member owns every partition is asked later, from the loop: ``list_topics`` inside a
        # rebalance callback nests confluent-kafka's per-call state, and the next callback of the same poll
        # then aborts the process (``CallState_get: Assertion `cs != NULL' failed``).
        self._owns_all_partitions = None

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        ours = [tp.partition for tp in partitions]
        if self._failed:
            self._forget(ours)
            return
        try:
            # In flight work is finished first (the eager protocol revokes every partition at once), then the
            # revoked partitions' buffers are written and committed; the next owner starts past them.
            dropped = self._stages.abandoned
            self._collect(self._stages.drain(self.settings.revoke_grace))
            if dropped := self._stages.abandoned - dropped:
                self.progress.say(
                    f"rebalance: {dropped:,} records still being processed after {self.settings.revoke_grace:g}s "
                    "were left uncommitted for their partitions' next owner"
                )
            with self._stages.exclusive():
                for sink in self.sinks:
                    retry(_bind(sink.flush, ours), f"flushing {sink.name}", self.stop)
            self._commit(ours, wait=True)
        except Exception as exc:  # the next owner starts from the last commit: nothing is lost
            self._failed = isinstance(exc, Stopped) or self._stages.error is not None
            log.warning("could not commit revoked partitions %s: %s", ours, exc)
        self._forget(ours)
        self._rebalanced_at = time.monotonic()
        self._owns_all_partitions = False

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("partitions %s lost (session expired); their uncommitted work will be redone", partitions)
        try:
            self._stages.drain(grace=0)  # what is being written finishes; the rest is the new owner's to redo
        except Exception as exc:
            log.warning("in-flight work of lost partitions failed: %s", exc)
        self._forget([tp.partition for tp in partitions])

    def _forget(self, partitions: Sequence[int]) -> None:
        with self._stages.exclusive():
            for p in partitions:
                self._commit_sent.pop(p, None)
                for sink in self.sinks:
                    sink.revoked(p)
                self.checkpoint.revoked(p)
                self.metrics.forget(p)

    def _report(self) -> None:
        """Lag of the partitions this consumer owns (from its position), -1 while it owns none."""
        assert self._consumer is not None
        self._reported_at = time.monotonic()
        assignment = self._consumer.assignment()
        lag = 0 if assignment else -1
        try:
            for tp in self._consumer.position(assignment):
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                committed = self.checkpoint.committed_offset(tp.partition)
                position = tp.offset if tp.offset >= 0 else (committed if committed is not None else -1)
                if high >= 0 and position >= 0:
                    lag += max(0, high - position)
                    self.metrics.set_lag(tp.partition, max(0, high - position))
        except KafkaException:
            pass
        self._lag = lag
        self.progress.update(0, 0, 0, lag)


def _commit_key(offsets: Sequence[TopicPartition]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((tp.partition, tp.offset) for tp in offsets))


def _bind(fn: Callable[[Any], Any], arg: Any) -> Callable[[], Any]:
    return lambda: fn(arg)


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT finish the batch in hand, commit and exit; a second signal is the user insisting."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s: finishing the current batch, committing and exiting", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
