"""librdkafka's logs and errors, said once, in our words, through our logger.

Left alone, librdkafka prints about twenty raw ``%3|...|FAIL|...`` lines a second to stderr while a broker is
unreachable. Every client offsetflow creates gets, through ``KafkaSettings.client_config``:

* ``logger``: a ``logging.Logger``-compatible object that librdkafka hands its log lines to;
* ``error_cb``: the callback librdkafka hands its error events to;
* ``stats_cb`` (every ``statistics.interval.ms``, 15 s by default): used only to notice a broker that is
  reachable again.

confluent-kafka serves all three from the client's own calls (``poll``/``consume`` for a consumer, ``poll``/
``flush`` for a producer, ``poll`` for an admin client), never from librdkafka's threads, so they run on the
thread that uses the client. A client that is never polled keeps its log lines queued instead of printing them.

One cause (Kafka at an address unreachable, credentials rejected, TLS failing, a host name that does not
resolve, any other warning of one kind) gives one WARNING/ERROR line when it starts, one every 30 s while it
lasts (saying for how long), and one INFO line when the broker is reachable again; everything in between goes
to DEBUG. Lines are redacted (``offsetflow.redact``) before they are logged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from offsetflow import redact

log = logging.getLogger("offsetflow.kafka")

REPEAT_EVERY = 30.0  # seconds between two lines about the same ongoing cause
STATS_INTERVAL_MS = 15_000
OUTAGES = frozenset({"unreachable", "resolve", "auth", "tls"})  # causes that end when the broker is up again
_PRIORITY = ("auth", "tls", "resolve", "unreachable", "fatal", "other")

_BROKER = re.compile(r"(?P<addr>[^\s/\[\]]+:\d+)/(?:bootstrap|\d+)")
_UNREACHABLE = re.compile(
    r"connect to .* failed|connection refused|disconnected|brokers are down|timed out|connection reset|"
    r"no route to host|network is unreachable|broker transport failure|broker handle destroyed",
    re.IGNORECASE,
)
_RESOLVE = re.compile(r"failed to resolve|name or service not known|nodename nor servname|resolve", re.IGNORECASE)
_AUTH = re.compile(r"sasl|authentication|authoriz", re.IGNORECASE)
_TLS = re.compile(r"\bssl\b|\btls\b|certificate|handshake", re.IGNORECASE)
_DETAIL = re.compile(r"failed: (?P<why>.*?)(?: \(after \d+ms.*)?$")

_ERROR_CAUSES = {
    "_TRANSPORT": "unreachable",
    "_ALL_BROKERS_DOWN": "unreachable",
    "_RESOLVE": "resolve",
    "_AUTHENTICATION": "auth",
    "SASL_AUTHENTICATION_FAILED": "auth",
    "_SSL": "tls",
}


@dataclass
class _Cause:
    kind: str
    address: str
    started: float
    said: float
    why: str = ""

    def describe(self) -> str:
        return {
            "unreachable": f"{self.why}",
            "resolve": "host name does not resolve",
            "auth": f"credentials rejected ({self.why}); check sasl.mechanism, sasl.username and sasl.password",
            "tls": f"TLS failed ({self.why}); check security.protocol and the ssl.* settings",
        }.get(self.kind, self.why)


def _why(detail: str) -> str:
    """``... Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)`` ->
    ``connection refused``."""
    match = _DETAIL.search(detail)
    why = match["why"] if match else detail
    if "brokers are down" in detail:
        why = "no broker answers"
    elif "Disconnected" in detail:
        why = "disconnected"
    why = redact.text(why.strip().rstrip("."))[:200]
    return why[:1].lower() + why[1:]  # "Connection refused" -> "connection refused"; names keep their case


def _say(kind: str, address: str, why: str, lasted: float | None) -> tuple[int, str]:
    since = f" for {lasted:.0f}s" if lasted else ""
    if kind == "unreachable":
        return logging.WARNING, f"Kafka at {address} unreachable{since} ({why}), retrying"
    if kind == "resolve":
        return logging.ERROR, f"Kafka at {address}: host name does not resolve{since}: check --bootstrap-servers"
    if kind == "auth":
        return logging.ERROR, (
            f"Kafka at {address} rejected the credentials{since} ({why}): check security.protocol, "
            "sasl.mechanism, sasl.username and sasl.password"
        )
    if kind == "tls":
        return logging.ERROR, (
            f"TLS with Kafka at {address} failed{since} ({why}): check security.protocol and the ssl.* settings"
        )
    if kind == "fatal":
        return logging.ERROR, f"Kafka client stopped by a fatal error at {address}: {why}"
    return logging.WARNING, f"Kafka at {address}: {why}" + (f" (repeating{since})" if since else "")


class KafkaLogs:
    """Process-wide: every client reports here, so two clients seeing one outage still give one line."""

    def __init__(self, logger: logging.Logger = log, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.clock = clock
        self.every = REPEAT_EVERY
        self._causes: dict[tuple[str, str], _Cause] = {}
        self._lock = threading.Lock()

    def report(self, kind: str, address: str, detail: str, key: str = "") -> None:
        """A failure of ``kind`` at ``address``: said now if new or last said ``every`` seconds ago."""
        now = self.clock()
        why = _why(detail)
        all_down = kind == "unreachable" and "brokers are down" in detail
        with self._lock:
            cause = self._causes.get((kind + key, address))
            if cause is None and all_down and self._any("unreachable"):
                level, line = logging.DEBUG, ""  # the per-broker lines say it
            elif cause is None:
                self._causes[(kind + key, address)] = _Cause(kind, address, now, now, why)
                level, line = _say(kind, address, why, None)
            elif now - cause.said >= self.every:
                cause.said = now
                level, line = _say(kind, address, cause.why, now - cause.started)  # the cause as first said
            else:
                level, line = logging.DEBUG, ""
        if level == logging.DEBUG:
            if self.logger.isEnabledFor(logging.DEBUG):  # ~20 lines a second in an outage: redact only if shown
                self.logger.debug("kafka: %s", redact.text(detail))
            return
        self.logger.log(level, line)

    def _any(self, kind: str) -> bool:
        return any(c.kind == kind for c in self._causes.values())

    def reachable(self, addresses: set[str], bootstrap: str) -> int:
        """Brokers seen up again: each ongoing cause at one of them (or at the bootstrap list) gets its line.
        Returns how many causes ended."""
        now = self.clock()
        with self._lock:
            gone = [
                k
                for k, c in self._causes.items()
                if c.kind in OUTAGES and (c.address in addresses or c.address == bootstrap)
            ]
            ended = [self._causes.pop(k) for k in gone]
        for cause in ended:
            self.logger.info(f"Kafka at {cause.address} reachable again after {now - cause.started:.0f}s")
        return len(ended)

    def ongoing(self) -> list[str]:
        """Outages not yet seen to end, as ``kind address``."""
        return [f"{c.kind} {c.address}" for c in self.causes() if c.kind in OUTAGES]

    def causes(self) -> list[_Cause]:
        """Every cause heard and not yet ended, most telling first: credentials, TLS, DNS, refused connections."""
        with self._lock:
            return sorted(self._causes.values(), key=lambda c: _PRIORITY.index(c.kind))


HUB = KafkaLogs()


class Recorder:
    """A private hub whose lines are kept, not logged: a one-shot probe turns them into its error message."""

    def __init__(self) -> None:
        logger = logging.Logger("offsetflow.kafka.probe", logging.DEBUG)
        logger.propagate = False
        logger.addHandler(logging.NullHandler())
        self.hub = KafkaLogs(logger)

    def reason(self) -> str | None:
        """The most telling cause heard: rejected credentials before TLS before DNS before refused connections."""
        causes = self.hub.causes()
        return causes[0].describe() if causes else None

    def settled(self) -> bool:
        """A cause heard that waiting will not mend: credentials, TLS, DNS."""
        return any(c.kind in ("auth", "tls", "resolve") for c in self.hub.causes())


class ClientLogger:
    """The object for librdkafka's ``logger`` setting: confluent-kafka calls ``log(level, "%s [%s] %s", facility,
    client name, message)``. Anything it raises would surface from ``poll``, so nothing may escape."""

    def __init__(self, bootstrap: str, hub: KafkaLogs = HUB, raw: bool = False) -> None:
        self.bootstrap = bootstrap
        self.hub = hub
        self.raw = raw  # the user set librdkafka `debug`: they want the lines as they are (still redacted)
        self.name = "offsetflow.kafka.client"

    def log(self, level: int, msg: str, *args: Any, **_: Any) -> None:
        try:
            text = msg % args if args else str(msg)
            if self.raw:
                self.hub.logger.info("librdkafka: %s", redact.text(text))
                return
            if level < logging.WARNING:
                if self.hub.logger.isEnabledFor(logging.DEBUG):
                    self.hub.logger.debug("librdkafka: %s", redact.text(text))
                return
            facility = text.split(" ", 1)[0]
            detail = text.split("]: ", 1)[-1] if "]: " in text else text
            self.hub.report(*_classify(detail, self.bootstrap), detail, key=_other_key(detail, facility))
        except Exception:  # never let a log line break the client
            pass

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args)

    def critical(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.CRITICAL, msg, *args)

    exception = error

    def isEnabledFor(self, level: int) -> bool:
        return True


def _classify(detail: str, bootstrap: str) -> tuple[str, str]:
    """(kind, address) of a librdkafka message."""
    match = _BROKER.search(detail)
    address = match["addr"] if match else bootstrap
    if _AUTH.search(detail):
        return "auth", address
    if _TLS.search(detail):
        return "tls", address
    if _RESOLVE.search(detail):
        return "resolve", address
    if _UNREACHABLE.search(detail):
        return "unreachable", address
    return "other", address


def _other_key(detail: str, facility: str) -> str:
    """Other warnings are one cause per facility (or error name)."""
    kind = _classify(detail, "")[0]
    return "" if kind != "other" else ":" + facility


def error_callback(bootstrap: str, hub: KafkaLogs = HUB) -> Callable[[Any], None]:
    """The ``error_cb``: librdkafka's error events (``KafkaError``), classified like the log lines."""

    def error_cb(err: Any) -> None:
        try:
            detail = str(err.str())
            name = str(err.name())
            if err.fatal():
                hub.report("fatal", bootstrap, detail)
                return
            kind = _ERROR_CAUSES.get(name)
            if kind is None:
                kind, address = _classify(detail, bootstrap)
            else:
                address = _classify(detail, bootstrap)[1]
            hub.report(kind, address, detail, key="" if kind != "other" else ":" + name)
        except Exception:
            pass

    return error_cb


