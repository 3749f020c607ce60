"""The two pipelines as tests drive them: each run isolated in its own topics, group, databases and folder."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import polars as pl
from pymongo import MongoClient

from offsetflow.consumers import posts, sms
from offsetflow.posts.sampling import sample_actors
from offsetflow.sinks.chunks import list_chunks
from offsetflow.sms.extractors import Extractor
from offsetflow.stream.loop import LoopSettings
from offsetflow.stream.pipeline import Pipeline
from offsetflow.testing.llm_server import Behaviour, LlmServer
from offsetflow.topics import dlq_for
from tests.cli import REPO, offsetflow

PLATFORMS = "twitter,facebook,telegram"


def spawn(argv: list[str]) -> subprocess.Popen[str]:
    """``offsetflow *argv`` in the background, its output (stdout and stderr together) readable line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "offsetflow", *argv],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def loop(topic: str, group: str, batch_size: int, until_idle: float) -> LoopSettings:
    return LoopSettings(topic, group, dlq_for(topic), batch_size, until_idle=until_idle)


class PostsRun:
    """One isolated pipeline: its own source database, topics, group, sink collection and output folder."""

    def __init__(self, unique: str, out: Path, mongo: MongoClient[dict[str, Any]]) -> None:
        self.unique = unique
        self.source = f"social_{unique}"
        self.topic = f"test.posts.{unique}"
        self.group = f"posts-{unique}"
        self.sink = f"sampled_{unique}"
        self.out = out
        self.mongo = mongo

    def seed(self, actors: int, per_actor: int) -> None:
        offsetflow(
            "seed",
            "posts",
            "--platforms",
            PLATFORMS,
            "--actors",
            str(actors),
            "--posts-per-actor",
            str(per_actor),
            "--seed",
            "7",
            "--source-database",
            self.source,
        )
        offsetflow("topics", "create", "--posts-topic", self.topic, "--sms-topic", f"test.sms.{self.unique}")

    def produce_argv(self, sample: int, *extra: str) -> list[str]:
        return [
            "produce",
            "posts",
            "--platforms",
            PLATFORMS,
            "--sample-actors",
            str(sample),
            "--seed",
            "7",
            "--posts-topic",
            self.topic,
            "--source-database",
            self.source,
            *extra,
        ]

    def consume_argv(self, *extra: str) -> list[str]:
        return [
            "consume",
            "posts",
            "--out",
            str(self.out),
            "--group",
            self.group,
            "--posts-topic",
            self.topic,
            "--source-database",
            self.source,
            "--sink-collection",
            self.sink,
            *extra,
        ]

    def pipeline(self, until_idle: float = 2.0) -> Pipeline:
        """The consumer `consume_argv()` runs, built in this process."""
        settings = posts.PostsConsumer(
            loop(self.topic, self.group, 1000, until_idle),
            self.out,
            self.source,
            "posts",
            "offsetflow",
            self.sink,
            fetch_batch=500,
            fetch_workers=8,
            fetch_mode="auto",
            chunk_rows=20_000,
            chunk_max_age=30.0,
        )
        return posts.build(settings, self.mongo, self.mongo)

    def spawn(self, argv: list[str]) -> subprocess.Popen[str]:
        return spawn(argv)

    def parquet(self) -> pl.DataFrame:
        files = [c.path for c in list_chunks(self.out, self.topic)]
        return pl.read_parquet(files) if files else pl.DataFrame()

    def sink_ids(self) -> list[str]:
        return [d["_id"] for d in self.mongo["offsetflow"][self.sink].find({}, {"_id": 1})]

    def expected_ids(self, sample: int) -> set[str]:
        db = self.mongo[self.source]
        ids: set[str] = set()
        for platform in PLATFORMS.split(","):
            actors = sample_actors(db, platform, sample, 7)
            ids |= {d["_id"] for d in db.posts.find({"actor_id": {"$in": actors}}, {"_id": 1})}
        return ids


class Llm:
    def __init__(self, behaviour: Behaviour) -> None:
        self.server = LlmServer(0, behaviour)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats") as reply:
            return dict(json.loads(reply.read()))

    def args(self, *extra: str) -> list[str]:
        return ["--llm", "openai", "--llm-base-url", self.url, "--llm-model", "test-model", *extra]


class SmsRun:
    def __init__(self, unique: str, out: Path, mongo: MongoClient[dict[str, Any]]) -> None:
        self.mongo = mongo
        self.db_name = f"sms_{unique}"
        self.topic = f"test.sms.{unique}"
        self.group = f"sms-{unique}"
        self.out = out
        self.db = mongo[self.db_name]
        offsetflow("topics", "create", "--sms-topic", self.topic, "--posts-topic", f"test.posts.{unique}")

    def seed(self, users: int, per_user: int) -> None:
        offsetflow("seed", "sms", "--users", str(users), "--per-user", str(per_user), "--source-database", self.db_name)

    def produce(self, *extra: str) -> str:
        return offsetflow("produce", "sms", "--sms-topic", self.topic, "--source-database", self.db_name, *extra).stderr

    def consume_argv(self, *extra: str) -> list[str]:
        return [
            "consume",
            "sms",
            "--out",
            str(self.out),
            "--group",
            self.group,
            "--sms-topic",
            self.topic,
            "--source-database",
            self.db_name,
            *extra,
        ]

    def results(self) -> list[dict[str, Any]]:
        return list(self.db.financial_transactions.find())

    def pipeline(self, extractor: Extractor, until_idle: float = 2.0) -> Pipeline:
        """The consumer `consume_argv()` runs, built in this process."""
        settings = sms.SmsConsumer(
            loop(self.topic, self.group, 200, until_idle),
            self.out,
            self.db_name,
            force=False,
            chunk_rows=20_000,
            chunk_max_age=30.0,
        )
        return sms.build(settings, self.mongo, extractor)
