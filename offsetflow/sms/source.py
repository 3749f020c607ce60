"""Writing synthetic SMS into MongoDB, and the per-user stats of the pipeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.database import Database

from offsetflow.seeding import SourceNotEmpty
from offsetflow.sms.synthetic import sms_for_user

RAW = "sms_fin_rawdata"
TRUTH = "sms_truth"  # the true extraction, for tests and benchmarks only
RESULTS = "financial_transactions"


def seed_sms(
    db: Database[dict[str, Any]],
    users: int,
    per_user: int,
    seed: int,
    replace: bool = False,
    on_progress: Callable[[int], None] = lambda n: None,
) -> int:
    existing = db[RAW].estimated_document_count()
    if existing and not replace:
        raise SourceNotEmpty(db.name, (RAW,), existing, "SMS")
    for name in (RAW, TRUTH):
        db.drop_collection(name)
    total = 0
    for u in range(users):
        pairs = list(sms_for_user(f"user{u:05d}", per_user, seed))
        db[RAW].insert_many([doc for doc, _ in pairs], ordered=False)
        db[TRUTH].insert_many([{"_id": doc["_id"], **asdict(truth)} for doc, truth in pairs], ordered=False)
        total += len(pairs)
        on_progress(len(pairs))
    return total


@dataclass(frozen=True)
class UserStats:
    user_id: str
    total: int
    processed: int
    transactions: int
    failed: int

    @property
    def pending(self) -> int:
        return max(0, self.total - self.processed - self.failed)


def sms_stats(
    db: Database[dict[str, Any]], failed_by_user: Counter[str], user_id: str | None = None
) -> list[UserStats]:
    query = {} if user_id is None else {"user_id": user_id}
    total, processed, found = Counter[str](), Counter[str](), Counter[str]()
    for doc in db[RAW].find(query, {"user_id": 1, "isprocessed": 1}):
        total[doc["user_id"]] += 1
        processed[doc["user_id"]] += bool(doc.get("isprocessed"))
    for doc in db[RESULTS].find({**query, "is_transaction": True}, {"user_id": 1}):
        found[doc["user_id"]] += 1
    return [UserStats(u, total[u], processed[u], found[u], failed_by_user.get(u, 0)) for u in sorted(total)]
