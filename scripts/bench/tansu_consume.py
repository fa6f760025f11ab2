#!/usr/bin/env python3
"""Issue 4's measurement: wall time, CPU seconds and peak RSS of `sluice consume -e` beside librdkafka's
consumer (confluent-kafka, scripts/bench/rdkafka_drain.py) reading the same topic, in the same run.

usage: tansu_consume.py BOOTSTRAP [RECORDS [RECORD_BYTES [RUNS]]]     (defaults 1000000 100 3)

Creates a one-partition topic, fills it with librdkafka (uncompressed), then runs the two consumers
RUNS times each, alternating which goes first, each writing values a line to a pipe the driver
counts (a run that reads the wrong number of records fails), timed by
/usr/bin/time. Prints every run and the medians. Needs target/release/sluice (cargo build --release -p
sluice-cli).
"""
import os
import statistics
import subprocess
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd):
    """Runs cmd, counting the lines it writes; returns (wall s, cpu s, peak RSS MiB, lines)."""
    fmt = "TIME %e %U %S %M"
    p = subprocess.Popen(["/usr/bin/time", "-f", fmt] + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    lines = 0
    while chunk := p.stdout.read(1 << 20):
        lines += chunk.count(b"\n")
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        raise SystemExit(f"{cmd[0]} failed: {err[-2000:]}")
    line = [l for l in err.splitlines() if l.startswith("TIME ")][-1]
    wall, user, sys_, rss_kb = line.split()[1:]
    return float(wall), float(user) + float(sys_), int(rss_kb) / 1024, lines


def main():
    bootstrap = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    topic = f"bench-consume-{os.getpid()}-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result()
    try:
        t0 = time.time()
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                      "queue.buffering.max.messages": 1_000_000, "compression.type": "none"})
        value = (b"x" * size)
        for i in range(records):
            while True:
                try:
                    p.produce(topic, value=value, partition=0)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 10000 == 0:
                p.poll(0)
        if p.flush(120) != 0:
            raise SystemExit("produce did not finish")
        print(f"produced {records} x {size} B in {time.time() - t0:.1f} s", flush=True)

        sluice = [os.path.join(ROOT, "target/release/sluice"), "consume", "-b", bootstrap, "-t", topic,
                  "-o", "earliest", "-e"]
        rdk = [sys.executable, os.path.join(ROOT, "scripts/bench/rdkafka_drain.py"), bootstrap, topic]
        results = {"sluice": [], "librdkafka": []}
        for r in range(runs):
            order = [("sluice", sluice), ("librdkafka", rdk)]
            if r % 2:
                order.reverse()
            for name, cmd in order:
                wall, cpu, rss, lines = timed(cmd)
                if lines != records:
                    raise SystemExit(f"{name} read {lines} records, expected {records}")
                results[name].append((wall, cpu, rss))
                print(f"run {r + 1} {name:10} wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak rss {rss:7.1f} MiB",
                      flush=True)
        print(f"\nmedians over {runs} runs, {records} records of {size} B, one partition, {bootstrap}:")
        for name, rs in results.items():
            wall, cpu, rss = (statistics.median(x[i] for x in rs) for i in range(3))
            print(f"{name:10} wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak rss {rss:7.1f} MiB  "
                  f"({records / wall / 1e6:.2f} M records/s)")
    finally:
        for f in admin.delete_topics([topic]).values():
            f.result()


if __name__ == "__main__":
    main()
