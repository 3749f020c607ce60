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


_INT_RANGE = {pl.Int64: (-(2**63), 2**63 - 1), pl.Int32: (-(2**31), 2**31 - 1)}


class _Unfit(Exception):
    pass


def _value(value: Any, dtype: Any) -> Any:
    """``value`` as a column of ``dtype`` holds it, converting only without loss (a whole-number float count,
    as MongoDB often stores them, becomes an int); anything else raises ``_Unfit``. Stricter than polars'
    own row conversion, which turns ``2.5`` into 2, ``"5"`` into 5 and a string where a list belongs into null."""
    if value is None:
        return None
    if dtype == pl.String and isinstance(value, str):
        return value
    if dtype == pl.Boolean and isinstance(value, bool):
        return value
    if dtype in _INT_RANGE and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        low, high = _INT_RANGE[dtype]
        if isinstance(value, int) and low <= value <= high:
            return value
    if isinstance(dtype, pl.Datetime) and isinstance(value, datetime):
        return value
    if isinstance(dtype, pl.List) and isinstance(value, list):
        return [_value(item, dtype.inner) for item in value]
    raise _Unfit


def typed(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every value of its column's type, or an error naming the value that does not fit.

    Checked per post, at transform time: a source document with a list where a string belongs fails alone,
    before any sink sees it, and MongoDB and Parquet get the same values. A plain check, not a one-row polars
    frame: that cost more CPU than the rest of the transform, held the GIL the fetch threads wait for, and
    converted with loss (see ``_value``)."""
    out = {}
    for column, dtype in POST_ROW_SCHEMA.items():
        value = row.get(column)
        try:
            out[column] = _value(value, dtype)
        except _Unfit:
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:80] + "…"
            raise TypeError(f"{column} must be {dtype}, not {type(value).__name__} {shown}") from None
    return out


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
