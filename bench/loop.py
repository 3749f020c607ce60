"""The loop's own cost: the same records through a bare confluent-kafka consume + decode loop, and through
offsetflow's loop (a `Pipeline`, run as the consumers run) with a processor and a sink that do nothing (decode,
stages, checkpoint, commits and dead-letter acknowledgement included).

Run by hand against a running stack (`offsetflow dev up`):

    .venv/bin/python bench/loop.py --records 300000

Both runs join a fresh group and read the topic from the start; the loop's run stops with --until-idle, whose
idle wait is not counted (the clock stops when the last record is done; its commit follows at once). Prints
both rates and ours / bare (the goal: >= 0.5).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Sequence

from confluent_kafka import Consumer, Producer

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.stream.contracts import Sink
from offsetflow.stream.loop import LoopSettings
from offsetflow.stream.pipeline import Pipeline
from offsetflow.stream.records import Output, Processed, Record
from offsetflow.topics import dlq_for, ensure_topics

IDLE = 1.0


class PassThrough:
    """One output per record, nothing else: what is left is the loop."""

    def process(self, records: Sequence[Record]) -> Processed:
        return Processed(outputs=[Output(r.origin, r.value["post_id"], r.value) for r in records])


class Discard(Sink):
    name = "discard"

    def write(self, outputs: Sequence[Output]) -> None:
        return None


class Clock:
    """Progress that notes when the last of ``count`` records was written (the idle wait after is not ours)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.finished = 0.0

    def say(self, text: str) -> None:
        return None

    def update(self, records: int, rows: int, failed: int, lag: int) -> None:
        self.seen += records
        if records and self.seen >= self.count and not self.finished:
            self.finished = time.perf_counter()


def produce(kafka: KafkaSettings, topic: str, count: int) -> None:
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config({"linger.ms": 20, "batch.num.messages": 10_000}))
    for n in range(count):
        pid = f"post-{n:09d}"
        value = schema.encode({"post_id": pid, "platform": "twitter", "actor_id": "a", "sample_seed": 1})
        while True:
            try:
                producer.produce(topic, key=pid.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def bare(kafka: KafkaSettings, topic: str, count: int) -> float:
    schema = codec.load(codec.POST_ID)
    consumer = Consumer(
        kafka.client_config(
            group_id=f"bench-bare-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest", enable_auto_commit=False
        )
    )
    started = time.perf_counter()
    consumer.subscribe([topic])
    seen = 0
    while seen < count:
        for msg in consumer.consume(1000, timeout=1.0):
            if not msg.error():
                schema.decode(msg.value())
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def ours(kafka: KafkaSettings, topic: str, count: int, batch: int) -> float:
    group = f"bench-loop-{uuid.uuid4().hex[:8]}"
    settings = LoopSettings(topic, group, dlq_for(topic), batch_size=batch, until_idle=IDLE)
    clock = Clock(count)
    pipeline = Pipeline("loop", settings, codec.load(codec.POST_ID), PassThrough(), (Discard(),), "", lambda _: [])
    started = time.perf_counter()
    summary = pipeline.run(kafka, clock)
    assert summary.records == count and clock.finished, summary
    return count / (clock.finished - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="the loop's --batch-size")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs; medians are printed")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    args = parser.parse_args()
    kafka = KafkaSettings(args.bootstrap_servers)
    topic = f"bench.loop.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.client_config(), [topic, dlq_for(topic)], partitions=6, retention_ms=86_400_000)
    produce(kafka, topic, args.records)
    print(f"{args.records:,} records on {topic} (6 partitions); {args.runs} runs each, alternating", flush=True)
    rates: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(args.runs):
        rates["bare"].append(bare(kafka, topic, args.records))
        rates["ours"].append(ours(kafka, topic, args.records, args.batch))
        print(f"  bare {rates['bare'][-1]:>10,.0f}/s   ours {rates['ours'][-1]:>10,.0f}/s", flush=True)
    b, o = statistics.median(rates["bare"]), statistics.median(rates["ours"])
    print(f"median: bare confluent-kafka consume + decode {b:,.0f} records/s")
    print(f"median: offsetflow loop, no-op processor and sink, commits included {o:,.0f} records/s")
    print(f"ours / bare = {o / b:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
