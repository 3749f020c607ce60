"""SMS pipeline benchmark: SMS/s through the local LLM test server against the ceiling its settings allow,
LLM calls and tokens per SMS, and the rules extractor's field-level precision and recall.

Run by hand against a running stack (`offsetflow dev up`):

    .venv/bin/python bench/sms.py --sms 2000 --latency 0.2 --batch 10 --concurrency 4 --rpm 600

`--mode batch` compares the LLM economy instead, on one corpus where `--repeat` of the SMS repeat another's
text word for word (balance alerts, promos, identical spends): online vs the Batch API, each with the content
cache and without it (`--force`), as SMS/s and USD per 1k SMS at `--price-prompt`/`--price-completion`:

    .venv/bin/python bench/sms.py --mode batch --sms 2000 --repeat 0.3 --batch-delay 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, fields
from typing import Any

from pymongo import MongoClient

from offsetflow.sms.result import validate
from offsetflow.sms.rules import extract
from offsetflow.sms.source import RAW
from offsetflow.sms.synthetic import Truth, sms_for_user
from offsetflow.testing.llm_server import Behaviour, LlmServer

FIELDS = [f.name for f in fields(Truth)]


def rules_quality(users: int, per_user: int) -> None:
    tp = dict.fromkeys(FIELDS, 0)
    predicted = dict.fromkeys(FIELDS, 0)
    actual = dict.fromkeys(FIELDS, 0)
    for u in range(users):
        for doc, truth in sms_for_user(f"b{u}", per_user, seed=99):
            got, want = validate(extract(doc["sms_id"], doc["body"], doc["received_at"]), doc["sms_id"]), asdict(truth)
            for f in FIELDS:
                g, w = got[f], want[f]
                if f == "is_transaction":
                    g, w = (g or None), (w or None)  # precision/recall of "is a transaction"
                predicted[f] += g is not None
                actual[f] += w is not None
                same = g == w or (isinstance(w, float) and isinstance(g, float) and abs(g - w) < 0.005)
                tp[f] += g is not None and same
    print(f"rules extractor on {users * per_user:,} synthetic SMS:")
    print(f"  {'field':<15} {'precision':>9} {'recall':>7}")
    for f in FIELDS:
        print(f"  {f:<15} {tp[f] / max(1, predicted[f]):>9.3f} {tp[f] / max(1, actual[f]):>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sms", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM request")
    parser.add_argument("--batch", type=int, default=10, help="SMS per LLM request")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rpm", type=float, default=600, help="requests per minute limit")
    parser.add_argument("--tpm", type=float, default=10_000_000, help="tokens per minute limit (estimated)")
    parser.add_argument("--mode", choices=("online", "batch"), default="online", help="batch: the LLM economy")
    parser.add_argument("--repeat", type=float, default=0.3, help="share of SMS repeating another's text (batch)")
    parser.add_argument("--batch-delay", type=float, default=5.0, help="seconds a batch job takes (batch)")
    parser.add_argument("--price-prompt", type=float, default=0.15, help="USD per 1M prompt tokens (batch)")
    parser.add_argument("--price-completion", type=float, default=0.60, help="USD per 1M completion tokens (batch)")
    args = parser.parse_args()
    if args.mode == "batch":
        economy(args)
        return

    rules_quality(50, 100)

    server = LlmServer(0, Behaviour(latency=args.latency))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    run = uuid.uuid4().hex[:8]
    db, topic, n, _ = corpus(run, args.sms, 0.0)
    idle = 3.0
    started = time.perf_counter()
    done = consume(url, args, topic, db, run, "bench", idle)
    elapsed = time.perf_counter() - started - idle
    usage = re.search(r"LLM calls: ([\d,]+), tokens: ([\d,]+)", done.stderr)
    calls, tokens = (int(g.replace(",", "")) for g in usage.groups()) if usage else (0, 0)
    # The rpm bucket starts full (a minute's requests may go at once, as providers allow), so rpm binds only
    # for the requests past the first minute's worth.
    requests = n / args.batch
    by_latency = requests * args.latency / args.concurrency
    by_rpm = max(0.0, requests - args.rpm) / (args.rpm / 60)
    ceiling = n / max(by_latency, by_rpm)
    binding = "rpm" if by_rpm > by_latency else "latency x concurrency"
    rate = n / elapsed
    print(
        f"\npipeline with the LLM test server (latency {args.latency}s, batch {args.batch}, concurrency "
        f"{args.concurrency}, {args.rpm:g} rpm), {n:,} SMS:"
    )
    print(
        f"  {rate:,.1f} SMS/s end to end (incl. group join); ceiling these settings allow: {ceiling:,.1f} SMS/s "
        f"-> {rate / ceiling:.0%} (bound by {binding})"
    )
    print(f"  LLM calls per SMS: {calls / n:.3f}; tokens per SMS: {tokens / n:,.0f}")
    server.shutdown()


def economy(args: argparse.Namespace) -> None:
    """One corpus, four consumers (their own group and model name, so none reuses another's results or cache)."""
    server = LlmServer(0, Behaviour(latency=args.latency, batch_delay=args.batch_delay))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    run = uuid.uuid4().hex[:8]
    db, topic, n, repeated = corpus(run, args.sms, args.repeat)
    print(
        f"LLM economy, {n:,} SMS ({repeated:,} repeating another's text), test server: latency {args.latency}s, "
        f"batch jobs {args.batch_delay:g}s; {args.price_prompt:g} + {args.price_completion:g} USD per 1M prompt + "
        "completion tokens online, half in batch"
    )
    print(f"  {'mode':<28} {'SMS/s':>8} {'USD/1k SMS':>11} {'requests':>9} {'jobs':>5} {'copied':>7}")
    idle = 3.0
    for mode in ("online", "batch"):
        for cache in (True, False):
            before = stats(url)
            started = time.perf_counter()
            model = f"bench-{mode}-{'cache' if cache else 'force'}"
            extra = ["--llm-mode", mode, "--llm-batch-poll", "0.5", "--batch-size", "1000"]
            extra += [
                "--llm-price-prompt",
                str(args.price_prompt),
                "--llm-price-completion",
                str(args.price_completion),
            ]
            done = consume(
                url, args, topic, db, f"{run}-{mode}-{cache}", model, idle, *extra, *([] if cache else ["--force"])
            )
            elapsed = time.perf_counter() - started - idle
            after = stats(url)
            cost = re.search(r"LLM cost: \$([\d,.]+)", done.stderr)
            usd = float(cost.group(1).replace(",", "")) if cost else float("nan")
            copied = re.search(r"content cache: ([\d,]+) SMS copied", done.stderr)
            requests = after["calls"] - before["calls"] + after["batch_requests"] - before["batch_requests"]
            name = f"{mode}, {'cache' if cache else 'no cache (--force)'}"
            print(
                f"  {name:<28} {n / elapsed:>8,.1f} {usd / n * 1000:>11.4f} {requests:>9,} "
                f"{after['batches'] - before['batches']:>5,} {copied.group(1) if copied else '0':>7}"
            )
    server.shutdown()


CLI = [sys.executable, "-m", "offsetflow"]


def corpus(run: str, sms: int, repeat: float) -> tuple[str, str, int, int]:
    """Seeded SMS on a topic of their own: (database, topic, SMS count, how many repeat another's text)."""
    db, topic, users = f"bench_sms_{run}", f"bench.sms.{run}", max(1, sms // 100)
    for argv in (
        ["topics", "create", "--sms-topic", topic, "--posts-topic", f"bench.posts.{run}"],
        ["seed", "sms", "--users", str(users), "--per-user", "100", "--source-database", db],
    ):
        subprocess.run([*CLI, *argv], check=True, capture_output=True)
    repeated = repeat_texts(db, repeat) if repeat > 0 else 0
    subprocess.run(
        [*CLI, "produce", "sms", "--sms-topic", topic, "--source-database", db], check=True, capture_output=True
    )
    return db, topic, users * 100, repeated


def consume(
    url: str, args: argparse.Namespace, topic: str, db: str, run: str, model: str, idle: float, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`consume sms` against the test server until idle, with the bench's LLM settings."""
    llm = ["--llm", "openai", "--llm-base-url", url, "--llm-model", model, "--llm-batch-size", str(args.batch)]
    llm += ["--llm-concurrency", str(args.concurrency), "--llm-rpm", str(args.rpm), "--llm-tpm", str(args.tpm)]
    where = ["--sms-topic", topic, "--source-database", db, "--group", f"bench-{run}", "--out", f"/tmp/bench-sms-{run}"]
    argv = [*CLI, "consume", "sms", *llm, *extra, *where, "--until-idle", str(idle)]
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats") as reply:
        raw = json.loads(reply.read())
    return {k: int(raw[k]) for k in ("calls", "batch_requests", "batches")}


def repeat_texts(database: str, share: float) -> int:
    """Give ``share`` of the seeded SMS the sender and body of an earlier one (a fixed seed: same corpus)."""
    rng = random.Random(7)
    client: MongoClient[dict[str, Any]] = MongoClient(
        os.environ.get("OFFSETFLOW_MONGO_URI", "mongodb://127.0.0.1:27017/")
    )
    with client:
        raw = client[database][RAW]
        docs = list(raw.find({}, {"sender": 1, "body": 1}).sort("_id"))
        changed = 0
        for i, doc in enumerate(docs[1:], start=1):
            if rng.random() < share:
                source = docs[rng.randrange(i)]
                raw.update_one({"_id": doc["_id"]}, {"$set": {"sender": source["sender"], "body": source["body"]}})
                doc.update(sender=source["sender"], body=source["body"])
                changed += 1
    return changed


if __name__ == "__main__":
    main()
