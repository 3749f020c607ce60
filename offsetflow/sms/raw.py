"""The ``sms.raw`` record: what of a source SMS document goes onto the topic, and what a document must hold to
go. A document that fails here is the source's fault, so it is reported and dead-lettered by the producer
rather than failing later, at a consumer, as a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

FIELDS = ("sms_id", "user_id", "sender", "body", "received_at")


def sms_record(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``sms.raw`` record of a source document, or ValueError saying what about the document is wrong."""
    record = {k: doc.get(k) for k in FIELDS}
    wrong = [k for k in ("sms_id", "user_id", "sender", "body") if not isinstance(record[k], str)]
    if not isinstance(record["received_at"], datetime):
        wrong.append("received_at")
    if wrong:
        shown = ", ".join(f"{k}={type(record[k]).__name__}" for k in wrong)
        raise ValueError(
            f"fields of the wrong type or missing: {shown} (sms_id, user_id, sender, body are "
            "strings, received_at a date)"
        )
    return record
