"""Avro records in the Confluent Schema Registry wire format.

Every value is ``0x00`` (magic byte) + a 4-byte big-endian schema id + the Avro binary body, so any
Confluent-compatible tool can read the topics. offsetflow needs no registry: each ``schemas/*.avsc``
carries its fixed id in the ``offsetflow.schema_id`` attribute. Register the same files under those ids
if you run a Schema Registry.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """A payload that is not a valid record of a known schema; consumers send it to the dead-letter topic."""


@dataclass(frozen=True)
class Schema:
    name: str
    schema_id: int
    parsed: Any

    @property
    def field_names(self) -> tuple[str, ...]:
        """The record's fields, in schema order: the one list of them."""
        return tuple(str(f["name"]) for f in self.parsed["fields"])

    def encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC_BYTE, self.schema_id))
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()

    def decode(self, payload: bytes | None) -> dict[str, Any]:
        """Decode a framed payload written with this schema; anything else raises DecodeError."""
        if payload is None:
            raise DecodeError("empty payload (tombstone)")
        if len(payload) < _HEADER.size:
            raise DecodeError(f"payload of {len(payload)} bytes is shorter than the 5-byte header")
        magic, schema_id = _HEADER.unpack_from(payload)
        if magic != MAGIC_BYTE:
            raise DecodeError(f"unknown magic byte {magic} (expected {MAGIC_BYTE}: Confluent framing)")
        if schema_id != self.schema_id:
            raise DecodeError(f"schema id {schema_id} where {self.name} (id {self.schema_id}) was expected")
        body = io.BytesIO(payload)
        body.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(body, self.parsed, self.parsed)
        except Exception as exc:  # fastavro raises many kinds on corrupt input
            raise DecodeError(f"corrupt Avro body for {self.name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{self.name} payload did not decode to a record")
        if body.tell() != len(payload):
            raise DecodeError(f"{len(payload) - body.tell()} trailing bytes after the {self.name} record")
        return record


def schemas_dir() -> Path:
    """The ``.avsc`` files: packaged beside the code in a wheel, at the repo root in a checkout."""
    packaged = Path(__file__).parent / "_schemas"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "schemas"


@cache
def load(name: str) -> Schema:
    """Load ``schemas/<name>.avsc``, e.g. ``load("post_id")``."""
    path = schemas_dir() / f"{name}.avsc"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Schema(name=name, schema_id=int(raw["offsetflow.schema_id"]), parsed=fastavro.parse_schema(raw))


POST_ID = "post_id"
SMS_RAW = "sms_raw"
DEAD_LETTER = "dead_letter"


@cache
def _by_id() -> dict[int, Schema]:
    schemas = [load(path.stem) for path in sorted(schemas_dir().glob("*.avsc"))]
    return {s.schema_id: s for s in schemas}


def decode_any(payload: bytes | None) -> tuple[str, dict[str, Any]]:
    """Decode a payload of any of the project's schemas, chosen by the id in its header: (schema name, record)."""
    if payload is not None and len(payload) >= _HEADER.size:
        schema = _by_id().get(_HEADER.unpack_from(payload)[1])
        if schema is not None:
            return schema.name, schema.decode(payload)
    return "?", load(POST_ID).decode(payload)  # raises the DecodeError that says what is wrong
