#!/usr/bin/env bash
# Records real clients' sessions with the broker as fixtures (fixtures/README.md describes the format):
# librdkafka through confluent-kafka, and kafka-python, each through sluice-record-proxy.
#
#   scripts/capture.sh            writes fixtures/librdkafka-tansu.json and fixtures/kafka-python-tansu.json
#
# Uses the broker from scripts/broker.sh (tansu, started if needed and stopped after) or KAFKA_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/.."

PATH="$(scripts/venv.sh):$PATH"
cargo build --quiet -p sluice-testkit --bin sluice-record-proxy
proxy_bin=${CARGO_TARGET_DIR:-target}/debug/sluice-record-proxy

started=0
if ! scripts/broker.sh status >/dev/null 2>&1; then
    scripts/broker.sh start >/dev/null
    started=1
fi
upstream=$(scripts/broker.sh bootstrap)
broker_name=${FIXTURE_BROKER:-tansu 0.6.0}
cleanup() { [ "$started" = 1 ] && scripts/broker.sh stop; }
trap cleanup EXIT

record() { # name client description session-script
    local name=$1 client=$2 description=$3 script=$4 port=19092
    local run=$RANDOM$$
    "$proxy_bin" --listen "127.0.0.1:$port" --upstream "$upstream" --out "fixtures/$name.json" \
        --client "$client" --broker "$broker_name" --description "$description" &
    local proxy=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    python3 "$script" "127.0.0.1:$port" "capture-$name-$run" "capture-$name-group-$run"
    kill -TERM "$proxy"
    wait "$proxy"
}

record librdkafka-tansu "librdkafka $(python3 -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])') (confluent-kafka)" \
    "create a 2-partition topic; produce 6 records in each codec (none, gzip, snappy, lz4, zstd) with null keys, duplicate header keys and UTF-8; a consumer group consumes all, heartbeats, commits, reads committed offsets, watermarks and offsets for a timestamp, and leaves" \
    scripts/capture/librdkafka_session.py
record kafka-python-tansu "kafka-python $(python3 -c 'import kafka; print(kafka.__version__)')" \
    "create a topic; produce 5 records uncompressed and 5 gzip with duplicate header keys; a consumer group consumes all, commits, reads committed and end offsets, and leaves" \
    scripts/capture/kafka_python_session.py
