#!/usr/bin/env python3
"""Time from a member joining a stable group to records flowing again, sluice vs librdkafka.

usage: scripts/bench/rejoin.py BOOTSTRAP [ROUNDS]

For each client, a member A consumes a 4-partition topic while a producer writes 200 records/s.
Then member B (same client) starts; we measure, from B's start, (1) when B prints its first
record and (2) when A prints its first record after the rebalance ends (both are flowing).
session.timeout.ms 6000, heartbeat.interval.ms 1000 for both clients. Prints one line per round
and the medians.
"""
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLUICE = os.path.join(ROOT, "target", "debug", "sluice")


def member(kind, bootstrap, group, topic):
    if kind == "sluice":
        cmd = [SLUICE, "consume", "-b", bootstrap, "-t", topic, "-G", group, "-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=1000", "-X", "fetch.max.wait.ms=100"]
        env = dict(os.environ, RUST_LOG="sluice_group=info")
    else:
        cmd = ["python3", os.path.join(ROOT, "tests/peers/rdkafka_group_member.py"), bootstrap, group, topic, "range"]
        env = os.environ
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    events = []  # (time, kind): kind is "record" or "assigned"
    def read(stream, is_err):
        for line in stream:
            now = time.monotonic()
            if is_err:
                if "partitions assigned" in line:
                    events.append((now, "assigned"))
            elif kind == "sluice" or line.startswith("record"):
                events.append((now, "record"))
            elif line.startswith("assigned"):
                events.append((now, "assigned"))
    threading.Thread(target=read, args=(p.stdout, False), daemon=True).start()
    threading.Thread(target=read, args=(p.stderr, True), daemon=True).start()
    return p, events


def wait(cond, limit=60):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r = cond()
        if r is not None:
            return r
        time.sleep(0.005)
    raise SystemExit("timed out")


def round_(kind, bootstrap, admin):
    topic, group = f"rejoin-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 4, 1)])[topic].result()
    stop = threading.Event()
    def produce():
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        i = 0
        while not stop.is_set():
            p.produce(topic, value=b"x" * 100, partition=i % 4)
            p.poll(0)
            i += 1
            time.sleep(0.005)
        p.flush(10)
    threading.Thread(target=produce, daemon=True).start()
    a, a_ev = member(kind, bootstrap, group, topic)
    wait(lambda: True if any(k == "record" for _, k in a_ev) else None)
    time.sleep(2)  # let A settle into the steady state before B joins
    t0 = time.monotonic()
    b, b_ev = member(kind, bootstrap, group, topic)
    b_first = wait(lambda: next((t for t, k in b_ev if k == "record"), None)) - t0
    a_assigned = wait(lambda: next((t for t, k in a_ev if k == "assigned" and t > t0), None))
    a_flow = wait(lambda: next((t for t, k in a_ev if k == "record" and t > a_assigned), None)) - t0
    stop.set()
    for p in (a, b):
        p.stdin.close()
        p.terminate()
        p.wait()
    admin.delete_topics([topic])
    return b_first, a_flow


def main():
    bootstrap = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    admin = AdminClient({"bootstrap.servers": bootstrap})
    results = {"sluice": [], "librdkafka": []}
    for r in range(rounds):
        for kind in (("sluice", "librdkafka") if r % 2 == 0 else ("librdkafka", "sluice")):
            b_first, a_flow = round_(kind, bootstrap, admin)
            both = max(b_first, a_flow)
            results[kind].append(both)
            print(f"{kind:10} round {r}: joining member's first record {b_first:.2f}s, "
                  f"existing member flowing again {a_flow:.2f}s")
    for kind, xs in results.items():
        print(f"median {kind}: records flowing on both members {statistics.median(xs):.2f}s after the join")


if __name__ == "__main__":
    main()
