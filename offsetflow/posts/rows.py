"""One flat, typed row per post, with the same columns on every platform."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from offsetflow.stream.records import Origin

POST_ROW_SCHEMA: dict[str, Any] = {
    "post_id": pl.String,
    "platform": pl.String,
    "actor_id": pl.String,
    "created_at": pl.Datetime("ms", "UTC"),
    "text": pl.String,
    "lang": pl.String,
    "likes": pl.Int64,
    "shares": pl.Int64,
    "comments": pl.Int64,
    "views": pl.Int64,
    "hashtags": pl.List(pl.String),
    "has_media": pl.Boolean,
    "source_partition": pl.Int32,
    "source_offset": pl.Int64,
}


_SCHEMA = pl.Schema(POST_ROW_SCHEMA)


def typed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every value of its column's type, or an error naming the value that does not fit.

    Checked per post, at transform time: a source document with a list where a string belongs fails alone,
    before any sink sees it, and MongoDB and Parquet get the same typed values."""
    return pl.DataFrame([row], schema=_SCHEMA, orient="row", strict=True).row(0, named=True)


def _get(doc: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)  # type: ignore[assignment]
    return doc


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def post_row(doc: dict[str, Any], origin: Origin) -> dict[str, Any]:
    platform = doc.get("platform")
    if platform == "twitter":
        created = _utc(doc["created_at"]) if isinstance(doc.get("created_at"), datetime) else None
        metrics = doc.get("public_metrics") or {}
        fields = {
            "created_at": created,
            "text": doc.get("text"),
            "lang": doc.get("lang"),
            "likes": metrics.get("like_count"),
            "shares": (metrics.get("retweet_count") or 0) + (metrics.get("quote_count") or 0),
            "comments": metrics.get("reply_count"),
            "views": metrics.get("impression_count"),
            "hashtags": [h["tag"] for h in _get(doc, "entities", "hashtags") or []],
            "has_media": bool(_get(doc, "attachments", "media_keys")),
        }
    elif platform == "facebook":
        stamp = doc.get("created_time")
        reactions = doc.get("reactions") or {}
        fields = {
            "created_at": datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC) if stamp else None,
            "text": doc.get("message"),
            "lang": None,
            "likes": sum(reactions.values()) if reactions else None,
            "shares": _get(doc, "shares", "count"),
            "comments": _get(doc, "comments", "summary", "total_count"),
            "views": None,
            "hashtags": [t["name"] for t in doc.get("message_tags") or []],
            "has_media": bool(_get(doc, "attachments", "data")),
        }
    elif platform == "telegram":
        date = doc.get("date")
        fields = {
            "created_at": datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None,
            "text": doc.get("message"),
            "lang": None,
            "likes": None,
            "shares": doc.get("forwards"),
            "comments": _get(doc, "replies", "replies"),
            "views": doc.get("views"),
            "hashtags": [w[1:] for w in (doc.get("message") or "").split() if w.startswith("#")],
            "has_media": "media" in doc,
        }
    else:
        raise ValueError(f"unknown platform {platform!r}")
    return typed(
        {
            "post_id": str(doc["_id"]),
            "platform": platform,
            "actor_id": doc.get("actor_id"),
            **fields,
            "source_partition": origin.partition,
            "source_offset": origin.offset,
        }
    )
