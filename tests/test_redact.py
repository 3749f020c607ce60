"""Credentials never leave the process: URIs, secret-named settings and log lines are masked (no broker needed)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from offsetflow import redact
from offsetflow.config import ConfigError, KafkaSettings, MongoSettings, parse_pairs


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("mongodb://etl:hunter2@db:27017/", "mongodb://etl:***@db:27017/"),
        (
            "mongodb+srv://etl:s3cr%2Ft@cluster.example.net/?authSource=admin",
            "mongodb+srv://etl:***@cluster.example.net/?authSource=admin",
        ),
        ("mongodb://u:pa:ss@h/", "mongodb://u:***@h/"),  # an unescaped ':' in the password
        ("mongodb//etl:hunter2@db/", "mongodb//etl:***@db/"),  # a mistyped scheme still loses its password
        ("http://user:hunter2@proxy:3128", "http://user:***@proxy:3128"),
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),  # nothing to hide
        ("posts.ids[2]@17", "posts.ids[2]@17"),  # a dead letter's origin is not a credential
    ],
)
def test_uri_passwords_are_masked(raw: str, shown: str) -> None:
    assert redact.uri(raw) == shown


@pytest.mark.parametrize(
    "name",
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.oauthbearer.client.secret",
        "OFFSETFLOW_LLM_API_KEY",
        "--llm-api-key",
        "OFFSETFLOW_KAFKA_SASL_PASSWORD",
    ],
)
def test_secret_settings_are_recognised(name: str) -> None:
    assert redact.is_secret_name(name)


@pytest.mark.parametrize("name", ["sasl.username", "bootstrap.servers", "ssl.key.location", "security.protocol", "key"])
def test_ordinary_settings_are_shown(name: str) -> None:
    assert not redact.is_secret_name(name)


def test_messages_lose_secret_values_and_keep_the_rest() -> None:
    message = (
        "connect mongodb://etl:hunter2@db/ with sasl.password=hunter3, ssl.key.password: hunter4 "
        "OFFSETFLOW_LLM_API_KEY=sk-hunter5 sasl.username=etl key=post-17"
    )
    shown = redact.text(message)
    assert not any(secret in shown for secret in ("hunter2", "hunter3", "hunter4", "hunter5"))
    assert "sasl.username=etl" in shown and "key=post-17" in shown and "mongodb://etl:***@db/" in shown


def test_settings_for_display_mask_secrets_and_uris() -> None:
    shown = redact.settings(
        {"sasl.password": "hunter2", "sasl.username": "etl", "url": "https://a:hunter3@h/", "error_cb": print}
    )
    assert shown == {"sasl.password": "***", "sasl.username": "etl", "url": "https://a:***@h/", "error_cb": "<print>"}
    kafka = KafkaSettings("broker:9093", {"sasl.password": "hunter2", "security.protocol": "SASL_SSL"})
    assert kafka.describe() == "broker:9093 (sasl.password=***, security.protocol=SASL_SSL)"
    assert MongoSettings("mongodb://etl:hunter2@db/").describe() == "mongodb://etl:***@db/"


def test_redaction_takes_linear_time_on_a_megabyte_token() -> None:
    started = time.monotonic()
    for token in ("a" * 1_000_000, "x://" + "a" * 1_000_000, "k:" * 500_000, "/a:" * 300_000 + "@h"):
        redact.text(token)
    assert time.monotonic() - started < 10  # quadratic patterns take minutes on these


def test_a_malformed_pass_through_setting_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_pairs(["sasl.password:hunter2"], "--kafka-config")
    assert "hunter2" not in str(raised.value) and "--kafka-config" in str(raised.value)


def test_a_mongodb_uri_pymongo_rejects_is_a_config_error_without_the_password() -> None:
    for uri in ("mongodb://etl:hunter2@127.0.0.1:99999/", "mongodb//etl:hunter2@db/", "mongodb://etl:hunter2@h:x/"):
        with pytest.raises(ConfigError) as raised:
            MongoSettings(uri).client(connect=False)
        assert "hunter2" not in str(raised.value) and "--mongo-uri" in str(raised.value)


@pytest.fixture()
def offsetflow_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("offsetflow")
    logger.addHandler(handler)
    redact.install()
    yield stream
    logger.removeHandler(handler)


def test_log_lines_and_rendered_exceptions_of_offsetflow_loggers_are_redacted(offsetflow_log: io.StringIO) -> None:
    log = logging.getLogger("offsetflow")
    log.warning("writing to %s failed", "mongodb://etl:hunter2@db/")
    try:
        raise ConnectionError("could not reach mongodb://etl:hunter3@db/ (sasl.password=hunter4)")
    except ConnectionError:
        log.exception("retrying")
    written = offsetflow_log.getvalue()
    assert "mongodb://etl:***@db/" in written and "ConnectionError" in written
    assert not any(secret in written for secret in ("hunter2", "hunter3", "hunter4"))
