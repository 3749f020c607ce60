"""Background servers tracked by pid files, so ``down`` stops exactly what ``up`` started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """The local stack cannot be brought up or down; the message says what to do."""


@dataclass(frozen=True)
class ManagedProcess:
    """One server: its pid file, its log file, and a word its command line must contain.

    The marker guards against pid reuse: a stale pid file never makes us signal someone else's process.
    """

    name: str
    pid_file: Path
    log_file: Path
    marker: str

    def pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _is_running(pid) and self.marker in _cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal that ran `up` must not stop the server
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM, wait up to ``timeout`` for a clean shutdown, then SIGKILL. Returns what happened."""
        pid = self.pid()
        if pid is None:
            return "not running"
        os.kill(pid, signal.SIGTERM)
        how = "stopped"
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
            how = f"killed (no clean exit within {timeout:.0f}s)"
        self.pid_file.unlink(missing_ok=True)
        return how

    def kill(self) -> None:
        """SIGKILL without a clean shutdown: what a crash looks like (used by tests)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def wait_until_listening(
    server: ManagedProcess, proc: subprocess.Popen[bytes], host: str, port: int, timeout: float
) -> None:
    """Wait for the port of a server we just started; fail early, with its log, if it exits."""
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if proc.poll() is not None:
            server.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{server.name} exited with code {proc.returncode} while starting; "
                f"last lines of {server.log_file}:\n{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{server.name} did not listen on {host}:{port} within {timeout:.0f}s; see {server.log_file}"
            )
        time.sleep(0.2)


def _is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to a signal probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    state = stat.rsplit(")", 1)[1].split()[0]
    if state == "Z":  # a zombie child of ours: reap it so it really goes away
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_running(pid):
            return True
        time.sleep(0.1)
    return not _is_running(pid)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_tool(name: str, install_hint: str) -> str:
    """Absolute path of a tool on PATH, or a one-line error saying what to install."""
    from shutil import which

    path = which(name)
    if path is None:
        raise StackError(f"`{name}` not found on PATH: {install_hint}")
    return path


def run_step(argv: Sequence[str], cwd: Path, log_file: Path, what: str, env: dict[str, str] | None = None) -> None:
    """Run a one-off setup step (download, build, format), logging to a file; fail with its tail."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        result = subprocess.run(list(argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_file.read_text(errors="replace").splitlines()[-20:]
        raise StackError(f"{what} failed (exit {result.returncode}); see {log_file}:\n" + "\n".join(tail))
