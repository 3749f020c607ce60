"""A bare group consumer that commits each record after 'processing' it and reports on stdout.

Usage: committing_consumer.py BOOTSTRAP TOPIC GROUP HANG_AFTER
Prints ``first <offset>`` for the first record it gets, ``committed <offset>`` after each commit,
and after HANG_AFTER commits stops consuming and waits to be killed.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer

from offsetflow import codec

bootstrap, topic, group, hang_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
schema = codec.load(codec.POST_ID)
consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,  # the SIGKILLed predecessor leaves the group sooner
    }
)
consumer.subscribe([topic])
commits = 0
while commits < hang_after:
    msg = consumer.poll(1.0)
    if msg is None or msg.error():
        continue
    schema.decode(msg.value())
    if commits == 0:
        print(f"first {msg.offset()}", flush=True)
    consumer.commit(message=msg, asynchronous=False)
    commits += 1
    print(f"committed {msg.offset()}", flush=True)
while True:
    time.sleep(60)
