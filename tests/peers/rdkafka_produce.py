#!/usr/bin/env python3
"""Writes a deterministic record set with librdkafka (confluent-kafka), for sluice's interop tests.

usage: rdkafka_produce.py BOOTSTRAP TOPIC PARTITIONS COUNT CODEC[,CODEC...]

Record i goes to partition i % PARTITIONS, written by the producer for codec CODECS[i % len(CODECS)]
(one producer per codec, so every codec reaches every partition). Keys are null for i % 5 == 0,
values null for i % 7 == 3, records with i % 3 == 0 carry headers with a duplicated key, and values
hold multi-byte UTF-8. Prints the number of records acknowledged.
"""
import sys

from confluent_kafka import Producer


def record(i):
    key = None if i % 5 == 0 else f"key-{i % 17}".encode()
    value = None if i % 7 == 3 else f"valeur-{i}-é-漢字-😀".encode()
    headers = [("h", b"1"), ("h", b"2"), ("trace", f"t{i}".encode())] if i % 3 == 0 else None
    return key, value, headers


def main():
    bootstrap, topic, partitions, count, codecs = sys.argv[1:6]
    partitions, count = int(partitions), int(count)
    codecs = codecs.split(",")
    producers = {
        c: Producer({"bootstrap.servers": bootstrap, "compression.type": c, "linger.ms": 50, "acks": "all"})
        for c in codecs
    }
    acked, failed = [0], []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))
        else:
            acked[0] += 1

    for i in range(count):
        key, value, headers = record(i)
        p = producers[codecs[i % len(codecs)]]
        p.produce(topic, value=value, key=key, headers=headers, partition=i % partitions,
                  timestamp=1_700_000_000_000 + i, on_delivery=report)
        p.poll(0)
    for p in producers.values():
        p.flush(30)
    if failed or acked[0] != count:
        print(f"produce failed: {acked[0]}/{count} acknowledged, errors: {failed[:5]}", file=sys.stderr)
        sys.exit(1)
    print(acked[0])


if __name__ == "__main__":
    main()
