#!/usr/bin/env python3
"""Reads every partition of a topic from the beginning to its end with librdkafka's consumer and prints
one JSON object a line in `sluice consume --json`'s format, for comparing the two.

usage: rdkafka_consume.py BOOTSTRAP TOPIC [PARTITION OFFSET COUNT]

With PARTITION OFFSET COUNT, reads COUNT records of that partition from OFFSET instead.
"""
import base64
import json
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def text(b):
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


def main():
    bootstrap, topic = sys.argv[1:3]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    meta = c.list_topics(topic, timeout=10)
    parts = sorted(meta.topics[topic].partitions)
    limit = None
    if len(sys.argv) > 3:
        partition, offset, limit = (int(a) for a in sys.argv[3:6])
        parts = [partition]
        c.assign([TopicPartition(topic, partition, offset)])
    else:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    at_end = set()
    out = sys.stdout
    printed = 0
    while len(at_end) < len(parts) and (limit is None or printed < limit):
        msg = c.poll(10)
        if msg is None:
            print("timed out waiting for records", file=sys.stderr)
            sys.exit(1)
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
                continue
            print(f"consume error: {msg.error()}", file=sys.stderr)
            sys.exit(1)
        at_end.discard(msg.partition())
        row = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
               "timestamp": msg.timestamp()[1], "key": text(msg.key()), "value": text(msg.value()),
               "headers": [[k, text(v)] for k, v in (msg.headers() or [])]}
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        printed += 1
    c.close()


if __name__ == "__main__":
    main()
