"""A Delta Lake table as a consumer's table output (``--format delta``), next to the default Parquet chunks.

Exactly once the way Spark's Delta sink does it: every commit of a partition's rows carries Delta's
application transaction (``txn``) action, app id ``<group>/<topic>/<partition>``, version the next offset
to read (last offset written + 1, Kafka's own convention for a committed offset). The table itself then says
how far it holds each partition. Kafka's offset is committed after the Delta commit; a crash between the two
redelivers rows the table already holds, and the sink drops every row below the recorded version. The check
and the commit are one optimistic transaction: delta-rs fails a commit when another commit carrying the same
app id landed since the snapshot it read (a zombie owner of the partition), and the sink then reads the
table again and drops what the other writer added.

The table is not partitioned by Kafka partition: the SMS rows carry no partition column (adding one would
make the table's schema differ from the Parquet chunks'), each flush writes one file for one partition
either way, and the Kafka partition count is a detail of ingestion, not a dimension anyone queries by.

On S3, delta-rs 1.x makes a commit file appear only if absent (``PUT`` with ``If-None-Match: *``), so
concurrent writers need no DynamoDB lock and no ``AWS_S3_ALLOW_UNSAFE_RENAME``; the server must honour that
header (AWS S3 since 2024, versitygw, MinIO, R2 do). ``deltalake`` is an optional extra: ``pip install
'offsetflow[delta]'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from offsetflow.config import ConfigError
from offsetflow.sinks.buffered import BufferedSink
from offsetflow.sinks.storage import Location, ObjectStoreError, filesystem, is_url, local_path, object_store_errors
from offsetflow.stream.contracts import PartitionResume
from offsetflow.stream.records import Output
from offsetflow.stream.retry import TransientError

if TYPE_CHECKING:
    from deltalake import DeltaTable

# How a consumer writes its table output: Parquet chunk files (the default) or one Delta table per topic.
TableFormat = Literal["parquet", "delta"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("parquet", "delta")

INSTALL_HINT = "--format delta needs the deltalake package: pip install 'offsetflow[delta]' (or pip install deltalake)"
_OFFSET = "__offset"  # the Kafka offset of each buffered row, dropped before the rows are written
_COMMIT_ATTEMPTS = 5  # a lost race with another writer of the same partition is resolved by reading again


def require_deltalake() -> None:
    """Fail at start, in one line saying how to install it, rather than at the first flush."""
    try:
        import deltalake  # noqa: F401
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc


def table_location(out: Location, topic: str) -> str:
    """``out/posts.ids.delta``, ``s3://bucket/prefix/posts.ids.delta``: beside the topic's chunk folder, never
    in it (a vacuum deletes every file the table's log does not name; chunk cleanup deletes by offset name)."""
    if is_url(out):
        return f"{str(out).rstrip('/')}/{topic}.delta"
    return str((local_path(out) / f"{topic}.delta").resolve())


def storage_options(location: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """delta-rs's own S3 options from the AWS SDK's variables, as ``sinks.storage`` reads them for s3fs: one
    set of variables configures both formats. ``allow_http`` for an ``http://`` endpoint (a local server)."""
    if not location.startswith(("s3://", "s3a://")):
        return {}
    source = env if env is not None else os.environ
    options = {
        name: source[name]
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
        if source.get(name)
    }
    endpoint = source.get("AWS_ENDPOINT_URL_S3") or source.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    region = source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    return options


def open_table(location: str) -> DeltaTable | None:
    """The table at its latest version, or None where none was created yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    with object_store_errors(f"reading the Delta table at {location}"):
        try:
            return DeltaTable(location, storage_options=storage_options(location))
        except TableNotFoundError:
            return None


def read_table(location: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The table's rows through polars (what a reader of the output would use)."""
    return pl.read_delta(
        location, columns=list(columns) if columns else None, storage_options=storage_options(location)
    )


class DeltaTableSink(BufferedSink):
    name = "delta"

    def __init__(
        self,
        out: Location,
        topic: str,
        group: str,
        schema: dict[str, Any],
        key_column: str,
        chunk_rows: int = 20_000,
        max_age: float = 60.0,
    ) -> None:
        require_deltalake()
        self.location = table_location(out, topic)
        self.topic = topic
        self.group = group
        super().__init__(schema, chunk_rows, max_age)
        self.key_column = key_column
        # Per partition, the next offset the table does not hold yet (its txn version): rows below it are in.
        self._held: dict[int, int] = {}
        # Keys the table holds (read on assignment) or this sink committed: a key Kafka delivers twice is
        # written once, as in the Parquet sink.
        self._keys: set[str] = set()
        self._keys_version: int | None = None
        self.commits = 0

    def app_id(self, partition: int) -> str:
        return f"{self.group}/{self.topic}/{partition}"

    def _already(self, out: Output) -> bool:
        return out.origin.offset < self._held.get(out.origin.partition, 0) or out.key in self._keys

    def _frame(self, outputs: Sequence[Output]) -> pl.DataFrame:
        offsets = pl.Series(_OFFSET, [o.origin.offset for o in outputs], dtype=pl.Int64)
        return super()._frame(outputs).with_columns(offsets)

    def _write_partition(self, partition: int) -> None:
        """One Delta transaction for the partition's buffered rows, carrying its txn version. The buffer is
        released only once the commit is in the log; a failure raises (an OSError: infrastructure, never
        blamed on the records) and leaves ``pending`` where it was, so nothing is committed past these rows."""
        from deltalake import CommitProperties, Transaction, write_deltalake
        from deltalake.exceptions import CommitFailedError

        buf = self._buffers[partition]
        frame = pl.concat(buf.frames, how="vertical")
        version = buf.last + 1
        app_id = self.app_id(partition)
        held = 0
        for _ in range(_COMMIT_ATTEMPTS):
            table = open_table(self.location)
            held = (table.transaction_version(app_id) if table is not None else None) or 0
            rows = frame.filter(pl.col(_OFFSET) >= held).drop(_OFFSET)
            if version <= held or rows.is_empty():
                break  # another writer (a previous owner) committed these offsets already
            try:
                with object_store_errors(f"committing to the Delta table at {self.location}"):
                    write_deltalake(
                        table if table is not None else self.location,
                        rows,
                        mode="append",
                        storage_options=None if table is not None else storage_options(self.location),
                        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, version)]),
                    )
            except ObjectStoreError as exc:
                if not isinstance(exc.__cause__, CommitFailedError):
                    raise
                continue  # a commit for this partition landed since our snapshot: read the table again
            self.commits += 1
            break
        else:
            # Writers of this partition keep landing first (a zombie still flushing): worth waiting for.
            lost = f"lost {_COMMIT_ATTEMPTS} commit races in a row"
            raise TransientError(f"{self.location}: partition {partition} {lost}")
        self._release(partition)
        self._held[partition] = max(self._held.get(partition, 0), version, held)
        self._keys.update(buf.keys)

    def assigned(self, partition: int, committed: int) -> PartitionResume:
        """Read how far the table holds this partition. Rows below that are skipped when redelivered (the
        Delta commit landed, the Kafka commit did not). Never a rewind: offsets past the table's version with
        no rows in it are records that made no row (dead letters), committed only once nothing was pending."""
        table = open_table(self.location)
        held = table.transaction_version(self.app_id(partition)) if table is not None else None
        self._held[partition] = held or 0
        self._drop(partition)
        if table is not None and table.version() != self._keys_version:
            with object_store_errors(f"reading keys of the Delta table at {self.location}"):
                keys = pl.read_delta(table, columns=[self.key_column]).get_column(self.key_column)
            self._keys = set(keys.to_list())
            self._keys_version = table.version()
        return PartitionResume()

    def revoked(self, partition: int) -> None:
        self._drop(partition)
        self._held.pop(partition, None)


