"""`consume sms --llm-mode batch` as a user runs it: SMS answered by Batch API jobs, each SMS sent once and each
job created once, however the consumer is stopped: killed while a job runs, killed between creating a job and
hearing its id, stopped with SIGTERM, or killed after the results are stored but before the commit."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import polars as pl

from offsetflow.sinks.chunks import list_chunks
from offsetflow.sms.source import RAW
from tests.cli import offsetflow
from tests.pipelines import Llm, SmsRun, spawn

BATCH = ("--llm-mode", "batch", "--llm-batch-poll", "0.2", "--llm-batch-size", "5")
TOTAL = 100


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def open_jobs(run: SmsRun) -> list[dict[str, object]]:
    report = json.loads(offsetflow("status", "--group", run.group, "--json", "--out", str(run.out)).stdout)
    jobs: list[dict[str, object]] = report["batch_jobs"]
    return jobs


class Output:
    """A child's output as it comes (read by a thread, so the test can wait for a line and still signal)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            self.text += line

    def all(self) -> str:
        self._reader.join(timeout=30)
        return self.text


def assert_each_sms_once_everywhere(run: SmsRun, llm: Llm) -> None:
    """One result, one mark and one Parquet row per SMS, and no SMS sent to the model twice (an SMS whose
    text was sent already is not sent at all: the content cache copies the result)."""
    stats = llm.stats()
    assert set(stats["sms_calls"].values()) == {1}  # in a job or online, never twice
    results = run.results()
    assert len(results) == TOTAL == len({r["sms_id"] for r in results})
    assert run.db[RAW].count_documents({"isprocessed": True}) == TOTAL
    rows = pl.read_parquet([c.path for c in list_chunks(run.out, run.topic)])
    assert rows.height == TOTAL == rows["sms_id"].n_unique()
    assert open_jobs(run) == []  # every job collected and its records committed


def test_batch_mode_answers_every_sms_through_jobs_without_an_online_call(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory(batch_delay=0.5)
    sms_run.seed(users=4, per_user=25)
    sms_run.produce()
    done = offsetflow(*sms_run.consume_argv(*llm.args(*BATCH), "--until-idle", "3"))
    stats = llm.stats()
    assert stats["calls"] == 0 and stats["batches"] >= 1
    assert f"batch jobs: {stats['batches']:,} created, 0 resumed" in done.stderr
    assert_each_sms_once_everywhere(sms_run, llm)


def test_a_consumer_killed_while_its_jobs_run_resumes_them_and_pays_for_no_sms_twice(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    """Killed while jobs run, then stopped with SIGTERM while it polls them again: `status` lists the jobs paid
    for, each restart polls them instead of creating them again, SIGTERM exits 0 without waiting hours."""
    llm = llm_factory(batch_delay=20.0)
    sms_run.seed(users=4, per_user=25)
    sms_run.produce()
    argv = sms_run.consume_argv(*llm.args(*BATCH))

    killed = spawn(argv)
    try:
        wait_for(lambda: llm.stats()["batches"] >= 1, "the first batch job")
        wait_for(lambda: any(j["batch_id"] for j in open_jobs(sms_run)), "status to list an open job")
    finally:
        killed.kill()
        killed.communicate()
    created = llm.stats()["batches"]
    listed = open_jobs(sms_run)
    assert listed and all(j["group"] == sms_run.group for j in listed)

    stopped = spawn(argv)
    output = Output(stopped)
    # Given the partitions once the killed member's session has expired; then it resumes the jobs and polls.
    wait_for(lambda: "partition " in output.text, "the restarted consumer to be given the partitions")
    time.sleep(3)
    stopped.send_signal(signal.SIGTERM)
    stopped.wait(timeout=60)
    said = output.all()
    assert stopped.returncode == 0, said
    assert "stopped while batch job" in said and "Traceback" not in said, said

    offsetflow(*argv, "--until-idle", "3", timeout=300)
    stats = llm.stats()
    assert stats["calls"] == 0
    assert stats["batches"] >= created  # jobs for SMS no killed run had sent, if any
    assert_each_sms_once_everywhere(sms_run, llm)


def test_a_consumer_killed_before_it_hears_its_job_id_finds_the_job_instead_of_creating_another(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    """The job exists on the server, the ledger says "submitting": the restart finds the job by its metadata."""
    llm = llm_factory(batch_delay=0.5, batch_create_delay=30.0)
    sms_run.seed(users=1, per_user=TOTAL)  # one user: one partition, one job
    sms_run.produce()
    argv = sms_run.consume_argv(*llm.args(*BATCH))
    killed = spawn(argv)
    try:
        wait_for(lambda: llm.stats()["batches"] == 1, "the job to be created")
        time.sleep(0.5)
    finally:
        killed.kill()
        killed.communicate()
    [entry] = open_jobs(sms_run)
    assert entry["state"] == "submitting" and entry["batch_id"] is None

    llm.server.behaviour.batch_create_delay = 0.0
    done = offsetflow(*argv, "--until-idle", "3", timeout=300)
    assert llm.stats()["batches"] == 1, done.stderr
    assert "1 resumed without paying again" in done.stderr
    assert_each_sms_once_everywhere(sms_run, llm)


def test_a_consumer_killed_after_storing_results_but_before_committing_pays_nothing_on_restart(
    sms_run: SmsRun, llm_factory: Callable[..., Llm]
) -> None:
    llm = llm_factory(batch_delay=0.5)
    sms_run.seed(users=4, per_user=25)
    sms_run.produce()
    argv = sms_run.consume_argv(*llm.args(*BATCH))
    # Chunks that never fill nor age hold the commit back: the results are stored, nothing is committed.
    held: subprocess.Popen[str] = spawn([*argv, "--chunk-rows", "1000000", "--chunk-max-age", "3600"])
    try:
        wait_for(lambda: len(sms_run.results()) == TOTAL, "every result to be stored")
    finally:
        held.kill()
        held.communicate()
    assert open_jobs(sms_run)  # paid for, not committed
    created = llm.stats()["batches"]

    offsetflow(*argv, "--until-idle", "3", timeout=300)
    assert llm.stats()["batches"] == created
    assert_each_sms_once_everywhere(sms_run, llm)
