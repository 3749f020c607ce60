"""The ledger of paid batch jobs on Kafka: written before a job is created, read back by whoever resumes it."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException

from offsetflow.config import KafkaSettings
from offsetflow.sms.batch_ledger import BatchLedger, JobEntry


def entry(group: str, partition: int, first: int, last: int, file_id: str | None = None) -> JobEntry:
    return JobEntry(group, "sms.raw", partition, first, last, f"key-{partition}-{first}", "submitting", file_id)


def test_a_job_is_recorded_submitting_then_open_and_is_gone_once_closed(kafka: KafkaSettings, unique: str) -> None:
    ledger = BatchLedger(kafka, f"test.llm-batches.{unique}", "g1")
    job = entry("g1", 0, 100, 199, file_id="file-1")
    ledger.record(job)
    [seen] = ledger.entries("sms.raw", [0])
    assert (seen.state, seen.file_id, seen.batch_id, seen.job_key) == ("submitting", "file-1", None, "key-0-100")
    assert seen.updated_at > 0 and seen.covers(0, 150) and not seen.covers(0, 200) and not seen.covers(1, 150)

    ledger.record(job.opened("batch_000007"))
    [seen] = BatchLedger(kafka, f"test.llm-batches.{unique}", "g1").entries("sms.raw", [0])  # as a restart sees it
    assert (seen.state, seen.batch_id) == ("open", "batch_000007")

    ledger.close(job)
    assert ledger.entries("sms.raw", [0]) == []


def test_a_member_reads_only_its_groups_jobs_on_the_partitions_it_holds(kafka: KafkaSettings, unique: str) -> None:
    ledger = BatchLedger(kafka, f"test.llm-batches.{unique}", "g1")
    for job in (entry("g1", 0, 0, 9), entry("g1", 0, 10, 19), entry("g1", 1, 0, 9)):
        ledger.record(job)
    BatchLedger(kafka, f"test.llm-batches.{unique}", "g2").record(entry("g2", 0, 0, 9))
    assert [(e.partition, e.first_offset) for e in ledger.entries("sms.raw", [0])] == [(0, 0), (0, 10)]
    assert [(e.partition, e.first_offset) for e in ledger.entries("sms.raw", [0, 1])] == [(0, 0), (0, 10), (1, 0)]
    assert ledger.entries("other.topic", [0, 1]) == []


def test_the_member_a_partition_moves_to_fences_the_one_it_left(kafka: KafkaSettings, unique: str) -> None:
    old = BatchLedger(kafka, f"test.llm-batches.{unique}", "g1")
    old.claim("sms.raw", 0)
    new = BatchLedger(kafka, f"test.llm-batches.{unique}", "g1")
    new.claim("sms.raw", 0)
    with pytest.raises(KafkaException):
        old.record(entry("g1", 0, 0, 9))  # a member that lost the partition can no longer record jobs for it
    new.record(entry("g1", 0, 0, 9))
    assert len(new.entries("sms.raw", [0])) == 1
