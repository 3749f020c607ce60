"""A user's mistakes and a missing server get one line that says what is wrong and what to do, never a traceback.

Run against the real local stack; "unreachable" is an unused port on this machine (127.0.0.1:1), and a broker
that comes up late is a forwarder to the local broker started by the test.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from pymongo import MongoClient

from offsetflow import kafka_logs
from offsetflow.cli import app, errors
from offsetflow.config import KafkaSettings
from offsetflow.ops.replay import UnknownGroup
from offsetflow.stack.local import LocalStack
from tests.cli import REPO, offsetflow
from tests.test_config import all_commands

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1 here: connections are refused at once


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    [line] = error_lines(result)
    for word in words:
        assert word in line, line
    return line


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "offsetflow", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _stack(stack: LocalStack) -> None:
    """Every test here runs with OFFSETFLOW_BOOTSTRAP_SERVERS/OFFSETFLOW_MONGO_URI of the local stack."""


# -- 1. librdkafka's lines, in our words ------------------------------------------------------------------------


def test_a_consumer_started_before_kafka_says_so_in_our_words_rate_limited_and_gives_up_when_told(
    unique: str,
) -> None:
    started = time.monotonic()
    result = offsetflow(
        "consume",
        "posts",
        "--bootstrap-servers",
        UNREACHABLE,
        "--wait-for-kafka",
        "8",
        "--group",
        f"g-{unique}",
        "--posts-topic",
        f"test.posts.{unique}",
        "--mongo-uri",
        "mongodb://etl:hunter2@127.0.0.1:27017/",
        check=False,
        env={**os.environ, "OFFSETFLOW_KAFKA_SASL_PASSWORD": "hunter3"},
    )
    assert time.monotonic() - started < 30
    assert "%3|" not in result.stderr and "FAIL|" not in result.stderr  # no raw librdkafka lines
    said = [line for line in result.stderr.splitlines() if "unreachable" in line]
    assert said and len(said) <= 2, result.stderr  # ~160 raw lines in 8 s before
    assert f"Kafka at {UNREACHABLE} unreachable (connection refused), retrying" in said[0]
    assert_one_line_error(result, 1, UNREACHABLE, "--wait-for-kafka")
    assert "mongodb://etl:***@127.0.0.1:27017/" in result.stderr  # the start line, redacted
    assert "hunter2" not in result.stderr + result.stdout and "hunter3" not in result.stderr + result.stdout


class Forwarder:
    """A TCP port that forwards to the local broker once opened: a Kafka that comes up late."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.stopped = threading.Event()
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with a, b:
            while not self.stopped.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)

    def close(self) -> None:
        self.stopped.set()
        if self.server is not None:
            self.server.close()


@pytest.fixture()
def late_kafka(stack: LocalStack) -> Iterator[Forwarder]:
    host, port = stack.kafka.bootstrap_servers.split(":")
    forwarder = Forwarder(free_port(), (host, int(port)))
    yield forwarder
    forwarder.close()


def test_a_consumer_waits_for_a_late_kafka_then_says_it_is_reachable_and_runs(
    unique: str, late_kafka: Forwarder, tmp_path: Path
) -> None:
    topic = f"test.posts.{unique}"
    offsetflow("topics", "create", "--posts-topic", topic, "--sms-topic", f"test.sms.{unique}")
    late = f"127.0.0.1:{late_kafka.port}"
    proc = spawn(
        *("consume", "posts", "--bootstrap-servers", late, "--group", f"g-{unique}", "--posts-topic", topic),
        *("--until-idle", "2", "--source-database", f"social_{unique}", "--sink-collection", f"sampled_{unique}"),
        *("--out", str(tmp_path)),
    )
    time.sleep(6)  # refused connections meanwhile
    late_kafka.open()
    try:
        _, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    lines = stderr.splitlines()
    unreachable = [i for i, line in enumerate(lines) if f"Kafka at {late} unreachable" in line]
    back = [i for i, line in enumerate(lines) if f"Kafka at {late} reachable again after" in line]
    assert len(unreachable) == 1 and len(back) == 1 and unreachable[0] < back[0], stderr
    assert "%3|" not in stderr and "Traceback" not in stderr


