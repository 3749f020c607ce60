"""Writing the synthetic source into MongoDB in bulk."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from offsetflow.posts import synthetic
from offsetflow.seeding import SourceNotEmpty


def seed_posts(
    db: Database[dict[str, Any]],
    platforms: Sequence[str],
    actors: int,
    per_actor: int,
    seed: int,
    replace: bool = False,
    batch: int = 10_000,
    on_progress: Callable[[int], None] = lambda n: None,
) -> tuple[int, int]:
    """Insert actors and posts; returns (actors, posts). Refuses to mix into existing data unless ``replace``."""
    unknown = sorted(set(platforms) - set(synthetic.PLATFORMS))
    if unknown:
        raise ValueError(f"unknown platform(s) {', '.join(unknown)}; choose from {', '.join(synthetic.PLATFORMS)}")
    existing = db["posts"].estimated_document_count() + db["actors"].estimated_document_count()
    if existing and not replace:
        raise SourceNotEmpty(db.name, ("posts", "actors"), existing, "documents")
    db.drop_collection("posts")
    db.drop_collection("actors")
    n_actors = n_posts = 0
    for platform in platforms:
        people = synthetic.actors(platform, actors, seed)
        db["actors"].insert_many(people, ordered=False)
        n_actors += len(people)
        generated = synthetic.posts(platform, actors, per_actor, seed)
        while chunk := list(itertools.islice(generated, batch)):
            db["posts"].insert_many(chunk, ordered=False)
            n_posts += len(chunk)
            on_progress(len(chunk))
    db["posts"].create_index([("platform", ASCENDING), ("actor_id", ASCENDING)])
    db["actors"].create_index([("platform", ASCENDING)])
    return n_actors, n_posts
