#!/usr/bin/env python3
"""Reads every partition of a topic from the beginning to its end (as seen at start) with librdkafka's
consumer, writes each value a line to stdout like `sluice consume -e`, and prints the count to stderr.

usage: rdkafka_drain.py BOOTSTRAP TOPIC

Uses the batch API (consume(10000)) so Python's per-call overhead stays small; the per-record cost that
remains is the Message object librdkafka's Python binding builds.
"""
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def main():
    bootstrap, topic = sys.argv[1:3]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts if ends[p] > 0])
    pending = {p for p in parts if ends[p] > 0}
    out = sys.stdout.buffer
    n = 0
    while pending:
        for m in c.consume(10000, 1.0):
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    pending.discard(m.partition())
                    continue
                raise SystemExit(f"consume error: {m.error()}")
            v = m.value()
            out.write(v if v is not None else b"")
            out.write(b"\n")
            n += 1
            if m.offset() + 1 >= ends[m.partition()]:
                pending.discard(m.partition())
    c.close()
    print(n, file=sys.stderr)


if __name__ == "__main__":
    main()
