#!/usr/bin/env python3
"""Writes COUNT JSON order events with librdkafka, keyed by user, and prints the truth the batch
computations must reproduce: {"count": N, "sum": total amount, "by_user": {user: sum}}.

usage: rdkafka_orders.py BOOTSTRAP TOPIC COUNT [FIRST [one-per-batch]]

Event i: {"order_id": i, "user": "user-<i % 13>", "amount": ((i * 37) % 1000) / 10}; every 101st event
also repeats a field order to vary the bytes. FIRST (default 0) numbers the events from there.
With one-per-batch every record is its own batch: tansu 0.6 (memory storage) answers a fetch that
starts inside a stored batch with only later batches, or nothing, so a consumer resuming from a
committed offset in the middle of a batch stalls (librdkafka too).
"""
import json
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4",
            "partitioner": "murmur2_random"}
    if len(sys.argv) > 5 and sys.argv[5] == "one-per-batch":
        conf.update({"batch.num.messages": 1, "linger.ms": 0})
    p = Producer(conf)
    failed, acked = [], [0]

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))
        else:
            acked[0] += 1

    total, by_user = 0.0, {}
    for i in range(first, first + count):
        user = f"user-{i % 13}"
        amount = ((i * 37) % 1000) / 10
        event = {"order_id": i, "user": user, "amount": amount}
        if i % 101 == 0:
            event = {"amount": amount, "user": user, "order_id": i}
        p.produce(topic, key=user.encode(), value=json.dumps(event).encode(), on_delivery=report)
        p.poll(0)
        total += amount
        by_user[user] = by_user.get(user, 0.0) + amount
    p.flush(60)
    if failed or acked[0] != count:
        print(f"produce failed: {acked[0]}/{count}: {failed[:3]}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"count": count, "sum": total, "by_user": by_user}))


if __name__ == "__main__":
    main()
