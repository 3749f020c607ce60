"""Prometheus metrics of one consumer loop, served over HTTP only when the user asks for a port.

Each loop has its own registry (no process-global state), so two loops in one process, or tests, never mix
their numbers. Counters that live elsewhere (LLM calls and tokens) are read when scraped, not copied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _ReadOnScrape(Collector):
    """A counter whose values are read from a callback at scrape time."""

    def __init__(
        self, name: str, help: str, labelnames: Sequence[str], read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> None:
        self.name, self.help, self.labelnames, self.read = name, help, list(labelnames), read

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.help, labels=self.labelnames)
        for labels, value in self.read().items():
            family.add_metric(list(labels), value)
        yield family


class LoopMetrics:
    def __init__(self, group: str, topic: str) -> None:
        self.registry = CollectorRegistry()
        self.group, self.topic = group, topic
        self.labels = {"group": group, "topic": topic}
        names = ("group", "topic")
        r = self.registry
        own = (group, topic)

        def counter(name: str, help: str) -> Counter:
            return Counter(name, help, names, registry=r).labels(*own)

        def histogram(name: str, help: str) -> Histogram:
            return Histogram(name, help, names, registry=r, buckets=_BUCKETS).labels(*own)

        self.records_seen = counter("offsetflow_records", "Records consumed, dead letters included.")
        self.rows_written = counter("offsetflow_rows_written", "Output rows written to the sinks.")
        self.dead_lettered = counter("offsetflow_dead_letters", "Records dead-lettered.")
        self.batch_time = histogram("offsetflow_batch_seconds", "Time to decode, process and write one batch.")
        self.commit_time = histogram(
            "offsetflow_commit_seconds", "Time to commit offsets, dead letters acknowledged first."
        )
        per_partition = (*names, "partition")
        self.lag = Gauge("offsetflow_consumer_lag", "Records behind the partition's end.", per_partition, registry=r)
        self.committed = Gauge(
            "offsetflow_committed_offset",
            "Committed offset (the resume point).",
            per_partition,
            registry=r,
        )
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

    def set_lag(self, partition: int, lag: int) -> None:
        self.lag.labels(self.group, self.topic, str(partition)).set(lag)

    def set_committed(self, partition: int, offset: int) -> None:
        self.committed.labels(self.group, self.topic, str(partition)).set(offset)

    def forget(self, partition: int) -> None:
        """A revoked partition's gauges go away, so two consumers of a group never both report it."""
        for gauge in (self.lag, self.committed):
            with contextlib.suppress(KeyError):
                gauge.remove(self.group, self.topic, str(partition))

    def count_from(
        self, name: str, help: str, labelnames: Sequence[str], read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> None:
        self.registry.register(_ReadOnScrape(name, help, [*self.labels, *labelnames], self._prefixed(read)))

    def _prefixed(
        self, read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> Callable[[], Mapping[tuple[str, ...], float]]:
        own = tuple(self.labels.values())
        return lambda: {(*own, *labels): value for labels, value in read().items()}

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        self._server, self._thread = start_http_server(port, address, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
