"""`offsetflow seed`: realistic synthetic sources to run the pipelines on."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from offsetflow.cli import options
from offsetflow.cli.options import COUNT, MongoOption, MongoUri, Platforms, Seed, SourceDatabase, opt
from offsetflow.config import DEFAULT_MONGO_URI
from offsetflow.posts.source import seed_posts
from offsetflow.sms.source import seed_sms

app = typer.Typer(help="Fill MongoDB with realistic synthetic source data (deterministic for a seed).")
console = Console(stderr=True)


def progress_bar() -> Progress:
    """A bar with count, percentage and time left; drawn only in a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
    )


IfEmpty = Annotated[bool, opt("--if-empty", "Do nothing if the source already holds data (safe to rerun).")]


def _already_seeded(mongo_uri: str, mongo_option: list[str] | None, database: str, collection: str) -> bool:
    with options.mongo(mongo_uri, mongo_option).client() as client:
        count = client[database][collection].estimated_document_count()
    if count:
        console.print(f"{database}.{collection} already holds {count:,} documents: left as is")
    return bool(count)


@app.command()
def posts(
    platforms: Platforms = "twitter,facebook,telegram",
    actors: Annotated[int, opt("--actors", "Actors per platform.", **COUNT)] = 200,
    posts_per_actor: Annotated[int, opt("--posts-per-actor", "Posts per actor.", **COUNT)] = 50,
    seed: Seed = 42,
    replace: Annotated[bool, opt("--replace", "Drop existing actors/posts collections first.")] = False,
    if_empty: IfEmpty = False,
    source_database: SourceDatabase = "social",
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Create `actors` and `posts` (each post has `platform` and `actor_id`), e.g. 1M posts:
    `--actors 3334 --posts-per-actor 100`."""
    names = [p.strip() for p in platforms.split(",") if p.strip()]
    total = len(names) * actors * posts_per_actor
    started = time.perf_counter()
    if if_empty and _already_seeded(mongo_uri, mongo_option, source_database, "posts"):
        return
    with options.mongo(mongo_uri, mongo_option).client() as client, progress_bar() as bar:
        task = bar.add_task(f"seeding {source_database}.posts", total=total)
        n_actors, n_posts = seed_posts(
            client[source_database],
            names,
            actors,
            posts_per_actor,
            seed,
            replace,
            on_progress=lambda n: bar.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    console.print(
        f"seeded {n_actors:,} actors and {n_posts:,} posts into {source_database} "
        f"in {elapsed:.1f}s ({n_posts / elapsed:,.0f} posts/s)"
    )


@app.command()
def sms(
    users: Annotated[int, opt("--users", "Users to create SMS for.", **COUNT)] = 20,
    per_user: Annotated[int, opt("--per-user", "SMS per user.", **COUNT)] = 100,
    seed: Seed = 42,
    replace: Annotated[bool, opt("--replace", "Drop existing sms_fin_rawdata (and its truth) first.")] = False,
    if_empty: IfEmpty = False,
    source_database: SourceDatabase = "sms",
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Create `sms_fin_rawdata`: bank SMS in many formats (debits, credits, UPI, cards, ATM, NEFT/IMPS, salary,
    refunds, EMI; INR/Rs./₹ and some USD/EUR) mixed with OTPs, promos, reminders and "will be debited" notices,
    all `isprocessed: false`. The true extraction goes to `sms_truth`, kept apart for tests and benchmarks."""
    started = time.perf_counter()
    if if_empty and _already_seeded(mongo_uri, mongo_option, source_database, "sms_fin_rawdata"):
        return
    with options.mongo(mongo_uri, mongo_option).client() as client, progress_bar() as bar:
        task = bar.add_task(f"seeding {source_database}.sms_fin_rawdata", total=users * per_user)
        n = seed_sms(
            client[source_database], users, per_user, seed, replace, on_progress=lambda k: bar.advance(task, k)
        )
    console.print(f"seeded {n:,} SMS for {users} users into {source_database} in {time.perf_counter() - started:.1f}s")
