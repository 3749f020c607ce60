"""librdkafka's lines in our words: one per cause when it starts, one every 30 s while it lasts, one when it ends.

These drive the hub with librdkafka's own message texts and a fake clock; tests/test_misconfiguration.py runs
the real clients against an unused local port.
"""

from __future__ import annotations

import json
import logging

import pytest

from offsetflow import kafka_logs
from offsetflow.config import KafkaSettings

REFUSED = (
    "FAIL [rdkafka#consumer-1] [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 "
    "failed: Connection refused (after 0ms in state CONNECT)"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def hub(caplog: pytest.LogCaptureFixture) -> tuple[kafka_logs.KafkaLogs, Clock]:
    caplog.set_level(logging.DEBUG, logger="offsetflow.kafka.test")
    clock = Clock()
    return kafka_logs.KafkaLogs(logging.getLogger("offsetflow.kafka.test"), clock), clock


def said(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_an_unreachable_broker_is_said_once_then_every_30s_then_when_it_is_back(
    hub: tuple[kafka_logs.KafkaLogs, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    logs, clock = hub
    logger = kafka_logs.ClientLogger("127.0.0.1:1", logs)
    error_cb = kafka_logs.error_callback("127.0.0.1:1", logs)
    for _ in range(20 * 29):  # librdkafka's ~20 lines a second, for 29 s
        logger.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", REFUSED.split("]: ", 2)[-1])
        clock.now += 0.05
    assert said(caplog) == ["Kafka at 127.0.0.1:1 unreachable (connection refused), retrying"]
    clock.now = 1030.0
    error_cb(FakeError("_ALL_BROKERS_DOWN", "1/1 brokers are down"))  # the per-broker lines already say it
    logger.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", REFUSED)
    assert said(caplog)[1:] == ["Kafka at 127.0.0.1:1 unreachable for 30s (connection refused), retrying"]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) > 500  # the rest, for debugging

    clock.now = 1047.0
    stats = kafka_logs.stats_callback("127.0.0.1:1", logs)
    stats(json.dumps({"brokers": {"127.0.0.1:1/1": {"state": "UP"}}}))
    assert said(caplog)[2:] == ["Kafka at 127.0.0.1:1 reachable again after 47s"]
    assert logs.ongoing() == []


class FakeError:
    """What error_cb receives: a KafkaError's name, text and fatality."""

    def __init__(self, name: str, text: str, fatal: bool = False) -> None:
        self._name, self._text, self._fatal = name, text, fatal

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text

    def fatal(self) -> bool:
        return self._fatal


def test_rejected_credentials_are_an_error_that_names_the_settings_and_hides_the_password(
    hub: tuple[kafka_logs.KafkaLogs, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    logs, _ = hub
    error_cb = kafka_logs.error_callback("broker:9093", logs)
    for _ in range(50):
        error_cb(
            FakeError(
                "_AUTHENTICATION",
                "sasl_ssl://broker:9093/bootstrap: SASL authentication error: Authentication failed during "
                "authentication due to invalid credentials (sasl.password=hunter2)",
            )
        )
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR
    text = line.getMessage()
    assert text.startswith("Kafka at broker:9093 rejected the credentials") and "sasl.password" in text
    assert "hunter2" not in caplog.text


def test_every_client_config_routes_librdkafka_through_our_logger_unless_the_caller_set_one() -> None:
    conf = KafkaSettings("127.0.0.1:9092").client_config(group_id="g")
    assert isinstance(conf["logger"], kafka_logs.ClientLogger) and callable(conf["error_cb"])
    assert conf["group.id"] == "g" and "error.cb" not in conf
    mine = logging.getLogger("mine")
    assert KafkaSettings().client_config({"logger": mine})["logger"] is mine


def test_a_log_callback_never_raises_into_the_client(hub: tuple[kafka_logs.KafkaLogs, Clock]) -> None:
    logs, _ = hub
    kafka_logs.ClientLogger("b:1", logs).log(logging.ERROR, "%s %s", "only one argument")
    kafka_logs.error_callback("b:1", logs)(object())
    kafka_logs.stats_callback("b:1", logs)("not json")
