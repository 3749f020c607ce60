"""Accuracy of an SMS extractor (default: the built-in rules) on labelled real-format SMS and on our synthetic corpus.

Scores any corpus in the ``sms-real`` JSONL format (``../shared/data/sms-real/README.md``) with its rules:
``is_transaction`` by accuracy, precision and recall; ``amount`` equal to 2 decimals, ``currency`` and
``direction`` exact, account equal on the trailing digits of the shorter of the two; a ``null`` label is not
scored; the fields are scored over every SMS labelled a transaction (a missed transaction is wrong on each).
The synthetic corpus (``offsetflow.sms.synthetic``) is scored the same way, plus exact match on its other fields.

    .venv/bin/python bench/sms_accuracy.py --corpus ../shared/data/sms-real/dev.jsonl --split

``--split`` reports a held-out part of the corpus separately: the banks whose label hashes into 3 of 10
buckets (fixed before any tuning; never tune on its failures). ``--failures OUT`` writes every misclassified or
mis-extracted SMS as JSONL, what we produced beside the label (``--failures-of tune`` keeps the held-out part
out of sight while developing). ``--rules FILE`` scores another module with the same ``extract`` function,
e.g. an older ``rules.py`` taken from git.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from offsetflow.sms import rules
from offsetflow.sms.result import validate
from offsetflow.sms.synthetic import sms_for_user

Extract = Callable[[str, str, datetime | None], dict[str, Any]]
CORE = ["amount", "currency", "direction", "account"]
SYNTHETIC_EXTRA = ["counterparty", "balance", "reference", "channel", "category"]
HOLDOUT_BUCKETS = 3  # of 10: about 30% of the banks


def held_out(bank: str | None) -> bool:
    """The held-out part: a deterministic hash of the bank label, so every SMS of a bank is on one side."""
    digest = hashlib.sha256(f"offsetflow-holdout:{bank or ''}".encode()).hexdigest()
    return int(digest, 16) % 10 < HOLDOUT_BUCKETS


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def same_account(got: str | None, want: str) -> bool:
    """Equal on the trailing digits of the shorter of the two (at least 3 digits, as the labels have)."""
    g, w = _digits(got), _digits(want)
    k = min(len(g), len(w))
    return k >= 3 and g[-k:] == w[-k:]


def field_right(name: str, got: dict[str, Any], label: dict[str, Any]) -> bool:
    """One field of a result against its (non-null) label; ``got`` was produced as a transaction."""
    if name == "amount":
        return isinstance(got["amount"], int | float) and round(got["amount"], 2) == round(label["amount"], 2)
    if name == "account":
        return same_account(got["account_mask"], label["account_last4"])
    if name == "balance" and got[name] is not None and label[name] is not None:
        return bool(abs(got[name] - label[name]) < 0.005)
    return bool(got[name] == label[name])


@dataclass
class Score:
    """Counts for one corpus part."""

    name: str
    n: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    right: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, got: dict[str, Any], label: dict[str, Any], fields: list[str]) -> list[str]:
        """Count one SMS; return the names of what we got wrong ("is_transaction" or fields)."""
        self.n += 1
        said, truth = bool(got["is_transaction"]), bool(label["is_transaction"])
        self.tp += said and truth
        self.fp += said and not truth
        self.fn += truth and not said
        self.tn += not said and not truth
        wrong = [] if said == truth else ["is_transaction"]
        if truth:
            for name in fields:
                key = "account_last4" if name == "account" else name
                if label.get(key) is None:
                    continue  # not stated by the source: not scored
                ok = said and field_right(name, got, label)
                self.seen[name] = self.seen.get(name, 0) + 1
                self.right[name] = self.right.get(name, 0) + ok
                if not ok:
                    wrong.append(name)
        return wrong

    def figures(self) -> dict[str, float]:
        out = {
            "accuracy": (self.tp + self.tn) / max(1, self.n),
            "precision": self.tp / max(1, self.tp + self.fp),
            "recall": self.tp / max(1, self.tp + self.fn),
        }
        out.update({name: self.right[name] / max(1, self.seen[name]) for name in self.seen})
        return out


def load_corpus(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def score_rows(
    extract: Extract, rows: Iterable[tuple[str, dict[str, Any]]], fields: list[str], failures: list[dict[str, Any]]
) -> dict[str, Score]:
    """Score (part, row) pairs; rows have ``body`` and the labels; failures are appended to ``failures``."""
    scores: dict[str, Score] = {}
    for n, (part, row) in enumerate(rows):
        sms_id = f"{part}-{n}"
        started = time.perf_counter()
        got = validate(extract(sms_id, row["body"], row.get("received_at")), sms_id)
        elapsed = time.perf_counter() - started
        score = scores.setdefault(part, Score(part))
        score.seconds += elapsed
        wrong = score.add(got, row, fields)
        if wrong:
            label = {k: row.get(k) for k in ("is_transaction", "amount", "currency", "direction", "account_last4")}
            failures.append(
                {
                    "part": part,
                    "bank": row.get("bank"),
                    "sender": row.get("sender"),
                    "body": row["body"],
                    "wrong": wrong,
                    "label": label,
                    "got": {k: v for k, v in got.items() if k != "sms_id"},
                }
            )
    return scores


def score_corpus(
    extract: Extract, rows: list[dict[str, Any]], split: bool, failures: list[dict[str, Any]]
) -> dict[str, Score]:
    parts = [("held-out" if split and held_out(r.get("bank")) else "tune" if split else "all", r) for r in rows]
    scores = score_rows(extract, parts, CORE, failures)
    if split:  # the whole corpus too, from the same counts
        whole = Score("all")
        for part in scores.values():
            for attr in ("n", "tp", "fp", "fn", "tn", "seconds"):
                setattr(whole, attr, getattr(whole, attr) + getattr(part, attr))
            for name in part.seen:
                whole.seen[name] = whole.seen.get(name, 0) + part.seen[name]
                whole.right[name] = whole.right.get(name, 0) + part.right[name]
        scores["all"] = whole
    return scores


def synthetic_rows(users: int, per_user: int, seed: int) -> Iterable[tuple[str, dict[str, Any]]]:
    """The synthetic corpus in the sms-real label format (plus its other fields), with ``received_at``."""
    for u in range(users):
        for doc, truth in sms_for_user(f"b{u}", per_user, seed=seed):
            row: dict[str, Any] = asdict(truth)
            row.update(body=doc["body"], sender=doc["sender"], received_at=doc["received_at"], bank=doc["sender"])
            row["account_last4"] = row.pop("account_mask")
            yield "synthetic", row


def load_extract(path: Path | None) -> tuple[str, Extract]:
    if path is None:
        return rules.MODEL, rules.extract
    spec = importlib.util.spec_from_file_location("scored_rules", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return str(getattr(module, "MODEL", path.name)), module.extract


def _row(label: str, score: Score, fields: list[str]) -> str:
    f = score.figures()
    rate = score.n / score.seconds if score.seconds else float("inf")
    cells = [f"{f[name]:>13.3f}" if name in f else f"{'-':>13}" for name in fields]
    return (
        f"  {label:<22} {score.n:>6} {score.tp + score.fn:>5} {f['accuracy']:>9.3f} {f['precision']:>9.3f}"
        f" {f['recall']:>7.3f}{''.join(cells)} {rate:>9,.0f}"
    )


def _header(fields: list[str]) -> str:
    names = "".join(f"{name:>13}" for name in fields)
    return f"  {'part':<22} {'SMS':>6} {'txns':>5} {'accuracy':>9} {'precision':>9} {'recall':>7}{names} {'SMS/s':>9}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, action="append", default=[], help="sms-real format JSONL (repeatable)")
    parser.add_argument("--split", action="store_true", help="report the held-out banks separately")
    parser.add_argument("--failures", type=Path, help="write misclassified/mis-extracted SMS here as JSONL")
    parser.add_argument(
        "--failures-of", choices=["all", "tune", "held-out", "synthetic"], default="all", help="which part to write"
    )
    parser.add_argument("--rules", type=Path, help="a Python file with extract(sms_id, body, received_at)")
    parser.add_argument("--synthetic", type=int, default=5000, help="synthetic SMS to score (0: none)")
    args = parser.parse_args(argv)

    model, extract = load_extract(args.rules)
    failures: list[dict[str, Any]] = []
    print(f"extractor: {model}")
    for path in args.corpus:
        scores = score_corpus(extract, load_corpus(path), args.split, failures)
        print(f"\n{path}:")
        print(_header(CORE))
        for name in ("tune", "held-out", "all"):
            if name in scores:
                print(_row(name, scores[name], CORE))
    if args.synthetic:
        per_user = 100
        users = max(1, args.synthetic // per_user)
        fields = CORE + SYNTHETIC_EXTRA
        synthetic = score_rows(extract, synthetic_rows(users, per_user, seed=99), fields, failures)["synthetic"]
        print(f"\nsynthetic ({users * per_user:,} SMS, seed 99):")
        print(_header(fields))
        print(_row("synthetic", synthetic, fields))
    if args.failures:
        kept = [f for f in failures if args.failures_of in ("all", f["part"])]
        with args.failures.open("w", encoding="utf-8") as out:
            for failure in kept:
                out.write(json.dumps(failure, ensure_ascii=False, default=str) + "\n")
        print(f"\n{len(kept)} failures written to {args.failures}", file=sys.stderr)


if __name__ == "__main__":
    main()
