#!/usr/bin/env python3
"""Writes one record per key with librdkafka's murmur2_random partitioner (the Java client's default for
keyed records) and prints `key partition` a line, from the delivery reports.

usage: rdkafka_partition.py BOOTSTRAP TOPIC KEY...
"""
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5})
    placed, failed = {}, []

    def report(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            placed[msg.key().decode()] = msg.partition()

    for k in keys:
        p.produce(topic, key=k.encode(), value=b"x", on_delivery=report)
    p.flush(30)
    if failed or len(placed) != len(keys):
        print(f"produce failed: {failed[:3]}", file=sys.stderr)
        sys.exit(1)
    for k in keys:
        print(k, placed[k])


if __name__ == "__main__":
    main()
