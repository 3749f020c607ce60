"""Operating the pipelines: status, replay, dead letters, clean and metrics, on the real stack."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from confluent_kafka import Producer

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.ops.groups import Groups
from offsetflow.topics import dlq_for
from tests.cli import REPO, offsetflow
from tests.pipelines import Llm, PostsRun, SmsRun


def records_consumed(result: subprocess.CompletedProcess[str]) -> int:
    """From the consumer's closing line: `consume` has no --json, and no output shows how many records a rerun
    read again (the outputs it rewrites stay the same)."""
    match = re.search(r"done in [\d.]+s: ([\d,]+) records", result.stderr)
    assert match, result.stderr
    return int(match.group(1).replace(",", ""))


def status(*args: str) -> dict[str, Any]:
    return dict(json.loads(offsetflow("status", "--json", *args).stdout))


def redrive(*args: str) -> dict[str, Any]:
    return dict(json.loads(offsetflow("dlq", "redrive", "--json", *args).stdout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture()
def finished(run: PostsRun) -> PostsRun:
    """A posts pipeline that has consumed everything: 600 posts, 6 partitions, group idle."""
    run.seed(actors=10, per_actor=20)
    offsetflow(*run.produce_argv(10))
    offsetflow(*run.consume_argv("--until-idle", "3", "--chunk-rows", "40"))
    return run


@pytest.fixture()
def running(run: PostsRun) -> Iterator[tuple[PostsRun, subprocess.Popen[str], int]]:
    """A posts consumer at work (slowed by small batches), serving metrics on a free port."""
    run.seed(actors=20, per_actor=30)
    offsetflow(*run.produce_argv(20))
    port = free_port()
    proc = run.spawn(run.consume_argv("--batch-size", "20", "--chunk-max-age", "0.2", "--metrics-port", str(port)))
    wait_for(lambda: any(p["member"] for g in status("--group", run.group)["groups"] for p in g["partitions"]))
    yield run, proc, port
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)


def test_status_shows_each_partitions_checkpoint_lag_last_commit_and_chunk_files(finished: PostsRun) -> None:
    report = status("--group", finished.group, "--out", str(finished.out))
    [group] = report["groups"]
    assert group["members"] == [] and group["lag"] == 0
    partitions = group["partitions"]
    assert len(partitions) == 6
    # The producer is transactional; a finished group still shows lag 0 (commits step over the markers).
    assert all(p["committed"] == p["end"] and p["lag"] == 0 and p["eta_seconds"] == 0 for p in partitions)
    assert all(time.time() * 1000 - p["last_commit_ms"] < 120_000 for p in partitions)
    [output] = [o for o in report["outputs"] if o["topic"] == finished.topic]
    assert output["files"] == len(list(finished.out.glob("*/partition=*/*.parquet"))) >= 6
    assert output["partitions"] == 6
    table = offsetflow("status", "--group", finished.group, "--out", str(finished.out)).stdout
    assert finished.group in table and "no consumer running" in table and finished.topic in table


def test_status_and_metrics_show_a_running_consumer_at_work(running: tuple[PostsRun, Any, int]) -> None:
    run, _, port = running
    [group] = status("--group", run.group)["groups"]
    assert group["state"] == "stable" and len(group["members"]) == 1
    assert all(p["member"] for p in group["partitions"])
    wait_for(
        lambda: any(p["rate"] for p in status("--group", run.group)["groups"][0]["partitions"]),
        what="a recent rate from two commits",
    )
    labels = {"group": run.group, "topic": run.topic}
    wait_for(lambda: (metric(scrape(port), "offsetflow_records_total", **labels) or 0) > 0, what="records metric")
    wait_for(lambda: scrape(port).count("offsetflow_consumer_lag{") == 6, what="lag of all 6 partitions")
    text = scrape(port)
    assert (metric(text, "offsetflow_rows_written_total", **labels) or 0) > 0
    assert metric(text, "offsetflow_dead_letters_total", **labels) == 0
    assert (metric(text, "offsetflow_batch_seconds_count", **labels) or 0) > 0
    assert (metric(text, "offsetflow_commit_seconds_count", **labels) or 0) > 0
    for p in range(6):
        assert metric(text, "offsetflow_consumer_lag", partition=str(p), **labels) is not None
        assert metric(text, "offsetflow_committed_offset", partition=str(p), **labels) is not None


def test_replay_and_clean_refuse_while_the_group_has_a_running_consumer(running: tuple[PostsRun, Any, int]) -> None:
    run, proc, _ = running
    refused = offsetflow("replay", "--group", run.group, "--to", "earliest", check=False)
    assert refused.returncode == 1
    assert "running consumer" in refused.stderr and "Stop them first" in refused.stderr
    refused = offsetflow("clean", "--group", run.group, "--yes", check=False)
    assert refused.returncode == 1 and "running consumer" in refused.stderr
    assert proc.poll() is None, "the consumer was not disturbed"


def test_replay_to_earliest_then_rerun_leaves_outputs_unchanged_in_count_and_content(finished: PostsRun) -> None:
    before_rows = finished.parquet().sort("post_id")
    before_docs = sorted(finished.mongo["offsetflow"][finished.sink].find(), key=lambda d: d["_id"])
    before_files = sorted(p.name for p in finished.out.glob("*/partition=*/*.parquet"))

    dry = offsetflow("replay", "--group", finished.group, "--to", "earliest", "--dry-run")
    assert "dry run: nothing changed" in dry.stderr
    assert all(p["lag"] == 0 for p in status("--group", finished.group)["groups"][0]["partitions"])

    offsetflow("replay", "--group", finished.group, "--to", "earliest")
    assert status("--group", finished.group)["groups"][0]["lag"] >= 600
    rerun = offsetflow(*finished.consume_argv("--until-idle", "3", "--chunk-rows", "40"))
    assert records_consumed(rerun) == 600
    assert finished.parquet().sort("post_id").equals(before_rows)
    assert sorted(finished.mongo["offsetflow"][finished.sink].find(), key=lambda d: d["_id"]) == before_docs
    assert sorted(p.name for p in finished.out.glob("*/partition=*/*.parquet")) == before_files


def test_replay_to_a_datetime_moves_each_partition_to_its_first_record_written_after_it(
    run: PostsRun, kafka: KafkaSettings
) -> None:
    run.seed(actors=4, per_actor=25)
    posts = list(run.mongo[run.source].posts.find({}, {"_id": 1, "platform": 1, "actor_id": 1}).sort("_id"))
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config())

    def send(docs: list[dict[str, Any]]) -> None:
        for d in docs:
            record = {"post_id": d["_id"], "platform": d["platform"], "actor_id": d["actor_id"], "sample_seed": 7}
            producer.produce(run.topic, key=d["_id"].encode(), value=schema.encode(record))
        assert producer.flush(10) == 0

    early, late = posts[:150], posts[150:]
    send(early)
    offsetflow(*run.consume_argv("--until-idle", "3"))  # yesterday's run
    boundary = Groups(kafka).offsets(run.topic, "latest")
    time.sleep(1.5)
    cut = datetime.now().isoformat(timespec="milliseconds")
    time.sleep(0.5)
    send(late)
    offsetflow(*run.consume_argv("--until-idle", "3"))  # today's run, to be redone
    assert len(run.sink_ids()) == 300

    offsetflow("replay", "--group", run.group, "--to", cut)
    committed = {p["partition"]: p["committed"] for p in status("--group", run.group)["groups"][0]["partitions"]}
    assert committed == boundary
    rerun = offsetflow(*run.consume_argv("--until-idle", "3"))
    assert records_consumed(rerun) == 150
    assert len(run.sink_ids()) == 300
    frame = run.parquet()
    assert frame.height == frame["post_id"].n_unique() == 300


def test_a_dead_letter_is_redriven_once_after_its_cause_is_fixed(run: PostsRun, kafka: KafkaSettings) -> None:
    run.seed(actors=2, per_actor=3)
    offsetflow(*run.produce_argv(2))
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config())
    ghost = {"post_id": "tw-late-arrival", "platform": "twitter", "actor_id": "tw-actor-0000000", "sample_seed": 7}
    producer.produce(run.topic, key=b"tw-late-arrival", value=schema.encode(ghost))
    assert producer.flush(10) == 0
    offsetflow(*run.consume_argv("--until-idle", "3"))

    [letter] = json.loads(offsetflow("dlq", "list", "--topic", run.topic, "--json").stdout)
    assert letter["error_type"] == "not_found" and "tw-late-arrival" in letter["reason"]
    assert letter["origin"]["topic"] == run.topic and letter["consumer_group"] == run.group
    listing = offsetflow("dlq", "list", "--topic", run.topic).stdout
    assert "tw-late-arrival" in listing and "not_found" in listing
    [shown] = json.loads(offsetflow("dlq", "show", letter["id"], "--topic", run.topic).stdout)
    assert shown["payload_schema"] == "post_id" and shown["payload"]["post_id"] == "tw-late-arrival"

    # The cause: the post was not in MongoDB yet. Fix it, then redrive.
    source = run.mongo[run.source].posts
    template = source.find_one({"platform": "twitter"})
    assert template is not None
    source.insert_one({**template, "_id": "tw-late-arrival"})
    assert redrive("--topic", run.topic)["redriven"] == 1
    assert redrive("--topic", run.topic)["redriven"] == 0

    rerun = offsetflow(*run.consume_argv("--until-idle", "3"))
    assert records_consumed(rerun) == 1
    assert run.sink_ids().count("tw-late-arrival") == 1
    assert run.parquet()["post_id"].to_list().count("tw-late-arrival") == 1
    assert json.loads(offsetflow("dlq", "list", "--topic", run.topic, "--json").stdout) == []
    # Still the one dead letter, now redriven: the rerun failed nothing.
    [counts] = [d for d in status("--group", run.group)["dead_letters"] if d["topic"] == dlq_for(run.topic)]
    assert counts == {"topic": dlq_for(run.topic), "total": 1, "redriven": 1, "waiting": 0}


def test_clean_deletes_the_group_and_only_its_chunk_files_so_the_next_run_starts_over(finished: PostsRun) -> None:
    rows = finished.parquet().height
    (finished.out / "notes.txt").write_text("mine")
    argv = ["clean", "--group", finished.group, "--out", str(finished.out)]
    refused = offsetflow(*argv, check=False, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1 and "--yes" in refused.stderr

    done = offsetflow(*argv, "--yes")
    assert f"deleted group {finished.group}" in done.stderr
    assert not list(finished.out.glob("*/partition=*/*"))
    assert (finished.out / "notes.txt").read_text() == "mine"
    assert status("--group", finished.group)["groups"] == []

    rerun = offsetflow(*finished.consume_argv("--until-idle", "3"))
    assert records_consumed(rerun) == 600
    assert finished.parquet().height == rows == 600


def test_clean_of_chunk_files_alone_names_the_groups_that_will_not_rewrite_them(finished: PostsRun) -> None:
    done = offsetflow("clean", "--out", str(finished.out), "--yes")
    assert f"replay --group {finished.group} --to earliest" in done.stderr
    assert not list(finished.out.glob("*/partition=*/*.parquet"))


def test_sms_replay_reuses_stored_results_unless_forced_and_metrics_count_llm_calls(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory()
    sms_run.seed(users=2, per_user=10)
    sms_run.produce()
    port = free_port()
    first = sms_run.consume_argv(*llm.args("--llm-batch-size", "5"), "--metrics-port", str(port))
    proc = subprocess.Popen([sys.executable, "-m", "offsetflow", *first], cwd=REPO, stderr=subprocess.DEVNULL)
    labels = {"group": sms_run.group, "topic": sms_run.topic}
    wait_for(lambda: len(sms_run.results()) == 20, what="20 results")
    wait_for(lambda: (metric(scrape(port), "offsetflow_llm_calls_total", **labels) or 0) >= 4, what="llm metric")
    assert (metric(scrape(port), "offsetflow_llm_tokens_total", kind="prompt", **labels) or 0) > 0
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    calls = llm.stats()["calls"]

    offsetflow("replay", "--group", sms_run.group, "--to", "earliest")
    offsetflow(*sms_run.consume_argv(*llm.args(), "--until-idle", "3"))
    assert llm.stats()["calls"] == calls and len(sms_run.results()) == 20  # all 20 reused, none asked again

    offsetflow("replay", "--group", sms_run.group, "--to", "earliest")
    offsetflow(*sms_run.consume_argv(*llm.args("--llm-batch-size", "5"), "--force", "--until-idle", "3"))
    assert llm.stats()["calls"] == calls + 4
    assert len(sms_run.results()) == 20
    frame = pl.read_parquet(list(sms_run.out.glob("*/partition=*/*.parquet")))
    assert frame.height == frame["sms_id"].n_unique() == 20
