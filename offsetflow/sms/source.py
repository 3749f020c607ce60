"""Writing synthetic SMS into MongoDB, and the per-user stats of the pipeline."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.database import Database

from offsetflow.seeding import SourceNotEmpty
from offsetflow.sms.rows import LLM_COST
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
    llm_cost: float = 0.0  # USD: what the user's stored results cost, each once

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
    cost: defaultdict[str, float] = defaultdict(float)
    # Summed over the stored results, one document per SMS: a result reused or re-stored after a crash or a
    # replay keeps its one cost, so nothing paid once is counted twice. Results stored without a cost (before
    # costs were kept) count as 0.
    for doc in db[RESULTS].find(query, {"user_id": 1, "is_transaction": 1, LLM_COST: 1}):
        user = str(doc.get("user_id"))
        found[user] += doc.get("is_transaction") is True
        cost[user] += _usd(doc.get(LLM_COST))
    return [UserStats(u, total[u], processed[u], found[u], failed_by_user.get(u, 0), cost[u]) for u in sorted(total)]


def _usd(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else 0.0
