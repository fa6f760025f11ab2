#!/usr/bin/env python3
"""Memory behind a slow application: peak RSS of a consumer whose application stops polling while a
topic of 200 MB is there to be fetched, against queued.max.bytes.

    python3 scripts/bench/slow_app.py [--mb 200] [--stall-ms 3000] [--work-ms 5]

Starts sluice-bench-broker with the topic (1 KiB records, 4 partitions; uncompressed and lz4), then
runs bench_consume (release) for each queued.max.bytes: the application polls once, stops polling
for --stall-ms (the client's tasks go on: a fetch in flight completes), then works --work-ms after
every poll until it has read every record (offsets checked). Prints peak RSS (VmHWM) beside
queued.max.bytes and the difference, and the same for a fast application (no stall, no work) as the
baseline. librdkafka is run beside it with queued.max.messages.kbytes set to the same bound.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
MIB = 1024 * 1024


def build():
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "sluice-testkit",
                    "--bin", "sluice-bench-broker", "--example", "bench_consume"], check=True, cwd=ROOT)


def consume(client, bootstrap, parts, records, queued, stall_ms, work_ms):
    cmd = [os.path.join(RELEASE, "examples", "bench_consume"), "--client", client,
           "--bootstrap", bootstrap, "--topic", "bench", "--partitions", str(parts),
           "--records", str(records), "--timeout-s", "600",
           "--stall-ms", str(stall_ms), "--work-ms", str(work_ms)]
    if client == "sluice":
        cmd += ["--set", f"queued.max.bytes={queued}"]
    else:
        cmd += ["--set", f"queued.max.messages.kbytes={queued // 1024}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{client} failed: {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--stall-ms", type=int, default=3000)
    ap.add_argument("--work-ms", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        build()
    size, parts = 1024, 4
    records = args.mb * MIB // size
    print(f"| codec | client | queued.max.bytes | app | peak RSS | RSS - queued.max.bytes |")
    print(f"|---|---|---|---|---|---|")
    for codec in ["none", "lz4"]:
        broker = subprocess.Popen([os.path.join(RELEASE, "sluice-bench-broker"), "--records",
                                   str(records), "--size", str(size), "--partitions", str(parts),
                                   "--codec", codec], stdout=subprocess.PIPE, text=True)
        try:
            bootstrap = broker.stdout.readline().strip()
            if not bootstrap:
                raise SystemExit("sluice-bench-broker did not start")
            for client in ["sluice", "rdkafka"]:
                for queued in [4 * MIB, 16 * MIB, 64 * MIB]:
                    for app, stall, work in [("fast", 0, 0), ("slow", args.stall_ms, args.work_ms)]:
                        m = consume(client, bootstrap, parts, records, queued, stall, work)
                        rss = m["rss_kib"] * 1024
                        print(f"| {codec} | {client} | {queued // MIB} MiB | {app} | "
                              f"{rss / MIB:.1f} MiB | {(rss - queued) / MIB:+.1f} MiB |", flush=True)
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    sys.exit(main())
