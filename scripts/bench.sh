#!/usr/bin/env bash
# Consumer benchmark: sluice beside rust-rdkafka (librdkafka), rskafka and krafka, reading the same
# data.
#
#   scripts/bench.sh [--quick] [--runs N] [--only bench-broker|tansu]
#
# Builds the release binaries (the sluice CLI, sluice-bench-broker and the bench_consume example of
# sluice-testkit, which holds all four clients), then, uncompressed, lz4 and zstd, in 1 and 8
# partitions, measures each client reading the whole topic from (a) the in-memory benchmark broker
# (where the client is the bottleneck: 10M records of 100 B and 1M of 1 KiB, so reads last seconds)
# and (b) tansu (scripts/broker.sh starts one; KAFKA_BOOTSTRAP picks another broker; 1M of 100 B
# and 100k of 1 KiB, as it serves about 20 MB/s). Three runs each, order rotated, medians reported.
# --quick reads 1M x 100 B and 100k x 1 KiB from the benchmark broker and a tenth of that from
# tansu, once each. Ends with two lines per scenario, sluice against librdkafka and against krafka
# (throughput: steady records/s, from each client's first record; CPU: the whole run):
#   ratio sluice/rdkafka [bench-broker 100B lz4 8p]: throughput X (steady), cpu-per-record Y, rss Z
#   ratio sluice/krafka [bench-broker 100B lz4 8p]: throughput X (steady), cpu-per-record Y, rss Z
# The table and every run are kept in target/bench/ (table.md, runs.tsv).
#
#   scripts/bench.sh --batch [--records N] [--runs R]
#
# measures the main job instead: `sluice batch` (20k-record batches, stats:amount and
# sum-by:user:amount, results produced and acknowledged, then the commit) against the same job
# written with rust-rdkafka and with krafka, on tansu (scripts/bench/batch.py says more).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

only=""
batch=""
for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--only" ]; then j=$((i + 1)); only=${!j:-}; fi
    if [ "${!i}" = "--batch" ]; then batch=yes; fi
done

echo "== building release binaries" >&2
cargo build --release --locked -p sluice-cli
cargo build --release --locked -p sluice-testkit --bin sluice-bench-broker --example bench_consume \
    --example bench_batch

args=()
for a in "$@"; do [ "$a" = "--batch" ] || args+=("$a"); done
if [ -n "$batch" ] || [ "$only" != "bench-broker" ]; then
    started=""
    if [ -z "${KAFKA_BOOTSTRAP:-}" ] && ! scripts/broker.sh status >/dev/null 2>&1; then
        started=yes
    fi
    bootstrap=$(scripts/broker.sh start)
    if [ -n "$started" ]; then trap 'scripts/broker.sh stop' EXIT; fi
    if [ -n "$batch" ]; then
        python3 scripts/bench/batch.py "$bootstrap" "${args[@]}"
        exit
    fi
    args+=(--tansu "$bootstrap")
fi
python3 scripts/bench/run.py "${args[@]}"
