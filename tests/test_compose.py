"""docker-compose.yml cannot run here, so check what a parser can: structure and real CLI commands."""

from __future__ import annotations

from typing import Any

import typer.main
import yaml

from offsetflow.cli import app
from tests.cli import REPO
from tests.test_config import all_commands

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _offsetflow_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in COMPOSE["services"].items() if svc.get("image") == "offsetflow:local"}


def test_infrastructure_services_have_healthchecks_and_named_volumes() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["mongo"]["image"].startswith("mongo:")
    for name in ("kafka", "mongo"):
        assert "healthcheck" in services[name]
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in COMPOSE["volumes"]


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
        for arg in argv:
            if arg.startswith("--"):
                assert arg.split("=")[0] in known, f"service {name}: {arg} is not an option of {' '.join(path)}"


def test_offsetflow_services_wait_for_healthy_infrastructure() -> None:
    for name, service in _offsetflow_services().items():
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
        env = service["environment"]
        assert env["OFFSETFLOW_BOOTSTRAP_SERVERS"] == "kafka:19092", name
