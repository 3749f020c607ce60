"""The README's "With Docker" section, run for real: `python -m offsetflow.stack.compose_test`.

A private Docker engine, images built here (stand-ins for the official Kafka and MongoDB images), Compose v2,
then every command of the README's section in order, with checks from outside between them: healthchecks,
metrics, a consumer SIGKILLed mid-run and restarted by Docker, and every output record there exactly once in
the Parquet volume and in MongoDB. `down -v` and the engine stopped at the end, also when something fails.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from offsetflow.stack.docker import Docker, PrivateEngine
from offsetflow.stack.images import (
    BASE_IMAGE,
    COMPOSE_VERSION,
    KAFKA_STANDIN,
    MONGO_STANDIN,
    Builds,
    ensure_base,
    ensure_kafka_standin,
    ensure_mongo_standin,
    image_recipe,
)
from offsetflow.stack.local import default_cache_dir
from offsetflow.stack.process import StackError
from offsetflow.topics import POSTS_IDS, SMS_RAW, dlq_for

PROJECT = "offsetflow"
WHEELS = "build/docker-wheels"
T = TypeVar("T")

REPLAY = "docker compose run --rm ops replay --group posts-fetcher --to earliest"
# The README's "With Docker" block, command by command, is exactly this list (checked before anything runs).
README_COMMANDS = [
    "docker compose up -d kafka mongo topics",
    "docker compose --profile demo run --rm seed-posts",
    "docker compose --profile demo run --rm seed-sms",
    "docker compose up -d produce-posts posts-fetcher",
    "docker compose up -d --scale posts-fetcher=3 posts-fetcher",
    "docker compose up -d produce-sms sms-processor",
    "docker compose run --rm ops",
    "docker compose stop posts-fetcher",
    REPLAY,
    "docker compose start posts-fetcher",
    "docker compose run --rm ops dlq list",
    "docker compose down -v",
]


class ScenarioError(AssertionError):
    """A check of the compose test failed; the message says what was expected and what was seen."""


def say(message: str) -> None:
    print(f"[compose-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def readme_commands(readme: Path) -> list[str]:
    """The commands of the README's "With Docker" bash block, comments dropped."""
    text = readme.read_text()
    if "\n## With Docker\n" not in text:
        raise ScenarioError("README.md has no '## With Docker' section")
    section = text.split("\n## With Docker\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.join(words) for line in block.splitlines() if (words := shlex.split(line, comments=True))]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Poll ``probe`` until it returns something other than None; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = probe()
            if value is not None:
                return value
        except Exception as exc:
            last_error = f" (last error: {exc})"
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}{last_error}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Scenario:
    repo: Path
    docker: Docker
    compose: Path
    data_root: Path
    kafka_port: int = field(default_factory=free_port)
    mongo_port: int = field(default_factory=free_port)
    timings: list[tuple[str, float]] = field(default_factory=list)
    last_output: str = ""  # of the last README command
    replayed_at: float = 0.0  # wall clock: chunk files older than this were not rewritten by the replay

    def __post_init__(self) -> None:
        while self.mongo_port == self.kafka_port:
            self.mongo_port = free_port()

    # --- running things ---------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """A user's shell: no OFFSETFLOW_* of the caller's leaks in, only the documented overrides."""
        env = {k: v for k, v in self.docker.env().items() if not k.startswith(("OFFSETFLOW_", "COMPOSE_"))}
        env.update(
            {
                "OFFSETFLOW_KAFKA_IMAGE": KAFKA_STANDIN,
                "OFFSETFLOW_MONGO_IMAGE": MONGO_STANDIN,
                "OFFSETFLOW_BASE_IMAGE": BASE_IMAGE,
                "OFFSETFLOW_WHEELS": WHEELS,
                "OFFSETFLOW_KAFKA_HOST_PORT": str(self.kafka_port),
                "OFFSETFLOW_MONGO_HOST_PORT": str(self.mongo_port),
                "COMPOSE_ANSI": "never",
                "COMPOSE_PROGRESS": "plain",
            }
        )
        return env

    def compose_run(self, words: list[str], timeout: float = 900.0, check: bool = True) -> str:
        """Run ``docker compose WORDS`` with the built Compose binary; output echoed and returned."""
        code, output = self.compose_try(words, timeout)
        if check and code != 0:
            raise ScenarioError(f"`docker compose {shlex.join(words)}` exited {code}")
        return output

    def compose_try(self, words: list[str], timeout: float = 900.0) -> tuple[int, str]:
        started = time.monotonic()
        proc = subprocess.run(
            [str(self.compose), *words],
            cwd=self.repo,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        for line in proc.stdout.splitlines():
            print(f"    | {line}", flush=True)
        self.timings.append((f"docker compose {shlex.join(words)}", time.monotonic() - started))
        return proc.returncode, proc.stdout

    def containers(self, service: str) -> list[dict[str, Any]]:
        ids = self.docker.run(
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout.split()
        if not ids:
            return []
        found: list[dict[str, Any]] = json.loads(self.docker.run("inspect", *ids).stdout)
        return sorted(found, key=lambda c: str(c["Name"]))

    def health(self, container: dict[str, Any]) -> str:
        state = container["State"]
        return str(state["Health"]["Status"]) if state.get("Health") else str(state["Status"])

    def wait_healthy(self, service: str, replicas: int = 1, timeout: float = 240.0) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]] | None:
            found = [c for c in self.containers(service) if c["State"]["Running"]]
            healthy = [c for c in found if self.health(c) == "healthy"]
            return healthy if len(healthy) >= replicas else None

        found = wait_for(f"{replicas} healthy {service} container(s)", probe, timeout)
        say(f"{service}: {len(found)} container(s) healthy")
        return found

    def wait_exited_ok(self, service: str, timeout: float = 600.0) -> None:
        def probe() -> list[int] | None:
            found = self.containers(service)
            if not found or any(c["State"]["Running"] or c["State"]["Restarting"] for c in found):
                return None
            return [int(c["State"]["ExitCode"]) for c in found]

        codes = wait_for(f"{service} to finish", probe, timeout)
        if any(codes):
            raise ScenarioError(f"{service} exited with {codes}")
        say(f"{service}: exited 0")

    def metrics(self, container: dict[str, Any]) -> str:
        """GET :9100/metrics of a container, from the host, over the project's own network."""
        networks = container["NetworkSettings"]["Networks"]
        address = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
        with urllib.request.urlopen(f"http://{address}:9100/metrics", timeout=5) as response:
            body: bytes = response.read()
        return body.decode()

    # --- outside views of the outputs ---------------------------------------------------------------------
    def kafka(self) -> Any:
        from offsetflow.config import KafkaSettings

        return KafkaSettings(bootstrap_servers=f"127.0.0.1:{self.kafka_port}")

    def group_lag(self, group: str, topic: str) -> tuple[int, int]:
        """(lag, members) of a group, through the published Kafka port. Asked in a child process: describing a
        group while it forms crashed this process with SIGSEGV inside confluent-kafka's admin client here."""
        code = (
            "import json, sys\n"
            "from offsetflow.config import KafkaSettings\n"
            "from offsetflow.ops.groups import Groups\n"
            "s = Groups(KafkaSettings(bootstrap_servers=sys.argv[1])).describe(sys.argv[2], [sys.argv[3]])\n"
            "print(json.dumps([s.lag, len(s.members)]))\n"
        )
        argv = [sys.executable, "-c", code, f"127.0.0.1:{self.kafka_port}", group, topic]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise ScenarioError(f"describing group {group} failed (exit {result.returncode}): {result.stderr[-500:]}")
        lag, members = json.loads(result.stdout.strip().splitlines()[-1])
        return int(lag), int(members)

    def keys(self, topic: str) -> list[str]:
        from offsetflow.topic_reader import read_topic

        return [r.key.decode() for r in read_topic(self.kafka(), topic) if r.key is not None]

    def mongo(self) -> Any:
        from pymongo import MongoClient

        return MongoClient(f"mongodb://127.0.0.1:{self.mongo_port}/", serverSelectionTimeoutMS=10000)

    def parquet_column(self, subdir: str, column: str) -> tuple[list[str], list[Path]]:
        import polars as pl

        directory = self.data_root / "volumes" / f"{PROJECT}_out" / "_data" / subdir
        files = sorted(directory.rglob("*.parquet"))  # partition=N/<topic>+<p>+<first>+<last>.parquet
        values: list[str] = []
        for path in files:
            values += [str(v) for v in pl.read_parquet(path, columns=[column])[column].to_list()]
        return values, files

    def check_posts_exactly_once(self) -> list[Path]:
        ids = self.keys("posts.ids")
        dead = set(self.keys(dlq_for(POSTS_IDS)))
        expected = set(ids) - dead
        rows, files = self.parquet_column("posts", "post_id")
        if len(rows) != len(set(rows)):
            raise ScenarioError(f"Parquet posts: {len(rows) - len(set(rows))} duplicate rows")
        if set(rows) != expected:
            raise ScenarioError(
                f"Parquet posts: {len(expected - set(rows))} missing, {len(set(rows) - expected)} unexpected "
                f"(topic {len(set(ids))} ids, {len(dead)} dead letters)"
            )
        with self.mongo() as client:
            stored = [str(d["_id"]) for d in client["offsetflow"]["sampled_posts"].find({}, {"_id": 1})]
        if len(stored) != len(set(stored)) or set(stored) != expected:
            raise ScenarioError(f"MongoDB sampled_posts: {len(stored)} documents, expected the {len(expected)} ids")
        say(
            f"posts exactly once: {len(rows)} rows in {len(files)} Parquet chunks and {len(stored)} MongoDB "
            f"documents = {len(set(ids))} ids on posts.ids - {len(dead)} dead letters"
        )
        return files

    def check_sms_exactly_once(self) -> None:
        rows, files = self.parquet_column("sms", "sms_id")
        dead = len(self.keys(dlq_for(SMS_RAW)))
        with self.mongo() as client:
            db = client["sms"]
            raw = {str(d["_id"]) for d in db["sms_fin_rawdata"].find({}, {"_id": 1})}
            pending = db["sms_fin_rawdata"].count_documents({"isprocessed": {"$ne": True}})
            results = [str(d["_id"]) for d in db["financial_transactions"].find({}, {"_id": 1})]
        if len(rows) != len(set(rows)):
            raise ScenarioError(f"Parquet SMS: {len(rows) - len(set(rows))} duplicate rows")
        if len(results) != len(set(results)) or set(results) != set(rows):
            raise ScenarioError(f"SMS: {len(results)} MongoDB results but {len(rows)} Parquet rows")
        if not set(rows) <= raw or len(rows) + dead != len(raw) or pending != dead:
            raise ScenarioError(
                f"SMS: {len(raw)} in the source, {len(rows)} results, {dead} dead letters, {pending} not processed"
            )
        say(f"SMS exactly once: {len(rows)} results in {len(files)} Parquet chunks and MongoDB, {dead} dead letters")

    def wait_drained(self, group: str, topic: str, producer: str, timeout: float = 600.0) -> None:
        self.wait_exited_ok(producer, timeout)

        def probe() -> bool | None:
            lag, _ = self.group_lag(group, topic)
            return True if lag == 0 else None

        wait_for(f"group {group} to catch up on {topic}", probe, timeout, interval=2.0)
        say(f"{group}: caught up on {topic}")

    # --- the crash ------------------------------------------------------------------------------------------
    def crash_a_fetcher_mid_run(self) -> None:
        """SIGKILL a fetcher's process from the host while the pipeline has records left (as the OOM killer
        would; `docker kill` would count as a manual stop and disable the restart policy), then see Docker
        start it again (restart: unless-stopped) and the replica serve again. Records left means the producer
        still runs or the group's committed offsets are behind the topic's end."""
        deadline = time.monotonic() + 300
        victim: dict[str, Any] | None = None
        while victim is None:
            if time.monotonic() > deadline:
                raise ScenarioError("no posts-fetcher replica processed records within 300s")
            producers = self.containers("produce-posts")
            producing = not producers or any(c["State"]["Running"] for c in producers)
            lag: int | None = None
            with contextlib.suppress(ScenarioError):  # unknown for now: decide on the next round
                lag, _ = self.group_lag("posts-fetcher", "posts.ids")
            if not producing and lag == 0:
                raise ScenarioError("the posts pipeline finished before a fetcher could be killed mid-run")
            if not producing and lag is None:
                continue
            for container in self.containers("posts-fetcher"):
                if not container["State"]["Running"]:
                    continue
                try:
                    done = metric_sum(self.metrics(container), "offsetflow_records_total")
                except (OSError, StopIteration):  # not serving metrics yet
                    continue
                if done > 0:
                    victim = container
                    break
            else:
                time.sleep(0.3)
        assert victim is not None
        name = str(victim["Name"]).lstrip("/")
        pid = int(victim["State"]["Pid"])
        restarts = int(victim["RestartCount"])
        os.kill(pid, signal.SIGKILL)
        # Evidence it was mid-run: with the victim dead nobody commits for its partitions, so the lag now is the
        # lag at the kill (the others, if any, only shrink theirs).
        producing = any(c["State"]["Running"] for c in self.containers("produce-posts"))
        lag_after, _ = self.group_lag("posts-fetcher", "posts.ids")
        if lag_after == 0 and not producing:
            raise ScenarioError(f"{name} was killed after the posts pipeline had finished: not mid-run")
        say(f"SIGKILLed {name} (host pid {pid}) mid-run: group lag {lag_after}, producer running: {producing}")

        def back() -> dict[str, Any] | None:
            found = json.loads(self.docker.run("inspect", name).stdout)[0]
            restarted = found["RestartCount"] > restarts and found["State"]["Running"]
            return found if restarted and self.health(found) == "healthy" else None

        found = wait_for(f"Docker to restart {name} (restart: unless-stopped)", back, 240)
        if found["State"]["Pid"] == pid:
            raise ScenarioError(f"{name} still runs pid {pid}")
        say(f"{name}: restarted by Docker (restart count {found['RestartCount']}), healthy, metrics answer")

    # --- the README, command by command -------------------------------------------------------------------
    def run(self) -> None:
        commands = readme_commands(self.repo / "README.md")
        if commands != README_COMMANDS:
            raise ScenarioError(
                "README.md's 'With Docker' commands differ from what the compose test runs:\n"
                + "\n".join(f"  README: {c}" for c in commands)
                + "\n"
                + "\n".join(f"  test:   {c}" for c in README_COMMANDS)
            )
        checks: dict[str, Callable[[], None]] = {
            "docker compose up -d kafka mongo topics": self.after_infrastructure,
            "docker compose up -d produce-posts posts-fetcher": self.crash_a_fetcher_mid_run,
            "docker compose up -d --scale posts-fetcher=3 posts-fetcher": self.after_scale,
            "docker compose up -d produce-sms sms-processor": self.after_sms,
            "docker compose run --rm ops": self.after_status,
            "docker compose stop posts-fetcher": self.after_stop,
            "docker compose start posts-fetcher": self.after_replay_start,
            "docker compose down -v": self.after_down,
        }
        for command in commands:
            words = shlex.split(command)[2:]
            say(f"$ {command}")
            output = self.replay_as_a_user_would(words) if command == REPLAY else self.compose_run(words)
            self.last_output = output
            check = checks.get(command)
            if check is not None:
                check()

    def after_infrastructure(self) -> None:
        self.wait_healthy("kafka")
        self.wait_healthy("mongo")
        self.wait_exited_ok("topics")
        user = self.docker.run("run", "--rm", "--entrypoint", "id", "offsetflow:local", "-u").stdout.strip()
        if user == "0":
            raise ScenarioError("the offsetflow image runs as root")
        say(f"offsetflow image runs as uid {user}")

    def after_scale(self) -> None:
        self.wait_healthy("posts-fetcher", replicas=3)

    def after_sms(self) -> None:
        for container in self.wait_healthy("sms-processor"):
            if "offsetflow_llm_calls_total" not in self.metrics(container):
                raise ScenarioError("sms-processor metrics lack offsetflow_llm_calls_total")
        for container in self.wait_healthy("posts-fetcher", replicas=3):
            if "offsetflow_records_total" not in self.metrics(container):
                raise ScenarioError(f"{container['Name']} metrics lack offsetflow_records_total")
        say("metrics answer on :9100 of every consumer")
        self.wait_drained("posts-fetcher", "posts.ids", "produce-posts")
        self.wait_drained("sms-processor", "sms.raw", "produce-sms")
        self.check_posts_exactly_once()
        self.check_sms_exactly_once()

    def after_status(self) -> None:
        for word in ("posts-fetcher", "sms-processor"):
            if word not in self.last_output:
                raise ScenarioError(f"`ops` status does not mention {word}")

    def after_stop(self) -> None:
        self.replayed_at = time.time()

    def replay_as_a_user_would(self, words: list[str]) -> str:
        """Stopped static members stay in the group until their session times out (10 s), and replay refuses
        while the group has members (the README says so). Run it; if it refuses, it must say why, then run it
        again once the group is empty, as the README tells users to."""
        code, output = self.compose_try(words)
        if code == 0:
            return output
        if "running consumer" not in " ".join(output.split()):  # the message may be wrapped
            raise ScenarioError(f"replay exited {code} without saying the group still has consumers")

        def idle() -> bool | None:
            _, members = self.group_lag("posts-fetcher", "posts.ids")
            return True if members == 0 else None

        say("replay refused while the stopped consumers were still members; again once they are gone")
        wait_for("posts-fetcher to have no members left", idle, 120)
        return self.compose_run(words)

    def after_replay_start(self) -> None:
        expected = len(self.keys("posts.ids"))
        self.wait_healthy("posts-fetcher", replicas=3)

        def reprocessed() -> bool | None:
            lag, _ = self.group_lag("posts-fetcher", "posts.ids")
            done = sum(
                metric_sum(self.metrics(c), "offsetflow_records_total") for c in self.containers("posts-fetcher")
            )
            return True if lag == 0 and done >= expected else None

        wait_for("the replayed posts-fetcher group to reprocess every record", reprocessed, 600, interval=2.0)
        files = self.check_posts_exactly_once()
        stale = [p.name for p in files if p.stat().st_mtime < self.replayed_at]
        if stale:
            raise ScenarioError(f"{len(stale)} chunk files were not rewritten after the replay: {stale[:3]}")
        say(f"replay: all {len(files)} posts chunks rewritten, no duplicates")

    def after_down(self) -> None:
        left = self.docker.run("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.split()
        volumes = self.docker.run("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
        if left or volumes.stdout.split():
            raise ScenarioError(f"after down -v: containers {left}, volumes {volumes.stdout.split()}")
        say("down -v: no containers, no volumes left")

    def dump_logs(self) -> None:
        say("container states and logs:")
        self.compose_run(["ps", "-a"], check=False, timeout=60)
        self.compose_run(
            ["--profile", "demo", "--profile", "ops", "logs", "--no-color", "--tail", "60"], check=False, timeout=120
        )


@contextmanager
def one_run_at_a_time(cache: Path, timeout: float = 1800.0) -> Iterator[None]:
    """Runs sharing a cache share its engine: a second run waits for the first (which would otherwise take
    the first's dockerd for a leftover and stop it). The lock goes with the process, so a killed run frees it."""
    path = cache / "compose-test" / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ScenarioError(f"another compose test held {path} for {timeout:.0f}s") from None
                if not waiting:
                    lock.seek(0)
                    say(f"waiting for another compose test using this cache ({lock.read().strip()}) to finish")
                    waiting = True
                time.sleep(2)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        yield


@contextmanager
def private_engine(cache: Path) -> Iterator[PrivateEngine]:
    run_dir = Path(tempfile.mkdtemp(prefix="offsetflow-dockerd-"))
    engine = PrivateEngine(cache / "compose-test" / "engine", run_dir)
    try:
        yield engine
    finally:
        say(f"dockerd: {engine.stop()}")
        subprocess.run(["rm", "-rf", str(run_dir)], check=False)


def timed(what: str, step: Callable[[], T]) -> T:
    started = time.monotonic()
    result = step()
    say(f"{what}: {time.monotonic() - started:.0f}s")
    return result


def build_everything(repo: Path, builds: Builds, engine: PrivateEngine) -> tuple[Docker, Path]:
    """Host builds (Compose in a thread: Go is CPU, debootstrap is mostly download), then the images."""
    errors: list[BaseException] = []

    def compose_build() -> None:
        try:
            timed(f"Compose {COMPOSE_VERSION} (Go, in parallel)", builds.build_compose)
        except BaseException as exc:
            errors.append(exc)

    if not builds.compose.exists():
        say(f"building Compose {COMPOSE_VERSION} from its Go module (once)")
    compose_thread = threading.Thread(target=compose_build, name="compose-build")
    compose_thread.start()
    try:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("Debian base (debootstrap)", builds.build_rootfs),
            ("Kafka jars (Maven)", builds.fetch_kafka_libs),
            ("FerretDB (Go)", builds.ferretdb),
            ("mongosh stand-in (Go)", builds.build_mongosh),
            ("offsetflow wheels (pip wheel)", lambda: builds.build_wheels(repo, repo / WHEELS)),
        ]
        for what, step in steps:
            timed(what, step)
    finally:
        compose_thread.join()
    if errors:
        raise errors[0]
    docker = timed("private dockerd start", engine.start)
    timed(f"image {BASE_IMAGE}", lambda: ensure_base(docker, builds))
    timed(f"image {KAFKA_STANDIN}", lambda: ensure_kafka_standin(docker, builds))
    timed(f"image {MONGO_STANDIN}", lambda: ensure_mongo_standin(docker, builds))
    for image in (BASE_IMAGE, KAFKA_STANDIN, MONGO_STANDIN):
        if image_recipe(docker, image) is None:
            raise ScenarioError(f"{image} was not built")
    return docker, builds.compose


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cleanup(cache: Path, repo: Path) -> int:
    """After a run died without its finally blocks (SIGKILL, a crash): `down -v` and stop its dockerd."""
    lock_path = cache / "compose-test" / "run.lock"
    if not lock_path.exists():
        return 0
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another compose test runs: it takes care of leftovers itself")
            return 0
        state = cache / "compose-test" / "engine"
        run_dir = PrivateEngine(state, state).recorded_run_dir() or state
        engine = PrivateEngine(state, run_dir)
        if engine.process.pid() is None:
            return 0
        compose = Builds(cache).compose
        if compose.exists() and engine.socket.exists():
            scenario = Scenario(repo, engine.docker, compose, engine.data_root)
            down = ["--profile", "demo", "--profile", "ops", "down", "-v", "--remove-orphans", "--timeout", "10"]
            scenario.compose_run(down, check=False, timeout=300)
        say(f"leftover dockerd: {engine.stop()}")
        if run_dir != state:
            subprocess.run(["rm", "-rf", str(run_dir)], check=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/compose-test", description=__doc__)
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="default: OFFSETFLOW_CACHE_DIR or ~/.cache/offsetflow"
    )
    parser.add_argument(
        "--cleanup", action="store_true", help="take down what a run that died (a crash) left running, and exit"
    )
    args = parser.parse_args(argv)
    faulthandler.enable()
    signal.signal(signal.SIGTERM, _interrupted)  # a killed run still takes everything down (finally blocks)
    cache = (args.cache_dir or Path(os.environ.get("OFFSETFLOW_CACHE_DIR") or default_cache_dir())).resolve()
    repo = Path(__file__).resolve().parents[2]
    if args.cleanup:
        return cleanup(cache, repo)
    started = time.monotonic()
    builds = Builds(cache)
    scenario: Scenario | None = None
    ok = False
    with one_run_at_a_time(cache), private_engine(cache) as engine:
        try:
            docker, compose = build_everything(repo, builds, engine)
            say(f"built or found everything in {time.monotonic() - started:.0f}s (cache {cache})")
            scenario = Scenario(repo, docker, compose, engine.data_root)
            scenario.compose_run(["down", "-v", "--remove-orphans"], timeout=300)  # leftovers of a killed run
            scenario.run()
            ok = True
        except (ScenarioError, StackError, subprocess.TimeoutExpired) as exc:
            say(f"FAILED: {exc}")
            if scenario is not None:
                scenario.dump_logs()
        finally:
            if scenario is not None:
                scenario.compose_run(
                    ["--profile", "demo", "--profile", "ops", "down", "-v", "--remove-orphans", "--timeout", "20"],
                    check=False,
                    timeout=300,
                )
                engine.docker.run("container", "prune", "-f", check=False)  # a failed build's leftovers
                engine.docker.run("image", "prune", "-f", check=False)  # the Dockerfile's build stages
                images = engine.docker.run("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", check=False)
                say("images: " + ", ".join(images.stdout.split("\n")).strip(", "))
                for label, seconds in scenario.timings:
                    say(f"{seconds:7.1f}s  {label}")
    say(f"{'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
