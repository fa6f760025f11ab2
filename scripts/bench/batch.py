#!/usr/bin/env python3
"""The main job measured: `sluice batch` against the same job written with rust-rdkafka and krafka.

usage: scripts/bench/batch.py BOOTSTRAP [--records N] [--runs R] [--batch-size B] [--partitions P]

Fills a topic with N JSON events ({"user": ..., "amount": ..., "item": ...}, about 70 B each) with
`sluice produce`, then per run and client (order rotated) runs the batch job in a new group into a
new results topic, to the end of the input: batches of B records (20,000), `stats:amount` and
`sum-by:user:amount` over each, the result produced and acknowledged, then the batch's offsets
committed.
  - sluice:  target/release/sluice batch ... -e  (the CLI users run)
  - rdkafka: target/release/examples/bench_batch --client rdkafka (StreamConsumer + FutureProducer)
  - krafka:  target/release/examples/bench_batch --client krafka
Every client's results are read back and checked against the truth: the batches' record counts add
up to N and the sums per user equal what was produced (each event counted exactly once). Reports,
per client, medians of wall seconds (group join included: tansu holds the first JoinGroup about
session.timeout.ms / 2 = 3 s for every client alike), events/s over the wall time, and CPU seconds
(user + system, all threads, from wait4) per million events; then the ratio lines
    ratio sluice-batch/rdkafka: events/s X, cpu-per-event Y
    ratio sluice-batch/krafka: events/s X, cpu-per-event Y
scripts/bench.sh --batch runs it (after building the release binaries).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
SLUICE = os.path.join(RELEASE, "sluice")
PEER = os.path.join(RELEASE, "examples", "bench_batch")
CLIENTS = ["sluice", "rdkafka", "krafka"]
USERS = 997


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sluice(*args, **kw):
    return subprocess.run([SLUICE, *args], check=True, capture_output=True, **kw)


def fill(bootstrap, topic, partitions, n):
    """Writes n events; returns the truth: per-user sums (in cents, exact) and the count."""
    sluice("topic", "create", "-b", bootstrap, "-t", topic, "-p", str(partitions))
    sums = {}
    prod = subprocess.Popen([SLUICE, "produce", "-b", bootstrap, "-t", topic, "-z", "lz4",
                             "-X", "batch.size=262144", "-X", "linger.ms=20"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    chunk = []
    for i in range(n):
        user = f"u{(i * 7919) % USERS:04d}"
        cents = (i * 37) % 10_000
        sums[user] = sums.get(user, 0) + cents
        chunk.append(f'{{"user":"{user}","amount":{cents // 100}.{cents % 100:02d},"item":"sku-{i % 5000:05d}"}}')
        if len(chunk) == 20_000:
            prod.stdin.write(("\n".join(chunk) + "\n").encode())
            chunk = []
    if chunk:
        prod.stdin.write(("\n".join(chunk) + "\n").encode())
    prod.stdin.close()
    if prod.wait() != 0:
        raise SystemExit(f"sluice produce to {topic} failed")
    return sums


def run(client, bootstrap, topic, to, group, n, batch_size):
    if client == "sluice":
        cmd = [SLUICE, "batch", "-b", bootstrap, "-t", topic, "-G", group, "--to", to,
               "--compute", "stats:amount", "--compute", "sum-by:user:amount",
               "--batch-size", str(batch_size), "--batch-bytes", str(256 << 20),
               "-X", "session.timeout.ms=6000", "-e"]
    else:
        cmd = [PEER, "--client", client, "--bootstrap", bootstrap, "--topic", topic, "--to", to,
               "--group", group, "--records", str(n), "--batch-size", str(batch_size)]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{client} failed ({p.returncode}): {err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def check(client, bootstrap, to, n, truth):
    """Reads the results topic and checks every event was counted exactly once."""
    out = sluice("consume", "-b", bootstrap, "-t", to, "-o", "earliest", "-e").stdout.decode()
    records, sums, batches = 0, {}, 0
    for line in out.splitlines():
        r = json.loads(line)
        batches += 1
        records += r["records"]
        if r["stats:amount"]["count"] != r["records"]:
            raise SystemExit(f"{client}: a batch's stats count {r['stats:amount']['count']} is not its {r['records']} records")
        for user, s in r["sum-by:user:amount"]["sums"].items():
            sums[user] = sums.get(user, 0) + round(s * 100)
    if records != n:
        raise SystemExit(f"{client}: results count {records} events, {n} were produced")
    bad = [u for u in truth if sums.get(u) != truth[u]]
    if bad:
        raise SystemExit(f"{client}: sums differ for {len(bad)} users, e.g. {bad[0]}: {sums.get(bad[0])} != {truth[bad[0]]}")
    return batches


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--partitions", type=int, default=4)
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    topic = f"bench-batch-{tag}"
    t0 = time.time()
    truth = fill(a.bootstrap, topic, a.partitions, a.records)
    log(f"filled {topic}: {a.records} events in {time.time() - t0:.1f} s")
    rows = {c: [] for c in CLIENTS}
    try:
        for r in range(a.runs):
            for client in CLIENTS[r % 3:] + CLIENTS[:r % 3]:
                to = f"bench-results-{tag}-{client}-{r}"
                sluice("topic", "create", "-b", a.bootstrap, "-t", to, "-p", "1")
                m = run(client, a.bootstrap, topic, to, f"bench-batch-{tag}-{client}-{r}", a.records,
                        a.batch_size)
                m["batches"] = check(client, a.bootstrap, to, a.records, truth)
                rows[client].append(m)
                log(f"  run {r + 1} {client:8} wall {m['wall_s']:6.2f} s  cpu {m['cpu_s']:6.2f} s  "
                    f"{m['batches']} batches checked")
                subprocess.run([SLUICE, "topic", "delete", "-b", a.bootstrap, "-t", to], capture_output=True)
    finally:
        subprocess.run([SLUICE, "topic", "delete", "-b", a.bootstrap, "-t", topic], capture_output=True)
    med = {}
    print("| client | wall s | events/s | CPU s per M events |")
    print("|---|---:|---:|---:|")
    for c in CLIENTS:
        wall = statistics.median(m["wall_s"] for m in rows[c])
        cpu = statistics.median(m["cpu_s"] for m in rows[c])
        med[c] = (a.records / wall, cpu / a.records * 1e6)
        print(f"| {c} | {wall:.2f} | {med[c][0] / 1e3:.0f} k | {med[c][1]:.2f} |")
    print()
    for peer in ["rdkafka", "krafka"]:
        print(f"ratio sluice-batch/{peer}: events/s {med['sluice'][0] / med[peer][0]:.2f}, "
              f"cpu-per-event {med['sluice'][1] / med[peer][1]:.2f}")


if __name__ == "__main__":
    main()
