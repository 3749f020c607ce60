"""Seeded actor sampling: the same seed picks the same actors, whatever order the source returns them in."""

from __future__ import annotations

import random
from typing import Any

from pymongo.database import Database


def sample_actors(db: Database[dict[str, Any]], platform: str, count: int, seed: int) -> list[str]:
    ids = sorted(str(doc["_id"]) for doc in db["actors"].find({"platform": platform}, {"_id": 1}))
    rng = random.Random(f"sample:{seed}:{platform}")
    return sorted(rng.sample(ids, min(count, len(ids))))


def sampled_post_ids(db: Database[dict[str, Any]], actors: dict[str, list[str]]) -> dict[str, list[tuple[str, str]]]:
    """Per platform, (post id, actor id) of the sampled actors' posts in a stable order.

    One query for all platforms: on MongoDB it uses the (platform, actor_id) index; FerretDB scans the
    collection for it, so one scan instead of one per platform."""
    platform_of = {actor: platform for platform, ids in actors.items() for actor in ids}
    found: dict[str, list[tuple[str, str]]] = {platform: [] for platform in actors}
    query = {"platform": {"$in": list(actors)}, "actor_id": {"$in": list(platform_of)}}
    for doc in db["posts"].find(query, {"_id": 1, "actor_id": 1}).batch_size(10_000):
        actor = str(doc["actor_id"])
        found[platform_of[actor]].append((str(doc["_id"]), actor))
    return {platform: sorted(pairs) for platform, pairs in found.items()}
