#!/usr/bin/env python3
"""A kafka-python session for fixture capture: produce (uncompressed and gzip), then a consumer-group
session: join, consume everything, commit, read committed offsets and end offsets, leave.

usage: kafka_python_session.py BOOTSTRAP TOPIC GROUP
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def main():
    bootstrap, topic, group = sys.argv[1:4]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    n = 0
    for codec in [None, "gzip"]:
        p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20, acks="all")
        for i in range(5):
            p.send(topic, value=f"{codec}-{i}".encode(), key=None if i == 0 else b"k",
                   headers=[("h", b"1"), ("h", b"2")], partition=0)
            n += 1
        p.flush()
        p.close()
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=300)
    got = 0
    deadline = time.time() + 60
    while got < n and time.time() < deadline:
        for records in c.poll(timeout_ms=500).values():
            got += len(records)
    end = time.time() + 1.5
    while time.time() < end:
        c.poll(timeout_ms=200)
    c.commit()
    tp = TopicPartition(topic, 0)
    committed = c.committed(tp)
    ends = c.end_offsets([tp])
    c.close()
    print(f"consumed {got}/{n}, committed {committed}, end offsets {ends}")
    if got != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
