"""A consumer pipeline as one value: everything the loop runs and everything its user is told, built in one
place (``consumers/<pipeline>.py``) so the CLI, tests and benches cannot assemble it differently."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.stream.contracts import Processor, Progress, Sink
from offsetflow.stream.loop import ConsumerLoop, LoopSettings, RunSummary
from offsetflow.stream.metrics import LoopMetrics


def _no_metrics(metrics: LoopMetrics) -> None:
    return None


@dataclass(frozen=True)
class Pipeline:
    name: str  # what the progress bar calls it
    loop: LoopSettings  # input topic, group, dead-letter topic, batching
    schema: codec.Schema  # of the input topic's records
    processor: Processor
    # Written in this order, each batch: a later sink sees a batch only once every earlier one holds it, so
    # the order is part of the pipeline's guarantees (a source is marked done only once its result is stored).
    sinks: tuple[Sink, ...]
    plan: str  # what it reads and writes, said before it starts
    report: Callable[[RunSummary], list[str]]  # where its results went, said after it stops
    # Counters the loop does not know of (LLM calls, reused results), added to the loop's metrics.
    metrics: Callable[[LoopMetrics], None] = _no_metrics
    # Set to stop the run (signals set it too); shared with parts that wait long, so they stop waiting.
    stop: threading.Event = field(default_factory=threading.Event)

    def run(
        self,
        kafka: KafkaSettings,
        progress: Progress,
        metrics: LoopMetrics | None = None,
        stop: threading.Event | None = None,
    ) -> RunSummary:
        """Until stopped (a signal, ``stop``, or ``until_idle``); a restart resumes at the committed offsets."""
        metrics = metrics or LoopMetrics(self.loop.group, self.loop.topic)
        self.metrics(metrics)
        stop = stop or self.stop
        return ConsumerLoop(kafka, self.loop, self.schema, self.processor, self.sinks, progress, stop, metrics).run()
