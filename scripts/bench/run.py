#!/usr/bin/env python3
"""The side-by-side consumer benchmark behind scripts/bench.sh (read that first).

usage: run.py [--quick] [--runs N] [--only bench-broker|tansu] [--tansu BOOTSTRAP] [--out DIR]

For every scenario (record size x codec x partitions) and source (the in-memory benchmark broker,
then tansu), runs sluice, rust-rdkafka, rskafka and krafka (target/release/examples/bench_consume) N times
each, rotating which client goes first, and reports medians: wall time, records/s, MB/s (value
bytes), CPU seconds (user+sys, all threads) per million records, and peak RSS. Each run checks it
read every record exactly once, in order, or the whole benchmark fails.

Prints the table (also written as DIR/table.md, every run in DIR/runs.tsv) and ends with two lines
per scenario, sluice against librdkafka and against krafka:
    ratio sluice/rdkafka [bench-broker 100B lz4 8p]: throughput 2.41 (steady), cpu-per-record 0.31, rss 0.20
    ratio sluice/krafka [bench-broker 100B lz4 8p]: throughput 1.83 (steady), cpu-per-record 0.45, rss 0.50
Throughput in the ratio is "steady" records/s, counted from each client's first record on (start-up,
about 0.5 s for librdkafka, is left out), when both reads last a second past their first record;
shorter reads (--quick, tansu's small sets) compare records/s from the start, and the line says
which ("(steady)" or "(from-start)"). CPU per record is over the whole run. The table has both
from-start and steady records/s. The full run reads 10M x 100 B and 1M x 1 KiB from the benchmark
broker, so a read lasts seconds and start-up does not dominate; --quick (and tansu, which serves
about 20 MB/s) reads 1M x 100 B and 100k x 1 KiB. For the benchmark broker, the table also gives
the broker's own CPU per GB of values served to each client (from /proc/PID/stat around the run).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
CLIENTS = ["sluice", "rdkafka", "rskafka", "krafka"]
# The peers sluice's ratio lines compare it with, one line each per scenario.
RATIO_PEERS = ["rdkafka", "krafka"]
# (value bytes, records): steady-state sizes for the benchmark broker's full run; the quick sizes for
# --quick and for tansu (which serves ~20 MB/s; --quick reads a tenth of them from it).
SIZES = [(100, 10_000_000), (1024, 1_000_000)]
QUICK_SIZES = [(100, 1_000_000), (1024, 100_000)]
CODECS = ["none", "lz4", "zstd"]
PARTITIONS = [1, 8]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def scenario_name(source, size, codec, parts):
    size_s = f"{size}B" if size < 1024 else f"{size // 1024}KiB"
    return f"{source} {size_s} {codec} {parts}p"


# tansu 0.6 answers a Fetch at an offset inside a batch from the batch after it (its storage
# lists batches by base offset >= the fetch offset), so a client that fetches from the middle of
# a batch skips records there. krafka does, by default: it decodes only max.poll.records (500)
# plus its free buffer (500) of each response and fetches the rest again from the cut. From tansu
# it polls without a record limit (max.poll.records 10^9), so it never cuts a response.
# The shortest read past the first record whose steady rate the ratio lines trust.
STEADY_MIN_S = 1.0
TANSU_SETTINGS = {"krafka": ["max.poll.records=1000000000"]}


def run_client(client, bootstrap, topic, parts, records, settings=()):
    cmd = [os.path.join(RELEASE, "examples", "bench_consume"), "--client", client,
           "--bootstrap", bootstrap, "--topic", topic, "--partitions", str(parts),
           "--records", str(records), "--timeout-s", "300"]
    for kv in settings:
        cmd += ["--set", kv]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{client} failed on {topic}: {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def process_cpu_s(pid):
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(source, size, codec, parts, records, bootstrap, topic, runs, rows, broker_pid=None):
    name = scenario_name(source, size, codec, parts)
    for r in range(runs):
        order = CLIENTS[r % len(CLIENTS):] + CLIENTS[:r % len(CLIENTS)]
        for client in order:
            before = process_cpu_s(broker_pid) if broker_pid else None
            settings = TANSU_SETTINGS.get(client, []) if source == "tansu" else []
            m = run_client(client, bootstrap, topic, parts, records, settings)
            if broker_pid:
                m["broker_cpu_s"] = process_cpu_s(broker_pid) - before
            rows.append({"scenario": name, "client": client, "run": r + 1, **m})
            log(f"  {name:32} run {r + 1} {client:8} wall {m['wall_s']:7.3f} s  "
                f"cpu {m['cpu_s']:6.2f} s  rss {m['rss_kib'] / 1024:6.1f} MiB")


def bench_broker(size, codec, parts, records, runs, rows):
    exe = os.path.join(RELEASE, "sluice-bench-broker")
    p = subprocess.Popen([exe, "--records", str(records), "--size", str(size), "--partitions",
                          str(parts), "--codec", codec], stdout=subprocess.PIPE, text=True)
    try:
        bootstrap = p.stdout.readline().strip()
        if not bootstrap:
            raise SystemExit("sluice-bench-broker did not start")
        measure("bench-broker", size, codec, parts, records, bootstrap, "bench", runs, rows, p.pid)
    finally:
        p.terminate()
        p.wait()


def fill_tansu(bootstrap, topic, size, codec, parts, records):
    """Creates the topic and writes `records` values of `size` bytes (like the benchmark
    broker's: not all alike, so the codec has work) with sluice produce, in batches of up to
    256 KiB as the benchmark broker holds them."""
    sluice = os.path.join(RELEASE, "sluice")
    subprocess.run([sluice, "topic", "create", "-b", bootstrap, "-t", topic, "-p", str(parts)],
                   check=True, capture_output=True)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 {}:,"
    filler = bytes(alphabet[(i * 7 + i // 13) % len(alphabet)] for i in range(size + 64))
    prod = subprocess.Popen([sluice, "produce", "-b", bootstrap, "-t", topic, "-z", codec,
                             "-X", "batch.size=262144", "-X", "linger.ms=20"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    chunk = []
    for i in range(records):
        start = (i * 31) % 64
        chunk.append(filler[start:start + size])
        if len(chunk) == 10_000:
            prod.stdin.write(b"\n".join(chunk) + b"\n")
            chunk = []
    if chunk:
        prod.stdin.write(b"\n".join(chunk) + b"\n")
    prod.stdin.close()
    if prod.wait() != 0:
        raise SystemExit(f"sluice produce to {topic} failed")


def tansu(bootstrap, size, codec, parts, records, runs, rows):
    topic = f"bench-{size}-{codec}-{parts}p-{os.getpid()}-{int(time.time())}"
    t0 = time.time()
    fill_tansu(bootstrap, topic, size, codec, parts, records)
    log(f"  filled {topic}: {records} x {size} B in {time.time() - t0:.1f} s")
    try:
        measure("tansu", size, codec, parts, records, bootstrap, topic, runs, rows)
    finally:
        subprocess.run([os.path.join(RELEASE, "sluice"), "topic", "delete", "-b", bootstrap,
                        "-t", topic], capture_output=True)


def summarise(rows, out_dir):
    by = {}
    for r in rows:
        by.setdefault(r["scenario"], {}).setdefault(r["client"], []).append(r)
    lines = ["| scenario | client | wall s | first record s | records/s | steady records/s | MB/s "
             "| CPU s per M records | peak RSS MiB | broker CPU s per GB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    medians = {}
    for scenario, clients in by.items():
        for client in CLIENTS:
            rs = clients.get(client)
            if not rs:
                continue
            wall = statistics.median(r["wall_s"] for r in rs)
            first = statistics.median(r["first_s"] for r in rs)
            # From the first record on: connection set-up and offset lookup left out.
            steady = statistics.median((r["records"] - 1) / max(r["wall_s"] - r["first_s"], 1e-6)
                                       for r in rs)
            cpu = statistics.median(r["cpu_s"] for r in rs)
            rss = statistics.median(r["rss_kib"] for r in rs) / 1024
            recs, nbytes = rs[0]["records"], rs[0]["bytes"]
            m = {"rps": recs / wall, "steady": steady, "mbps": nbytes / wall / 1e6, "cpu_m": cpu / recs * 1e6,
                 "rss": rss, "wall": wall, "span": wall - first}
            medians[(scenario, client)] = m
            broker = "-"
            if all("broker_cpu_s" in r for r in rs):
                broker = f"{statistics.median(r['broker_cpu_s'] for r in rs) / (nbytes / 1e9):.2f}"
            lines.append(f"| {scenario} | {client} | {wall:.3f} | {first:.3f} | {m['rps'] / 1e6:.2f} M | "
                         f"{steady / 1e6:.2f} M | "
                         f"{m['mbps']:.0f} | {m['cpu_m']:.3f} | {rss:.1f} | {broker} |")
    ratios = []
    for scenario in by:
        for peer in RATIO_PEERS:
            s, k = medians.get((scenario, "sluice")), medians.get((scenario, peer))
            if s and k:
                # Steady records/s when both reads last long enough past their first record
                # to be measured (a second), else records/s from the start, and the line says which.
                if min(s["span"], k["span"]) >= STEADY_MIN_S:
                    kind, ratio = "steady", s["steady"] / k["steady"]
                else:
                    kind, ratio = "from-start", s["rps"] / k["rps"]
                ratios.append(f"ratio sluice/{peer} [{scenario}]: throughput {ratio:.2f} ({kind}), "
                              f"cpu-per-record {s['cpu_m'] / k['cpu_m']:.2f}, rss {s['rss'] / k['rss']:.2f}")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "runs.tsv"), "w") as f:
        keys = ["scenario", "client", "run", "records", "bytes", "wall_s", "first_s", "cpu_s",
                "rss_kib", "broker_cpu_s"]
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(str(r.get(k, "")) for k in keys) + "\n")
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n\n```\n" + "\n".join(ratios) + "\n```\n")
    print("\n".join(lines))
    print()
    print("\n".join(ratios))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--only", choices=["bench-broker", "tansu"])
    ap.add_argument("--tansu", help="bootstrap address of the tansu (or other Kafka) broker")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench"))
    a = ap.parse_args()
    runs = a.runs or (1 if a.quick else 3)
    rows = []
    for source in ["bench-broker", "tansu"]:
        if a.only and a.only != source:
            continue
        if source == "tansu" and not a.tansu:
            raise SystemExit("run.py: --tansu BOOTSTRAP is needed for the tansu scenarios")
        sizes = QUICK_SIZES if a.quick or source == "tansu" else SIZES
        for size, records in sizes:
            if a.quick and source == "tansu":
                records //= 10
            for codec in CODECS:
                for parts in PARTITIONS:
                    log(f"== {scenario_name(source, size, codec, parts)}: {records} records, {runs} run(s) each")
                    if source == "bench-broker":
                        bench_broker(size, codec, parts, records, runs, rows)
                    else:
                        tansu(a.tansu, size, codec, parts, records, runs, rows)
    summarise(rows, a.out)


if __name__ == "__main__":
    main()