def table_rows(location: str) -> int:
    """Rows in the table, for the consumer's closing report."""
    table = open_table(location)
    if table is None:
        return 0
    with object_store_errors(f"counting rows of the Delta table at {location}"):
        return int(pl.scan_delta(table).select(pl.len()).collect().item())


def report_line(location: str) -> str:
    """The consumer's closing line about its table: version and rows, read back from the table."""
    table = open_table(location)
    if table is None:
        return f"Delta: no table yet at {location}"
    return f"Delta: {table_rows(location):,} rows at version {table.version()} in {location}"


@dataclass(frozen=True)
class Maintenance:
    """What ``compact_table`` did (or, dry, would do): files merged into fewer, files no version needs deleted."""

    location: str
    files_removed: int
    files_added: int
    vacuumed: list[str]
    version: int
    dry_run: bool = False

    def describe(self) -> str:
        if self.dry_run:
            return (
                f"{self.location}: {self.files_removed} files at version {self.version} would be compacted; "
                f"{len(self.vacuumed)} unreferenced files past the retention would be deleted"
            )
        return (
            f"{self.location}: {self.files_removed} files merged into {self.files_added}, "
            f"{len(self.vacuumed)} unreferenced files deleted; now at version {self.version}"
        )


def table_topics(out: Location) -> list[str]:
    """Topics with a Delta table under ``out`` (``<topic>.delta`` folders holding a ``_delta_log``)."""
    if not is_url(out):
        root = local_path(out)
        return sorted(p.parent.name.removesuffix(".delta") for p in root.glob("*.delta/_delta_log") if p.is_dir())
    fs, path = filesystem(str(out))
    with object_store_errors(f"listing Delta tables under {out}"):
        names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)] if fs.exists(path) else []
    return sorted(
        n.removesuffix(".delta") for n in names if n.endswith(".delta") and fs.exists(f"{path}/{n}/_delta_log")
    )


def compact_table(
    location: Location, *, target_size: int | None = None, retention_hours: int = 168, dry_run: bool = False
) -> Maintenance:
    """Merge the table's small files (one per flush) into files of ``target_size`` bytes (delta-rs's default,
    100 MiB, when None), then vacuum files no version within ``retention_hours`` still references.

    Safe next to running consumers: a compaction rewrites data without changing it (``dataChange: false``)
    and carries no txn action, so appends and it commit around each other (either may land first; the other
    rebases on it). Vacuum deletes only files that versions older than the retention needed, which is why the
    retention must outlast the longest-running reader (7 days by default; delta-rs refuses less than the
    table's ``delta.deletedFileRetentionDuration`` unless told otherwise, and offsetflow does not tell it)."""
    require_deltalake()
    where = str(location) if is_url(location) else str(Path(local_path(location)).resolve())
    table = open_table(where)
    if table is None:
        raise ConfigError(f"{where}: no Delta table there (write one with `offsetflow consume ... --format delta`)")
    with object_store_errors(f"compacting the Delta table at {where}"):
        if dry_run:
            files = len(table.file_uris())
            vacuumed = table.vacuum(retention_hours=retention_hours, dry_run=True)
            return Maintenance(where, files, 0, vacuumed, table.version(), dry_run=True)
        metrics = table.optimize.compact(target_size=target_size)
        vacuumed = table.vacuum(retention_hours=retention_hours, dry_run=False)
    removed, added = int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0))
    return Maintenance(where, removed, added, vacuumed, table.version())