def test_a_running_client_says_in_our_words_when_kafka_goes_and_when_it_is_back(
    late_kafka: Forwarder, caplog: pytest.LogCaptureFixture
) -> None:
    """The real client and callbacks: lines served from poll(), 'reachable again' from the statistics."""
    caplog.set_level(logging.INFO, logger="offsetflow.kafka.running")
    hub = kafka_logs.KafkaLogs(logging.getLogger("offsetflow.kafka.running"))
    late = f"127.0.0.1:{late_kafka.port}"
    conf = KafkaSettings(late).client_config(statistics_interval_ms=500)
    kafka_logs.attach(conf, hub, replace=True)
    producer = Producer(conf)

    def poll_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            producer.poll(0.2)

    poll_for(4)
    late_kafka.open()
    poll_for(8)
    said = [r.getMessage() for r in caplog.records if r.name == "offsetflow.kafka.running"]
    assert said[0] == f"Kafka at {late} unreachable (connection refused), retrying", said
    assert len([s for s in said if "unreachable" in s]) == 1  # ~80 raw lines in those 4 s
    assert any(s.startswith(f"Kafka at {late} reachable again after ") for s in said), said


# -- 2. missing topic, unreachable broker at start ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (("consume", "posts"), "--posts-topic"),
        (("consume", "sms"), "--sms-topic"),
        (("produce", "posts"), "--posts-topic"),
        (("produce", "sms"), "--sms-topic"),
    ],
)
def test_a_missing_topic_is_one_line_naming_topics_create_and_is_not_created(
    unique: str, command: tuple[str, ...], flag: str, kafka: KafkaSettings
) -> None:
    topic = f"test.missing.{unique}"
    extra = ("--until-idle", "1") if command[0] == "consume" else ()
    result = offsetflow(*command, flag, topic, *extra, check=False)
    assert_one_line_error(result, 2, topic, f"offsetflow topics create {flag} {topic}")
    assert topic not in AdminClient(kafka.client_config()).list_topics(timeout=10).topics


@pytest.mark.parametrize("command", [("dlq", "list"), ("dlq", "show", "0:1"), ("dlq", "redrive", "--dry-run")])
def test_a_mistyped_dead_letter_topic_is_named_instead_of_showing_nothing(
    unique: str, command: tuple[str, ...]
) -> None:
    result = offsetflow(*command, "--topic", f"test.nosuch.{unique}", check=False)
    assert_one_line_error(result, 2, f"no dead-letter topic test.nosuch.{unique}.dlq")


ONE_SHOT = [
    ("status",),
    ("status", "--json"),
    ("replay", "--group", "g", "--to", "earliest"),
    ("dlq", "list"),
    ("clean", "--group", "g", "--yes"),
    ("check",),
    ("topics", "create"),
    ("stats", "sms"),
    ("produce", "posts"),
    ("produce", "sms"),
]


def test_one_shot_commands_fail_within_seconds_naming_the_unreachable_address() -> None:
    """`status` took 91 s to fail before; each command now gives up after one 10 s probe."""
    started = time.monotonic()
    procs = {args: spawn(*args, "--bootstrap-servers", UNREACHABLE) for args in ONE_SHOT}  # in parallel: 10 s
    for args, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        result = subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)
        assert_one_line_error(result, 1, f"Kafka at {UNREACHABLE} not reachable", "connection refused")
        assert "%3|" not in stderr
    assert time.monotonic() - started < 30


def test_an_unreachable_mongodb_is_one_line_with_the_address_not_a_topology_dump(unique: str) -> None:
    started = time.monotonic()
    result = offsetflow(
        *("seed", "posts", "--mongo-uri", "mongodb://etl:hunter2@127.0.0.1:1/", "--source-database", f"s_{unique}"),
        check=False,
    )
    assert time.monotonic() - started < 30
    assert_one_line_error(result, 1, "MongoDB not reachable: 127.0.0.1:1", "--mongo-uri")
    assert "TopologyDescription" not in result.stderr and "hunter2" not in result.stderr


