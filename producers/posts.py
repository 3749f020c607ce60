"""`offsetflow produce posts`: sampled actors' post ids onto `posts.ids`, exactly once per job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.posts.sampling import sample_actors, sampled_post_ids
from offsetflow.transactional import Outgoing, TransactionalSequenceProducer, job_id


@dataclass(frozen=True)
class PostSample:
    platforms: Sequence[str]
    actors: int
    seed: int


@dataclass(frozen=True)
class ProduceResult:
    job: str
    per_platform: dict[str, tuple[int, int]]  # platform -> (actors sampled, post ids)
    already: int
    produced: int


def produce_post_ids(
    kafka: KafkaSettings,
    source: Database[dict[str, Any]],
    topic: str,
    sample: PostSample,
    transaction_size: int = 1000,
    say: Callable[[str], None] = print,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> ProduceResult:
    schema = codec.load(codec.POST_ID)
    records: list[Outgoing] = []
    per_platform = {}
    actors = {platform: sample_actors(source, platform, sample.actors, sample.seed) for platform in sample.platforms}
    post_ids = sampled_post_ids(source, actors)
    for platform in sample.platforms:
        ids = post_ids[platform]
        per_platform[platform] = (len(actors[platform]), len(ids))
        say(f"{platform}: sampled {len(actors[platform])} actors with seed {sample.seed}, {len(ids)} post ids")
        records += [
            # Keyed by post id: an even spread over partitions, and a duplicate lands where its twin is.
            Outgoing(
                pid.encode(),
                schema.encode({"post_id": pid, "platform": platform, "actor_id": actor, "sample_seed": sample.seed}),
            )
            for pid, actor in ids
        ]
    job = job_id("posts", topic, source.name, ",".join(sample.platforms), sample.actors, sample.seed)
    description = f"posts {','.join(sample.platforms)} actors={sample.actors} seed={sample.seed} -> {topic}"
    producer = TransactionalSequenceProducer(kafka, topic, job, description, transaction_size)
    already, produced = producer.run(records, on_progress)
    return ProduceResult(job, per_platform, already, produced)
