#!/usr/bin/env python3
"""Time from a member joining a stable group to records flowing again, sluice vs librdkafka.

usage: scripts/bench/rejoin.py BOOTSTRAP [ROUNDS]
       scripts/bench/rejoin.py --pause [ROUNDS]

--pause (issue 15): on librdkafka's mock cluster (target/debug/examples/mock_cluster, started
here; tansu 0.6 does not serve librdkafka's cooperative-sticky members), a group of 4 members on
12 partitions reads while a producer writes ~1200 records/s; a fifth member joins. For sluice
eager range, sluice cooperative-sticky and librdkafka cooperative-sticky, same run, it reports
how long the existing members stopped: the longest gap between two records handed to any one
existing member, from the fifth's start until 2 s after the fifth's first record (with records
flowing a member normally sees one every few milliseconds), the median of those per-member
gaps, and when the fifth read its first record. The mock holds every JoinGroup round for
session.timeout.ms - 1 s (5 s here), so an eager rebalance stops members at least that long.

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


def member_with(kind, strategy, bootstrap, group, topic):
    """A member of `kind` using `strategy`, as `member` (which is range for librdkafka)."""
    if kind == "sluice":
        cmd = [SLUICE, "consume", "-b", bootstrap, "-t", topic, "-G", group, "-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=1000", "-X", "fetch.max.wait.ms=100",
               "-X", f"partition.assignment.strategy={strategy}"]
        env = dict(os.environ, RUST_LOG="sluice_group=info")
    else:
        cmd = ["python3", os.path.join(ROOT, "tests/peers/rdkafka_group_member.py"), bootstrap, group, topic,
               strategy]
        env = os.environ
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                         text=True)
    events = []  # times a record was handed out
    def read():
        for line in p.stdout:
            if kind == "sluice" or line.startswith("record"):
                events.append(time.monotonic())
    threading.Thread(target=read, daemon=True).start()
    return p, events


def pause_round(kind, strategy, bootstrap, mock):
    topic, group = f"pause-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    mock.stdin.write(f"topic {topic} 12\n")
    mock.stdin.flush()
    assert mock.stdout.readline().strip() == f"created {topic}"
    stop = threading.Event()
    def produce():
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        i = 0
        while not stop.is_set():
            for part in range(12):
                p.produce(topic, value=b"x" * 100, partition=part)
            p.poll(0)
            i += 1
            time.sleep(0.01)
        p.flush(10)
    threading.Thread(target=produce, daemon=True).start()
    members = [member_with(kind, strategy, bootstrap, group, topic) for _ in range(4)]
    # Settled: every member has read in each of the last 2 seconds.
    def settled():
        now = time.monotonic()
        ok = all(any(now - 1 < t for t in ev) and any(now - 2 < t < now - 1 for t in ev) for _, ev in members)
        return True if ok else None
    wait(settled, limit=120)
    t0 = time.monotonic()
    fifth = member_with(kind, strategy, bootstrap, group, topic)
    first = wait(lambda: fifth[1][0] if fifth[1] else None, limit=120)
    end = first + 2
    wait(lambda: True if time.monotonic() > end else None)
    gaps = []
    for _, ev in members:
        ts = [t0] + [t for t in list(ev) if t0 <= t <= end] + [end]
        gaps.append(max(b - a for a, b in zip(ts, ts[1:])))
    stop.set()
    for p, _ in members + [fifth]:
        p.stdin.close()
        p.terminate()
        p.wait()
    return max(gaps), statistics.median(gaps), first - t0


def pause_main(rounds):
    mock = subprocess.Popen([os.path.join(ROOT, "target", "debug", "examples", "mock_cluster")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    bootstrap = mock.stdout.readline().strip()
    kinds = [("sluice", "range"), ("sluice", "cooperative-sticky"), ("librdkafka", "cooperative-sticky")]
    results = {k: [] for k in kinds}
    try:
        for r in range(rounds):
            for kind, strategy in kinds:
                worst, median, first = pause_round(kind, strategy, bootstrap, mock)
                results[(kind, strategy)].append((worst, median, first))
                print(f"{kind:10} {strategy:18} round {r}: longest pause of an existing member {worst:.2f}s, "
                      f"median {median:.2f}s, fifth member's first record {first:.2f}s", flush=True)
    finally:
        mock.stdin.close()
        mock.wait()
    print("| client | assignor | longest pause of an existing member | median pause | fifth member's first record |")
    print("|---|---|---|---|---|")
    for (kind, strategy), xs in results.items():
        med = lambda i: statistics.median(x[i] for x in xs)
        print(f"| {kind} | {strategy} | {med(0):.2f} s | {med(1):.2f} s | {med(2):.2f} s |")


def main():
    if sys.argv[1] == "--pause":
        pause_main(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
        return
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
