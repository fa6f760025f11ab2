#!/usr/bin/env bash
# Start, stop or check the Kafka broker the test suite and demo use.
#
#   scripts/broker.sh start [--sqlite FILE] [--authentication] [--advertised HOST:PORT]
#                                             install tansu if missing, start it on loopback, wait until
#                                             it answers ApiVersions, print the bootstrap address.
#                                             --authentication makes clients authenticate with SASL
#                                             SCRAM (needs --sqlite: the users live there);
#                                             --advertised puts another address than 127.0.0.1:PORT in
#                                             Metadata (a TLS terminator in front, scripts/secure-brokers.sh)
#   scripts/broker.sh install                 install tansu if missing (nothing else)
#   scripts/broker.sh stop                    stop the broker started by `start` (by pid)
#   scripts/broker.sh status                  exit 0 and print the bootstrap address if a broker answers
#   scripts/broker.sh bootstrap               print the bootstrap address
#
# If KAFKA_BOOTSTRAP is set (e.g. localhost:9092 from `docker compose up -d`), that broker is used:
# start/stop do nothing but check it answers.
#
# Environment: SLUICE_BROKER_PORT (default 9092), SLUICE_BROKER_DIR (pid and log; default target/broker),
# SLUICE_BROKER_STORAGE (a tansu storage URL; default memory://tansu/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${SLUICE_BROKER_PORT:-9092}
dir=${SLUICE_BROKER_DIR:-$root/target/broker}
storage=${SLUICE_BROKER_STORAGE:-memory://tansu/}
tansu_version=0.6.0
pidfile=$dir/tansu.pid
logfile=$dir/tansu.log

bootstrap() {
    if [ -n "${KAFKA_BOOTSTRAP:-}" ]; then echo "$KAFKA_BOOTSTRAP"; else echo "127.0.0.1:$port"; fi
}

# Sends ApiVersions v0 and checks the answer carries our correlation id: the broker is up and speaks Kafka.
answers() {
    python3 - "$1" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
try:
    s = socket.create_connection((host, int(port)), timeout=2)
    client = b"sluice-probe"
    body = struct.pack(">hhih", 18, 0, 4242, len(client)) + client
    s.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 8:
        chunk = s.recv(8 - len(head))
        if not chunk:
            sys.exit(1)
        head += chunk
    size, corr = struct.unpack(">ii", head)
    sys.exit(0 if corr == 4242 and size > 4 else 1)
except OSError:
    sys.exit(1)
PY
}

ensure_tansu() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$tansu_version"; then
        return
    fi
    echo "broker.sh: installing tansu $tansu_version (about 9 minutes the first time)" >&2
    cargo install tansu --locked --version "$tansu_version" --features dynostore,libsql >&2
}

running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    local advertised="127.0.0.1:$port" auth=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --sqlite)
                [ -n "${2:-}" ] || { echo "broker.sh: --sqlite needs a file" >&2; exit 2; }
                # tansu 0.6 reads the path after sqlite:// relative to its working directory (it drops the
                # leading slash), so it runs from / with an absolute path.
                storage="sqlite://$(realpath -m "$2")"
                shift 2 ;;
            --authentication) auth=(--authentication); shift ;;
            --advertised)
                [ -n "${2:-}" ] || { echo "broker.sh: --advertised needs HOST:PORT" >&2; exit 2; }
                advertised=$2
                shift 2 ;;
            *) echo "broker.sh: unknown option $1" >&2; exit 2 ;;
        esac
    done
    if [ ${#auth[@]} -gt 0 ] && [ "${storage#sqlite://}" = "$storage" ]; then
        echo "broker.sh: --authentication needs --sqlite (tansu keeps SCRAM users in its storage)" >&2
        exit 2
    fi
    if [ -n "${KAFKA_BOOTSTRAP:-}" ]; then
        answers "$KAFKA_BOOTSTRAP" || { echo "broker.sh: KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP does not answer" >&2; exit 1; }
        bootstrap
        return
    fi
    if pid=$(running_pid); then
        echo "broker.sh: tansu already running (pid $pid)" >&2
        bootstrap
        return
    fi
    if answers "127.0.0.1:$port"; then
        echo "broker.sh: something else already answers on 127.0.0.1:$port; set SLUICE_BROKER_PORT" >&2
        exit 1
    fi
    ensure_tansu
    mkdir -p "$dir"
    (cd / && RUST_LOG=${RUST_LOG:-warn} exec nohup tansu broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://$advertised" \
        --storage-engine "$storage" ${auth[@]+"${auth[@]}"}) >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 300); do
        if answers "127.0.0.1:$port"; then
            echo "broker.sh: tansu $tansu_version answers on 127.0.0.1:$port (storage $storage, pid $(cat "$pidfile"))" >&2
            bootstrap
            return
        fi
        if ! running_pid >/dev/null; then
            echo "broker.sh: tansu exited; its log:" >&2
            tail -n 30 "$logfile" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "broker.sh: tansu did not answer within 30 s; log in $logfile" >&2
    stop
    exit 1
}

stop() {
    [ -n "${KAFKA_BOOTSTRAP:-}" ] && return
    local pid
    if pid=$(running_pid); then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        echo "broker.sh: stopped tansu (pid $pid)" >&2
    fi
    rm -f "$pidfile"
}

status() {
    local b
    b=$(bootstrap)
    if answers "$b"; then echo "$b"; else echo "broker.sh: no broker answers on $b" >&2; exit 1; fi
}

case "${1:-}" in
    start) shift; start "$@" ;;
    install) ensure_tansu ;;
    stop) stop ;;
    status) status ;;
    bootstrap) bootstrap ;;
    *) echo "usage: $0 start [--sqlite FILE] [--authentication] [--advertised HOST:PORT] | install | stop | status | bootstrap" >&2; exit 2 ;;
esac
