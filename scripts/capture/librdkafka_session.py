#!/usr/bin/env python3
"""A librdkafka (confluent-kafka) session for fixture capture: create a topic, produce in every codec,
then a consumer-group session: join, consume everything, heartbeat, commit, read committed offsets,
watermarks and offsets for times, leave.

usage: librdkafka_session.py BOOTSTRAP TOPIC GROUP
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def main():
    bootstrap, topic, group = sys.argv[1:4]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        f.result()
    n = 0
    for codec in CODECS:
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20, "acks": "all"})
        for i in range(6):
            key = None if i == 0 else f"k{i}".encode()
            headers = [("h", b"1"), ("h", b"2")] if i % 2 else None
            p.produce(topic, value=f"{codec}-{i}-é漢😀".encode(), key=key, headers=headers, partition=i % 2,
                      timestamp=1_700_000_000_000 + n)
            n += 1
        p.flush(30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 60
    while got < n and time.time() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got += 1
    # Keep polling a moment so heartbeats go out.
    end = time.time() + 1.5
    while time.time() < end:
        c.poll(0.2)
    c.commit(asynchronous=False)
    parts = [TopicPartition(topic, p) for p in range(2)]
    committed = c.committed(parts, timeout=10)
    watermarks = [c.get_watermark_offsets(tp, timeout=10, cached=False) for tp in parts]
    c.offsets_for_times([TopicPartition(topic, 0, 1_700_000_000_003)], timeout=10)
    c.close()
    print(f"consumed {got}/{n}, committed {[tp.offset for tp in committed]}, watermarks {watermarks}")
    if got != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
