"""A post's row is checked against the row schema at transform time: what passes, polars writes as it is;
what fails, fails alone with the column named. Pure: no broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from offsetflow.posts import synthetic
from offsetflow.posts.rows import POST_ROW_SCHEMA, post_row, typed
from offsetflow.stream.records import Origin

ORIGIN = Origin("posts.ids", 3, 17, None, None, None)


def _row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(POST_ROW_SCHEMA)
    row.update(post_id="p1", platform="twitter", created_at=datetime(2026, 1, 1, tzinfo=UTC), hashtags=["a"])
    row.update(fields)
    return row


def test_every_synthetic_post_becomes_a_row_polars_takes_strictly() -> None:
    rows = [
        post_row(doc, ORIGIN)
        for platform in ("twitter", "facebook", "telegram")
        for doc in synthetic.posts(platform, 3, 5, seed=2)
    ]
    frame = pl.DataFrame(rows, schema=POST_ROW_SCHEMA, orient="row", strict=True)
    assert frame.height == len(rows) and frame["source_offset"].unique().to_list() == [17]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("lang", ["en", "de"]),
        ("text", {"nested": True}),
        ("likes", "lots"),
        ("likes", "5"),
        ("likes", 2.5),
        ("likes", True),
        ("likes", 2**63),
        ("source_partition", 2**31),
        ("hashtags", ["a", 1]),
        ("hashtags", "a"),
        ("has_media", 1),
        ("created_at", "2026-01-01"),
    ],
)
def test_a_value_of_the_wrong_type_fails_naming_its_column(column: str, value: Any) -> None:
    """Including what polars' row conversion would take with loss: 2.5 likes as 2, "a" hashtags as null."""
    with pytest.raises(TypeError, match=f"^{column} must be"):
        typed(_row(**{column: value}))


def test_a_whole_number_float_count_is_taken_as_an_int() -> None:
    assert typed(_row(likes=12.0))["likes"] == 12


def test_missing_values_are_nulls_and_extra_keys_are_dropped() -> None:
    row = typed({"post_id": "p1", "platform": "telegram", "surprise": 1})
    assert list(row) == list(POST_ROW_SCHEMA) and row["likes"] is None and "surprise" not in row


def test_a_huge_value_is_shown_cut_in_the_reason() -> None:
    with pytest.raises(TypeError) as caught:
        typed(_row(text=["x" * 10_000]))
    assert len(str(caught.value)) < 200
