#!/usr/bin/env python3
"""A librdkafka (confluent-kafka) consumer-group member for sluice's mixed-group tests.

usage: rdkafka_group_member.py BOOTSTRAP GROUP TOPIC STRATEGY

Subscribes to TOPIC in GROUP with partition.assignment.strategy STRATEGY (range or roundrobin),
session.timeout.ms 6000, and prints one line per event on stdout, flushed at once:
  assigned P,P,...   after each assignment (empty after a revocation to nothing)
  revoked P,P,...    before partitions are taken away
  record P OFFSET    for each record consumed (committed synchronously after each poll)
It stops, commits, leaves the group and exits when stdin is closed.
"""
import sys
import threading

from confluent_kafka import Consumer, KafkaError, KafkaException


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    bootstrap, group, topic, strategy = sys.argv[1:5]
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "rdkafka-member",
                  "partition.assignment.strategy": strategy, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 1000, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})

    def on_assign(_c, parts):
        emit("assigned " + ",".join(str(p.partition) for p in sorted(parts, key=lambda p: p.partition)))

    def on_revoke(consumer, parts):
        emit("revoked " + ",".join(str(p.partition) for p in sorted(parts, key=lambda p: p.partition)))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop.is_set():
        msgs = c.consume(num_messages=500, timeout=0.2)
        consumed = False
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                print(f"consume error: {m.error()}", file=sys.stderr)
                sys.exit(1)
            emit(f"record {m.partition()} {m.offset()}")
            consumed = True
        if consumed:
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                print(f"commit failed: {e}", file=sys.stderr)
    c.close()


if __name__ == "__main__":
    main()