# -- 3. numeric flags and MongoDB URIs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("consume", "posts", "--batch-size", "0"),
        ("consume", "posts", "--fetch-workers", "0"),
        ("consume", "posts", "--fetch-batch", "0"),
        ("consume", "posts", "--until-idle", "-1"),
        ("consume", "posts", "--chunk-rows", "0"),
        ("consume", "posts", "--chunk-max-age", "0"),
        ("consume", "posts", "--metrics-port", "70000"),
        ("consume", "sms", "--llm-concurrency", "0"),
        ("consume", "sms", "--llm-rpm", "0"),
        ("consume", "sms", "--llm-tpm", "-1"),
        ("consume", "sms", "--llm-timeout", "0"),
        ("consume", "sms", "--llm-batch-size", "0"),
        ("topics", "create", "--partitions", "0"),
        ("produce", "posts", "--sample-actors", "0"),
        ("seed", "posts", "--actors", "0"),
        ("replay", "--group", "g", "--to", "earliest", "--partition", "-1"),
    ],
)
def test_a_numeric_flag_out_of_range_is_a_one_line_usage_error(args: tuple[str, ...]) -> None:
    flag = args[-2]
    result = offsetflow(*args, check=False, timeout=60)
    assert_one_line_error(result, 2, f"'{flag}'", "--help")


def test_the_environment_variable_of_a_numeric_flag_is_checked_the_same_way() -> None:
    result = offsetflow("consume", "posts", check=False, env={**os.environ, "OFFSETFLOW_BATCH_SIZE": "0"})
    assert_one_line_error(result, 2, "--batch-size", "OFFSETFLOW_BATCH_SIZE")


def test_every_numeric_flag_of_every_command_has_a_range_or_a_check() -> None:
    unchecked = []
    for path, command in all_commands(typer.main.get_command(app)):
        for param in getattr(command, "params", []):
            if param.param_type_name != "option" or param.type_descriptor.annotation not in (int, float):
                continue
            checked = param.min is not None or param.max is not None or param.callback is not None
            if not checked and param.name != "seed":  # any integer is a seed
                unchecked.append(f"offsetflow {' '.join(path)} {max(param.opts, key=len)}")
    assert unchecked == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("seed", "posts", "--platforms", "twitter,myspace"),
            ("'--platforms'", "myspace", "twitter,facebook,telegram"),
        ),
        (("consume", "sms", "--llm", "openai", "--sms-topic", "x"), ("OFFSETFLOW_LLM_API_KEY",)),
        (("consume", "sms", "--llm", "gpt"), ("--llm", "rules or openai")),
        (("replay", "--group", "g", "--to", "yesterday"), ("--to", "earliest")),
        (("topics", "create", "--retention", "5x"), ("retention", "forever")),
    ],
)
def test_other_values_the_command_cannot_use_are_one_line_usage_errors(
    args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OFFSETFLOW_LLM_API_KEY"}
    assert_one_line_error(offsetflow(*args, check=False, env=env), 2, *words)


@pytest.mark.parametrize(
    "uri",
    ["mongodb://etl:hunter2@127.0.0.1:99999/", "mongodb//etl:hunter2@127.0.0.1/", "mongodb://etl:hunter2@h:port/"],
)
def test_a_mongodb_uri_pymongo_cannot_use_is_one_line_without_the_password(uri: str) -> None:
    result = offsetflow("seed", "posts", "--mongo-uri", uri, "--actors", "1", check=False)
    assert_one_line_error(result, 2, "--mongo-uri", "mongodb://")
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("pipeline", "words"),
    [
        ("posts", (".posts/actors already hold", "pass --replace to drop and reseed them")),
        ("sms", (".sms_fin_rawdata already holds", "pass --replace to drop and reseed it")),
    ],
)
def test_seeding_into_a_source_that_holds_data_refuses_naming_replace(
    unique: str, pipeline: str, words: tuple[str, ...], mongo: MongoClient[dict[str, Any]]
) -> None:
    database = f"seeded_{unique}"
    small = ("--actors", "1", "--posts-per-actor", "1") if pipeline == "posts" else ("--users", "1", "--per-user", "1")
    try:
        offsetflow("seed", pipeline, *small, "--source-database", database)
        refused = offsetflow("seed", pipeline, *small, "--source-database", database, check=False)
        assert_one_line_error(refused, 1, database, *words)
    finally:
        mongo.drop_database(database)


# -- 4. replay of a group that does not exist -----------------------------------------------------------------------


