"""docker-compose.yml and the Dockerfile: parsed here, and run for real by scripts/compose-test.

The end-to-end spec runs the README's "With Docker" section on a private Docker engine with locally built
stand-ins for the official Kafka and MongoDB images (no registry is reachable here); see DEVELOPERS.md.
CI runs it; OFFSETFLOW_SKIP_COMPOSE_TEST=1 leaves it out of a local run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import Any

import pytest
import typer.main
import yaml

from offsetflow.cli import app
from offsetflow.stack.compose_test import README_COMMANDS, readme_commands
from tests.cli import REPO
from tests.test_config import all_commands

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
CONSUMERS = ("posts-fetcher", "sms-processor")
COMPOSE_TEST_TIMEOUT = 40 * 60


def _offsetflow_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in COMPOSE["services"].items() if svc.get("image") == "offsetflow:local"}


def _default(value: str) -> str:
    """`${VAR:-default}` -> default (what a user without the variable gets)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_infrastructure_services_have_overridable_images_healthchecks_and_named_volumes() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"] == "${OFFSETFLOW_KAFKA_IMAGE:-apache/kafka:4.4.0}"
    assert services["mongo"]["image"] == "${OFFSETFLOW_MONGO_IMAGE:-mongo:7.0}"
    for name in ("kafka", "mongo"):
        assert "healthcheck" in services[name]
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in COMPOSE["volumes"]


def test_host_ports_are_overridable_and_bound_to_localhost() -> None:
    published = {name: svc.get("ports", []) for name, svc in COMPOSE["services"].items() if svc.get("ports")}
    assert published == {
        "kafka": ["127.0.0.1:${OFFSETFLOW_KAFKA_HOST_PORT:-9092}:9092"],
        "mongo": ["127.0.0.1:${OFFSETFLOW_MONGO_HOST_PORT:-27017}:27017"],
    }
    listeners = COMPOSE["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:${OFFSETFLOW_KAFKA_HOST_PORT:-9092}" in listeners


def test_every_offsetflow_service_runs_a_real_cli_command_with_real_flags() -> None:
    commands = {path: cmd for path, cmd in all_commands(typer.main.get_command(app))}
    services = _offsetflow_services()
    assert "topics" in services
    for name, service in services.items():
        argv = service["command"]
        words = tuple(arg for arg in argv if not arg.startswith("-"))
        path = next((words[:n] for n in range(len(words), 0, -1) if words[:n] in commands), None)
        assert path is not None, f"service {name}: {argv} is not an offsetflow command"
        known = {opt for param in commands[path].params for opt in param.opts}
        envvars = {param.envvar for param in commands[path].params}
        for arg in argv:
            if arg.startswith("--"):
                assert arg.split("=")[0] in known, f"service {name}: {arg} is not an option of {' '.join(path)}"
        for variable in service.get("environment", {}):
            if variable not in ("OFFSETFLOW_BOOTSTRAP_SERVERS", "OFFSETFLOW_MONGO_URI"):
                assert variable in envvars, f"service {name}: {variable} is not read by {' '.join(path)}"


def test_offsetflow_services_wait_for_healthy_infrastructure() -> None:
    for name, service in _offsetflow_services().items():
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
        env = service["environment"]
        assert env["OFFSETFLOW_BOOTSTRAP_SERVERS"] == "kafka:19092", name


def test_consumers_restart_after_a_crash_and_serve_metrics_for_their_healthcheck() -> None:
    for name in CONSUMERS:
        service = COMPOSE["services"][name]
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["OFFSETFLOW_METRICS_PORT"] == "9100"
        assert service["environment"]["OFFSETFLOW_GROUP_INSTANCE_ID"] == f"{name}-{{hostname}}"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "OFFSETFLOW_METRICS_PORT" in dockerfile
    assert re.search(r"^USER offsetflow$", dockerfile, re.M)
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.M)


def test_one_build_of_the_offsetflow_image_and_never_a_pull_of_it() -> None:
    built = [name for name, svc in COMPOSE["services"].items() if "build" in svc]
    assert built == ["topics"]
    for name, service in _offsetflow_services().items():
        assert service["pull_policy"] == ("build" if name == "topics" else "never"), name
    args = COMPOSE["services"]["topics"]["build"]["args"]
    assert _default(args["BASE_IMAGE"]) == "python:3.11-slim"


def test_readme_docker_section_is_what_the_compose_test_runs() -> None:
    assert readme_commands(REPO / "README.md") == README_COMMANDS


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("OFFSETFLOW_SKIP_COMPOSE_TEST")), reason="OFFSETFLOW_SKIP_COMPOSE_TEST set")
def test_readme_docker_section_runs_end_to_end() -> None:
    """scripts/compose-test: private dockerd, local images, Compose v2, the README's commands, a SIGKILLed
    consumer restarted by Docker, every output record exactly once in the Parquet volume and in MongoDB."""
    if os.geteuid() != 0:
        pytest.skip("the compose test runs its own dockerd and needs root")
    started = time.monotonic()
    # Its own session, so a timeout can SIGTERM the whole run: the script then takes everything down.
    proc = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "compose-test")],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=COMPOSE_TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=300)
        output += f"\n(compose test stopped after {COMPOSE_TEST_TIMEOUT}s)"
    print(output)
    tail = "\n".join(output.splitlines()[-150:])
    assert proc.returncode == 0, f"scripts/compose-test exited {proc.returncode}:\n{tail}"
    print(f"compose test: {time.monotonic() - started:.0f}s")
