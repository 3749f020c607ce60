"""One naming scheme: --foo-bar is OFFSETFLOW_FOO_BAR; client settings pass through."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from offsetflow.cli import app
from offsetflow.config import OWN_KAFKA_FLAGS, OWN_MONGO_FLAGS, ConfigError, KafkaSettings, MongoSettings, env_name


def all_commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (sub)command of the CLI with its path, e.g. (("dev", "up"), <command>)."""
    found = [(path, group)]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            found += all_commands(sub, (*path, name))
    return found


def test_every_flag_of_every_command_reads_its_environment_variable() -> None:
    root = typer.main.get_command(app)
    checked = 0
    for path, command in all_commands(root):
        for param in command.params:
            if param.param_type_name != "option" or param.name in {"help", "install_completion", "show_completion"}:
                continue
            flag = max(param.opts, key=len)
            assert param.envvar == env_name(flag), f"offsetflow {' '.join(path)} {flag}"
            checked += 1
    assert checked > 10


def test_no_flag_is_mistaken_for_a_client_pass_through_setting() -> None:
    flags = {max(p.opts, key=len) for _, cmd in all_commands(typer.main.get_command(app)) for p in cmd.params}
    assert {f for f in flags if f.startswith("--kafka-")} <= OWN_KAFKA_FLAGS
    assert {f for f in flags if f.startswith("--mongo-")} <= OWN_MONGO_FLAGS


def test_kafka_settings_come_from_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSETFLOW_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("OFFSETFLOW_KAFKA_SASL_MECHANISM", "PLAIN")
    settings = KafkaSettings.resolve("broker:9092", ["sasl.mechanism=SCRAM-SHA-512", "sasl.username=u"])
    conf = settings.client_config(enable_auto_commit=False)
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"  # the flag beats the environment
    assert conf["sasl.username"] == "u"
    assert conf["enable.auto.commit"] is False
    assert conf["bootstrap.servers"] == "broker:9092"


def test_mongo_options_come_from_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFSETFLOW_MONGO_TLSCAFILE", "/etc/ca.pem")
    monkeypatch.setenv("OFFSETFLOW_MONGO_URI", "mongodb://ignored-here/")
    monkeypatch.setenv("OFFSETFLOW_MONGO_PORT", "27018")
    settings = MongoSettings.resolve("mongodb://db/", ["authSource=admin"])
    assert settings.options == {"tlscafile": "/etc/ca.pem", "authSource": "admin"}


def test_malformed_pass_through_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--kafka-config"):
        KafkaSettings.resolve("b:9092", ["no-equals-sign"])
