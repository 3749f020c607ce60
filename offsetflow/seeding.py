"""What seeding a synthetic source refuses, shared by the pipelines' domains (`posts.source`, `sms.source`)."""

from __future__ import annotations

from collections.abc import Sequence


class SourceNotEmpty(RuntimeError):
    """The collections to seed already hold data: seeding would mix synthetic data into it.

    The message states the facts; how to go ahead anyway (drop and reseed) is the caller's to say, in its terms
    (the command line names its flag: `offsetflow.cli.errors`)."""

    def __init__(self, database: str, collections: Sequence[str], count: int, unit: str) -> None:
        self.database = database
        self.collections = tuple(collections)
        self.count = count
        super().__init__(
            f"{database}.{'/'.join(collections)} already "
            f"{'hold' if len(self.collections) > 1 else 'holds'} {count} {unit}"
        )
