#!/usr/bin/env python3
"""Prints the offset librdkafka's offsets_for_times finds for a partition and timestamp.

usage: rdkafka_offsets_for_times.py BOOTSTRAP TOPIC PARTITION TIMESTAMP_MS
"""
import sys

from confluent_kafka import Consumer, TopicPartition


def main():
    bootstrap, topic, partition, ts = sys.argv[1:5]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    found = c.offsets_for_times([TopicPartition(topic, int(partition), int(ts))], timeout=10)
    if found[0].error:
        print(f"offsets_for_times failed: {found[0].error}", file=sys.stderr)
        sys.exit(1)
    print(found[0].offset)
    c.close()


if __name__ == "__main__":
    main()
