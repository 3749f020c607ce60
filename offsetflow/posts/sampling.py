"""Seeded actor sampling: the same seed picks the same actors, whatever order the source returns them in."""

from __future__ import annotations

import random
from typing import Any

from pymongo.database import Database


def sample_actors(db: Database[dict[str, Any]], platform: str, count: int, seed: int) -> list[str]:
    ids = sorted(str(doc["_id"]) for doc in db["actors"].find({"platform": platform}, {"_id": 1}))
    rng = random.Random(f"sample:{seed}:{platform}")
    return sorted(rng.sample(ids, min(count, len(ids))))


def sampled_post_ids(db: Database[dict[str, Any]], platform: str, actors: list[str]) -> list[tuple[str, str]]:
    """(post id, actor id) of the sampled actors' posts, in a stable order."""
    cursor = db["posts"].find({"platform": platform, "actor_id": {"$in": actors}}, {"_id": 1, "actor_id": 1})
    return sorted((str(doc["_id"]), str(doc["actor_id"])) for doc in cursor.batch_size(10_000))