def test_replay_refuses_a_group_without_offsets_or_members_unless_created(unique: str) -> None:
    topic = f"test.posts.{unique}"
    offsetflow("topics", "create", "--posts-topic", topic, "--sms-topic", f"test.sms.{unique}")
    typo = f"posts-fetchr-{unique}"
    refused = offsetflow("replay", "--group", typo, "--to", "earliest", "--topic", topic, check=False)
    assert_one_line_error(refused, 2, typo, "--create")
    assert json.loads(offsetflow("status", "--json", "--group", typo).stdout)["groups"] == []

    offsetflow("replay", "--group", typo, "--to", "earliest", "--topic", topic, "--create")
    [group] = json.loads(offsetflow("status", "--json", "--group", typo).stdout)["groups"]
    assert {p["committed"] for p in group["partitions"]} == {0}


def test_the_refusal_lists_the_known_groups_when_there_are_few() -> None:
    message = errors.message(UnknownGroup("posts-fetchr", ["posts-fetcher", "sms-processor"]))
    assert "known groups: posts-fetcher, sms-processor" in message


# -- 5. secrets ------------------------------------------------------------------------------------------------------


def test_check_shows_where_it_connected_without_passwords(unique: str) -> None:
    result = offsetflow(
        "check",
        "--records",
        "3",
        "--kafka-config",
        "sasl.password=hunter2",  # ignored on a PLAINTEXT listener, but shown as configured
        "--mongo-uri",
        "mongodb://etl:hunter3@127.0.0.1:27017/?authMechanism=PLAIN",  # FerretDB accepts PLAIN credentials
    )
    assert "sasl.password=***" in result.stdout and "mongodb://etl:***@127.0.0.1:27017/" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr and "hunter3" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "setting", ["security.protocol=SASL_PLAINTEX", "no.such.property=1", "OFFSETFLOW_KAFKA_NO_SUCH_PROPERTY=1"]
)
def test_a_kafka_setting_librdkafka_rejects_is_a_one_line_usage_error(setting: str) -> None:
    if setting.startswith("OFFSETFLOW_"):
        name, value = setting.split("=")
        result = offsetflow("status", check=False, env={**os.environ, name: value})
    else:
        result = offsetflow("status", "--kafka-config", setting, check=False)
    assert_one_line_error(result, 2, "Kafka settings unusable", "OFFSETFLOW_KAFKA_*")


def test_a_malformed_kafka_config_is_not_echoed() -> None:
    result = offsetflow("status", "--kafka-config", "sasl.password:hunter2", check=False)
    assert_one_line_error(result, 2, "--kafka-config", "KEY=VALUE")
    assert "hunter2" not in result.stderr + result.stdout


# -- 6. static group membership --------------------------------------------------------------------------------------


def test_group_instance_id_makes_the_consumer_a_static_member_with_its_hostname(unique: str, tmp_path: Path) -> None:
    topic, group = f"test.posts.{unique}", f"g-{unique}"
    offsetflow("topics", "create", "--posts-topic", topic, "--sms-topic", f"test.sms.{unique}")
    admin = AdminClient(KafkaSettings(os.environ["OFFSETFLOW_BOOTSTRAP_SERVERS"]).client_config())

    def members() -> list[Any]:
        described = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
        return list(described.members)

    proc = spawn(
        *("consume", "posts", "--group", group, "--posts-topic", topic, "--source-database", f"social_{unique}"),
        *("--sink-collection", f"sampled_{unique}", "--out", str(tmp_path)),
        env={"OFFSETFLOW_GROUP_INSTANCE_ID": "fetcher-{hostname}"},
    )
    try:
        deadline = time.monotonic() + 60
        while not members():
            assert time.monotonic() < deadline and proc.poll() is None, "the consumer never joined"
            time.sleep(0.5)
        [member] = members()
        assert member.group_instance_id == f"fetcher-{socket.gethostname()}"
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.mark.parametrize("pipeline", ["posts", "sms"])
def test_group_instance_id_help_says_what_it_is_for_and_the_rule(pipeline: str) -> None:
    command = typer.main.get_command(app).commands["consume"].commands[pipeline]  # type: ignore[attr-defined]
    [param] = [p for p in command.params if "--group-instance-id" in p.opts]
    assert param.envvar == "OFFSETFLOW_GROUP_INSTANCE_ID" and param.default is None
    assert "partitions back at once" in param.help and "unique among" in param.help and "{hostname}" in param.help