def stats_callback(bootstrap: str, hub: KafkaLogs = HUB) -> Callable[[str], None]:
    """The ``stats_cb``: while a cause is ongoing, brokers in state UP end it with a 'reachable again' line."""

    def stats_cb(stats: str) -> None:
        try:
            if not hub.ongoing():
                return
            brokers = json.loads(stats).get("brokers", {})
            up = {
                m["addr"]
                for name, b in brokers.items()
                if b.get("state") == "UP" and (m := _BROKER.search(name + ("" if "/" in name else "/0")))
            }
            if up:
                hub.reachable(up, bootstrap)
        except Exception:
            pass

    return stats_cb


def attach(conf: MutableMapping[str, Any], hub: KafkaLogs = HUB, replace: bool = False) -> None:
    """Route a client config's logs and errors to ``hub``, unless the caller set its own (or ``replace``)."""
    bootstrap = str(conf.get("bootstrap.servers", "?"))
    if replace or "logger" not in conf:
        conf["logger"] = ClientLogger(bootstrap, hub, raw=bool(conf.get("debug")))
    if replace or "error_cb" not in conf:
        conf["error_cb"] = error_callback(bootstrap, hub)
    if replace or "stats_cb" not in conf:
        conf["stats_cb"] = stats_callback(bootstrap, hub)
        conf.setdefault("statistics.interval.ms", STATS_INTERVAL_MS)
