#!/usr/bin/env python3
"""Reads, or commits then reads, a group's committed offsets with librdkafka (confluent-kafka).

usage: rdkafka_committed.py BOOTSTRAP GROUP TOPIC PARTITIONS [P=OFFSET[:METADATA] ...]

With P=OFFSET arguments, commits those offsets first (with the optional metadata string).
Prints one JSON object: {"P": [offset, metadata], ...} for partitions 0..PARTITIONS-1, offset -1001
(librdkafka's OFFSET_INVALID) where nothing is committed.
"""
import json
import sys

from confluent_kafka import Consumer, TopicPartition


def main():
    bootstrap, group, topic, partitions = sys.argv[1:5]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    commits = []
    for arg in sys.argv[5:]:
        p, rest = arg.split("=", 1)
        offset, _, metadata = rest.partition(":")
        if metadata:
            commits.append(TopicPartition(topic, int(p), int(offset), metadata=metadata))
        else:
            commits.append(TopicPartition(topic, int(p), int(offset)))
    if commits:
        c.commit(offsets=commits, asynchronous=False)
    got = c.committed([TopicPartition(topic, p) for p in range(int(partitions))], timeout=10)
    print(json.dumps({str(tp.partition): [tp.offset, tp.metadata] for tp in got}))
    c.close()


if __name__ == "__main__":
    main()
