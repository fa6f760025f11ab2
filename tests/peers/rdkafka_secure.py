#!/usr/bin/env python3
"""librdkafka (confluent-kafka) over a secured listener, for sluice's security tests.

usage: rdkafka_secure.py create BOOTSTRAP TOPIC [KEY=VALUE ...]
       rdkafka_secure.py produce BOOTSTRAP TOPIC COUNT [KEY=VALUE ...]
       rdkafka_secure.py consume BOOTSTRAP TOPIC COUNT [KEY=VALUE ...]
       rdkafka_secure.py probe BOOTSTRAP [KEY=VALUE ...]

KEY=VALUE pairs are librdkafka settings (security.protocol, sasl.*, ssl.*).
create makes TOPIC with one partition (tansu creates no topic on demand) and prints `created`.
produce writes values `rd-{i}` to partition 0 (acks=all) and prints the number acknowledged.
consume reads COUNT records of partition 0 from the beginning and prints their values, one a line.
probe asks for metadata (10 s at most, until librdkafka reports an error) and prints `ok` or the
errors librdkafka reported;
it exits 0 either way, so tests can assert on what librdkafka says for a failure.
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def settings(bootstrap, pairs):
    conf = {"bootstrap.servers": bootstrap}
    for pair in pairs:
        key, _, value = pair.partition("=")
        conf[key] = value
    return conf


def create(conf, topic):
    admin = AdminClient(conf)
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                      operation_timeout=10, request_timeout=15).values():
        future.result()
    print("created")


def produce(conf, topic, count):
    errors = []
    conf.update({"acks": "all", "linger.ms": 5, "message.timeout.ms": 20000,
                 "error_cb": lambda e: errors.append(str(e))})
    p = Producer(conf)
    acked, failed = [0], []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))
        else:
            acked[0] += 1

    for i in range(count):
        p.produce(topic, value=f"rd-{i}".encode(), partition=0, on_delivery=report)
        p.poll(0)
    p.flush(30)
    if failed or acked[0] != count:
        print(f"produce failed: {acked[0]}/{count} acknowledged, errors: {failed[:3]} {errors[:3]}",
              file=sys.stderr)
        sys.exit(1)
    print(acked[0])


def consume(conf, topic, count):
    errors = []
    conf.update({"group.id": "unused", "enable.auto.commit": False, "auto.offset.reset": "earliest",
                 "error_cb": lambda e: errors.append(str(e))})
    c = Consumer(conf)
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    while len(got) < count:
        msg = c.poll(15)
        if msg is None:
            print(f"timed out after {len(got)} records; errors: {errors[:3]}", file=sys.stderr)
            sys.exit(1)
        if msg.error():
            print(f"consume error: {msg.error()}", file=sys.stderr)
            sys.exit(1)
        got.append(msg.value().decode())
    c.close()
    print("\n".join(got))


def probe(conf):
    errors = []
    # librdkafka's own log lines repeat every reconnect; its error callback says the same once.
    conf.update({"error_cb": lambda e: errors.append(str(e)), "log_level": 0,
                 "reconnect.backoff.ms": 1000, "socket.timeout.ms": 10000})
    client = Producer(conf)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.list_topics(timeout=0.5)
            print("ok")
            break
        except KafkaException as e:
            last = f"list_topics: {e}"
        client.poll(0.1)  # serves error_cb
        if errors:
            break
    else:
        errors.append(last)
    for e in dict.fromkeys(errors):
        print(e)


def main():
    mode = sys.argv[1]
    if mode == "probe":
        probe(settings(sys.argv[2], sys.argv[3:]))
    elif mode == "create":
        create(settings(sys.argv[2], sys.argv[4:]), sys.argv[3])
    elif mode in ("produce", "consume"):
        bootstrap, topic, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        (produce if mode == "produce" else consume)(settings(bootstrap, sys.argv[5:]), topic, count)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
