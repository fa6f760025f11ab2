#!/usr/bin/env bash
# Consumer benchmark: sluice beside rust-rdkafka (librdkafka), rskafka and krafka, reading the same
# data.
#
#   scripts/bench.sh [--quick] [--runs N] [--only bench-broker|tansu]
#
# Builds the release binaries (the sluice CLI, sluice-bench-broker and the bench_consume example of
# sluice-testkit, which holds all four clients), then for 1M records of 100 B and 100k of 1 KiB,
# uncompressed, lz4 and zstd, in 1 and 8 partitions, measures each client reading the whole topic
# from (a) the in-memory benchmark broker (where the client is the bottleneck) and (b) tansu
# (scripts/broker.sh starts one; KAFKA_BOOTSTRAP picks another broker). Three runs each, order
# rotated, medians reported. --quick reads a tenth of the records once (about 2 minutes after the
# build). Ends with two lines per scenario, sluice against librdkafka and against krafka:
#   ratio sluice/rdkafka [bench-broker 100B lz4 8p]: throughput X, cpu-per-record Y, rss Z
#   ratio sluice/krafka [bench-broker 100B lz4 8p]: throughput X, cpu-per-record Y, rss Z
# The table and every run are kept in target/bench/ (table.md, runs.tsv).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

only=""
for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--only" ]; then j=$((i + 1)); only=${!j:-}; fi
done

echo "== building release binaries" >&2
cargo build --release --locked -p sluice-cli
cargo build --release --locked -p sluice-testkit --bin sluice-bench-broker --example bench_consume

args=("$@")
if [ "$only" != "bench-broker" ]; then
    started=""
    if [ -z "${KAFKA_BOOTSTRAP:-}" ] && ! scripts/broker.sh status >/dev/null 2>&1; then
        started=yes
    fi
    bootstrap=$(scripts/broker.sh start)
    if [ -n "$started" ]; then trap 'scripts/broker.sh stop' EXIT; fi
    args+=(--tansu "$bootstrap")
fi
python3 scripts/bench/run.py "${args[@]}"
