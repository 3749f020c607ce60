"""SMS pipeline benchmark: SMS/s through the local LLM test server against the ceiling its settings allow,
LLM calls and tokens per SMS, and the rules extractor's field-level precision and recall.

Run by hand against a running stack (`offsetflow dev up`):

    .venv/bin/python bench/sms.py --sms 2000 --latency 0.2 --batch 10 --concurrency 4 --rpm 600
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, fields

from offsetflow.sms.result import validate
from offsetflow.sms.rules import extract
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
    args = parser.parse_args()

    rules_quality(50, 100)

    server = LlmServer(0, Behaviour(latency=args.latency))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    run = uuid.uuid4().hex[:8]
    db, topic, users = f"bench_sms_{run}", f"bench.sms.{run}", max(1, args.sms // 100)
    cli = [sys.executable, "-m", "offsetflow"]
    subprocess.run(
        [*cli, "topics", "create", "--sms-topic", topic, "--posts-topic", f"bench.posts.{run}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*cli, "seed", "sms", "--users", str(users), "--per-user", "100", "--source-database", db],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*cli, "produce", "sms", "--sms-topic", topic, "--source-database", db], check=True, capture_output=True
    )
    n = users * 100
    idle = 3.0
    started = time.perf_counter()
    done = subprocess.run(
        [
            *cli,
            "consume",
            "sms",
            "--llm",
            "openai",
            "--llm-base-url",
            url,
            "--llm-model",
            "bench",
            "--llm-batch-size",
            str(args.batch),
            "--llm-concurrency",
            str(args.concurrency),
            "--llm-rpm",
            str(args.rpm),
            "--llm-tpm",
            str(args.tpm),
            "--sms-topic",
            topic,
            "--source-database",
            db,
            "--group",
            f"bench-{run}",
            "--out",
            f"/tmp/bench-sms-{run}",
            "--until-idle",
            str(idle),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
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


if __name__ == "__main__":
    main()
