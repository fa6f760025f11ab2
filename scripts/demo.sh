#!/usr/bin/env bash
# The main job: start the broker, write a realistic set of JSON order events, run `sluice batch` over
# them (per-batch amount statistics and per-user sums, results written to a topic and committed after
# each is acknowledged), print the results checked against the truth, show the group's lag, stop.
#
#   scripts/demo.sh [EVENTS]        (default 200000)
#
# Uses KAFKA_BOOTSTRAP when set (nothing is started or stopped then); otherwise tansu via
# scripts/broker.sh, installed on first use (about 9 minutes once).
set -euo pipefail
cd "$(dirname "$0")/.."

events=${1:-200000}
run=$(date +%s)-$$
orders=demo-orders-$run
results=demo-results-$run
group=demo-batch-$run

echo "== building sluice (release)"
cargo build --release --quiet -p sluice-cli
sluice=target/release/sluice

started_broker=no
if [ -z "${KAFKA_BOOTSTRAP:-}" ] && ! scripts/broker.sh status >/dev/null 2>&1; then
    started_broker=yes
fi
bootstrap=$(scripts/broker.sh start)
cleanup() {
    "$sluice" topic delete -b "$bootstrap" -t "$orders" -t "$results" >/dev/null 2>&1 || true
    if [ "$started_broker" = yes ]; then scripts/broker.sh stop >/dev/null; fi
}
trap cleanup EXIT
echo "== broker $bootstrap"

"$sluice" topic create -b "$bootstrap" -t "$orders" -p 6
"$sluice" topic create -b "$bootstrap" -t "$results" -p 1

echo "== producing $events order events (key = user, lz4) to $orders"
truth=$(mktemp)
start=$(date +%s%N)
awk -v n="$events" -v truth="$truth" 'BEGIN {
    srand(7);
    split("books games garden music tools toys", cat, " ");
    for (i = 0; i < n; i++) {
        user = sprintf("user-%03d", int(rand() * rand() * 200));   # a few heavy buyers, a long tail
        cents = int(100 + rand() * rand() * 50000);
        qty = 1 + int(rand() * 4);
        printf "%s\t{\"order_id\":%d,\"user\":\"%s\",\"category\":\"%s\",\"qty\":%d,\"amount\":%d.%02d,\"ts\":%d}\n",
            user, i, user, cat[1 + int(rand() * 6)], qty, int(cents / 100), cents % 100, 1764000000000 + i * 37;
        total += cents; per[user] += cents;
    }
    printf "%d %.0f\n", n, total > truth;
    for (u in per) printf "%s %.0f\n", u, per[u] >> truth;
}' | "$sluice" produce -b "$bootstrap" -t "$orders" -K '\t' -z lz4
echo "   done in $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "== sluice batch: batches of 20000, stats:amount and sum-by:user:amount, results to $results"
start=$(date +%s%N)
"$sluice" batch -b "$bootstrap" -t "$orders" -G "$group" --to "$results" \
    --batch-size 20000 --batch-bytes 16777216 --linger-ms 1000 \
    --compute stats:amount --compute sum-by:user:amount \
    -X session.timeout.ms=6000 -e
echo "   drained and committed in $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "== results (one record per batch on $results)"
"$sluice" consume -b "$bootstrap" -t "$results" -e --json | python3 scripts/demo_report.py "$truth"
rm -f "$truth"

echo "== group lag"
"$sluice" lag -b "$bootstrap" -G "$group"
