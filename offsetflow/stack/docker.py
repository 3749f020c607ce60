"""A private Docker engine for the compose test: its own data root, socket and pid, started and stopped by us.

The engine never touches the machine's network setup (no iptables, no IP forwarding, no default bridge) and
its containers get no outside DNS server: they reach each other on the networks Compose creates, and the host
reaches them through ports published on 127.0.0.1. Nothing is ever pulled.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from offsetflow.stack.process import ManagedProcess, StackError, require_tool

_DOCKER_HINT = "install Debian's docker.io (apt-get install -y docker.io)"


@dataclass(frozen=True)
class Docker:
    """The docker CLI (and Compose) pointed at one engine's socket."""

    socket: Path
    binary: str = field(default_factory=lambda: _docker_cli())

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update({"DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"})
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300.0,
        stdin: IO[bytes] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS``; output captured; a failure raises StackError with the output."""
        result = subprocess.run(
            [self.binary, *args],
            env=self.env(),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise StackError(
                f"docker {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def answers(self) -> bool:
        try:
            return self.run("version", "--format", "{{.Server.Version}}", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False


def _docker_cli() -> str:
    # Debian's docker.io CLI matches its engine; another `docker` earlier on PATH may not.
    for candidate in ("/usr/bin/docker",):
        if Path(candidate).exists():
            return candidate
    return require_tool("docker", _DOCKER_HINT)


@dataclass(frozen=True)
class PrivateEngine:
    """dockerd with its data root under ``state_dir`` (kept: it caches images between runs) and its socket,
    exec root and pid file under ``run_dir`` (short paths: a unix socket path has at most 107 bytes)."""

    state_dir: Path
    run_dir: Path

    @property
    def data_root(self) -> Path:
        return self.state_dir / "data-root"

    @property
    def run_dir_note(self) -> Path:
        """Where the last start put its socket and exec root, for a cleanup by another process."""
        return self.state_dir / "run-dir"

    def recorded_run_dir(self) -> Path | None:
        try:
            return Path(self.run_dir_note.read_text().strip())
        except OSError:
            return None

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(
            "dockerd", self.state_dir / "dockerd.pid", self.state_dir / "dockerd.log", str(self.data_root)
        )

    @property
    def docker(self) -> Docker:
        return Docker(self.socket)

    def argv(self) -> list[str]:
        return [
            require_tool("dockerd", _DOCKER_HINT),
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--host={self.docker.host}",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",  # no docker0 on the host; Compose creates the project's own networks
            "--dns=127.0.0.1",  # containers get no outside DNS: names outside the project resolve nowhere
            "--log-driver=json-file",
            "--log-opt=max-size=20m",
        ]

    def start(self, timeout: float = 60.0) -> Docker:
        self.stop()  # one left behind by an interrupted run (its pid file names our data root)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process.log_file.write_text("")
        proc = self.process.start(self.argv(), cwd=self.state_dir)
        self.run_dir_note.write_text(f"{self.run_dir}\n")
        deadline = time.monotonic() + timeout
        while not (self.socket.exists() and self.docker.answers()):
            if proc.poll() is not None:
                self.process.pid_file.unlink(missing_ok=True)
                raise StackError(f"dockerd exited with code {proc.returncode}:\n{self.process.log_tail(30)}")
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"dockerd did not answer within {timeout:.0f}s:\n{self.process.log_tail(30)}")
            time.sleep(0.3)
        return self.docker

    def stop(self) -> str:
        """SIGTERM (dockerd stops its containers and the containerd it started), SIGKILL after 60 s; then make
        sure that containerd is gone too (its pid file is in our exec root, its command line names it)."""
        how = self.process.stop(timeout=60.0)
        run_dir = self.recorded_run_dir() or self.run_dir
        containerd = ManagedProcess(
            "containerd", run_dir / "exec" / "containerd" / "containerd.pid", self.process.log_file, str(run_dir)
        )
        if containerd.pid() is not None:
            how += f"; its containerd {containerd.stop(timeout=20.0)}"
        return how
