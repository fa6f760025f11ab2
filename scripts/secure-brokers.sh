#!/usr/bin/env bash
# Starts or stops the secured brokers the security suite (tests/security.rs) runs against, next to the
# plaintext one of scripts/broker.sh. tansu 0.6 speaks SASL SCRAM (with --authentication on sqlite
# storage) but has no TLS listener, so stunnel terminates TLS in front of it. tansu puts its advertised
# address in Metadata and clients then connect there, so every listener has a tansu of its own that
# advertises the listener's (stunnel's) port.
#
#   scripts/secure-brokers.sh start   make certificates (scripts/certs.sh), install stunnel4 if missing,
#                                     start everything, wait until each listener answers, and print
#                                     `export NAME=value` lines for the suite (eval them)
#   scripts/secure-brokers.sh stop    stop what `start` started (by pid)
#   scripts/secure-brokers.sh env     print the export lines again
#
# Listeners (ports from SLUICE_SECURE_PORT, default 9093, upwards; tansu behind stunnel listens on
# the listener's port + 10000):
#   +0  SASL_PLAINTEXT  tansu --authentication, sqlite        SLUICE_SASL_BOOTSTRAP
#   +1  SSL             stunnel (server.pem) -> tansu          SLUICE_SSL_BOOTSTRAP
#   +2  mutual TLS      stunnel, client cert required -> tansu SLUICE_MTLS_BOOTSTRAP
#   +3  SASL_SSL        stunnel -> tansu --authentication      SLUICE_SASL_SSL_BOOTSTRAP
#   +4  TLS, certificate for wrong.example -> the SSL tansu    SLUICE_TLS_WRONG_HOST_BOOTSTRAP
#   +5  TLS, expired certificate -> the SSL tansu              SLUICE_TLS_EXPIRED_BOOTSTRAP
# Both SASL brokers know alice256 (SCRAM-SHA-256) and alice512 (SCRAM-SHA-512); their passwords are
# exported too. SLUICE_CERTS is the certificate directory (see scripts/certs.sh).
#
# Environment: SLUICE_SECURE_PORT, SLUICE_SECURE_DIR (pids, logs, sqlite files, certs; default
# target/secure-brokers).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base=${SLUICE_SECURE_PORT:-9093}
dir=$(realpath -m "${SLUICE_SECURE_DIR:-$root/target/secure-brokers}")
certs=$dir/certs
sasl_port=$base
ssl_port=$((base + 1))
mtls_port=$((base + 2))
sasl_ssl_port=$((base + 3))
wrong_host_port=$((base + 4))
expired_port=$((base + 5))
behind=10000
user256=alice256
pass256=alice256-scram-Kp4vQ9
user512=alice512
pass512=alice512-scram-Zr7mW2
stunnel_pid=$dir/stunnel.pid

# One tansu: broker.sh with its own port and directory (KAFKA_BOOTSTRAP is for the plaintext broker).
tansu() { # tansu NAME PORT broker.sh-args...
    local name=$1 port=$2
    shift 2
    env -u KAFKA_BOOTSTRAP SLUICE_BROKER_PORT="$port" SLUICE_BROKER_DIR="$dir/$name" \
        "$root/scripts/broker.sh" "$@" >/dev/null
}

# A SASL broker: tansu without authentication on a new sqlite file, the two SCRAM users made over
# its own API, then tansu again on the same file with authentication.
sasl_broker() { # sasl_broker NAME PORT ADVERTISED
    local name=$1 port=$2 advertised=$3 db=$dir/$1/tansu.db
    mkdir -p "$dir/$name"
    rm -f "$db" "$db"-*
    tansu "$name" "$port" start --sqlite "$db" --advertised "$advertised"
    "$HOME/.cargo/bin/tansu" user create --broker "tcp://127.0.0.1:$port" --mechanism scram256 \
        "$user256" "$pass256" >"$dir/$name/users.log" 2>&1
    "$HOME/.cargo/bin/tansu" user create --broker "tcp://127.0.0.1:$port" --mechanism scram512 \
        "$user512" "$pass512" >>"$dir/$name/users.log" 2>&1
    tansu "$name" "$port" stop 2>/dev/null
    tansu "$name" "$port" start --sqlite "$db" --advertised "$advertised" --authentication
}

ensure_stunnel() {
    command -v stunnel4 >/dev/null && return
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "secure-brokers.sh: installing stunnel4" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 >&2 \
            || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 >&2; }
    else
        echo "secure-brokers.sh: stunnel4 is missing; install it (apt-get install stunnel4)" >&2
        exit 1
    fi
}

# Whether a TCP port on 127.0.0.1 accepts connections.
accepts() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null
}

service() { # service NAME ACCEPT CONNECT CERT [extra lines...]
    local name=$1 accept=$2 connect=$3 cert=$4
    shift 4
    printf '[%s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s/%s.pem\nkey = %s/%s.key\n' \
        "$name" "$accept" "$connect" "$certs" "$cert" "$certs" "$cert"
    for line in "$@"; do printf '%s\n' "$line"; done
    echo
}

start_stunnel() {
    {
        echo "foreground = yes"
        echo "debug = notice"
        echo "socket = l:TCP_NODELAY=1"
        echo "socket = r:TCP_NODELAY=1"
        echo "sslVersionMin = TLSv1.2"
        echo
        service ssl "$ssl_port" $((ssl_port + behind)) server
        service mtls "$mtls_port" $((mtls_port + behind)) server \
            "CAfile = $certs/ca.pem" "verifyChain = yes" "requireCert = yes"
        service sasl-ssl "$sasl_ssl_port" $((sasl_ssl_port + behind)) server
        service wrong-host "$wrong_host_port" $((ssl_port + behind)) wrong-host
        service expired "$expired_port" $((ssl_port + behind)) expired
    } >"$dir/stunnel.conf"
    nohup stunnel4 "$dir/stunnel.conf" >"$dir/stunnel.log" 2>&1 &
    echo $! >"$stunnel_pid"
    for _ in $(seq 1 100); do
        local all=1
        for p in "$ssl_port" "$mtls_port" "$sasl_ssl_port" "$wrong_host_port" "$expired_port"; do
            accepts "$p" || { all=0; break; }
        done
        [ "$all" = 1 ] && return
        if ! kill -0 "$(cat "$stunnel_pid")" 2>/dev/null; then
            echo "secure-brokers.sh: stunnel exited; its log:" >&2
            tail -n 30 "$dir/stunnel.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "secure-brokers.sh: stunnel does not accept within 10 s; log in $dir/stunnel.log" >&2
    return 1
}

print_env() {
    cat <<X
export SLUICE_CERTS=$certs
export SLUICE_SASL_BOOTSTRAP=127.0.0.1:$sasl_port
export SLUICE_SSL_BOOTSTRAP=localhost:$ssl_port
export SLUICE_MTLS_BOOTSTRAP=localhost:$mtls_port
export SLUICE_SASL_SSL_BOOTSTRAP=localhost:$sasl_ssl_port
export SLUICE_TLS_WRONG_HOST_BOOTSTRAP=localhost:$wrong_host_port
export SLUICE_TLS_EXPIRED_BOOTSTRAP=localhost:$expired_port
export SLUICE_SCRAM_256_USER=$user256
export SLUICE_SCRAM_256_PASSWORD=$pass256
export SLUICE_SCRAM_512_USER=$user512
export SLUICE_SCRAM_512_PASSWORD=$pass512
X
}

start() {
    mkdir -p "$dir"
    "$root/scripts/certs.sh" "$certs" >/dev/null
    ensure_stunnel
    # Once, before four brokers start at the same time.
    "$root/scripts/broker.sh" install
    for p in "$sasl_port" "$ssl_port" "$mtls_port" "$sasl_ssl_port" "$wrong_host_port" "$expired_port"; do
        if accepts "$p" || accepts $((p + behind)); then
            echo "secure-brokers.sh: port $p or $((p + behind)) is taken; set SLUICE_SECURE_PORT" >&2
            exit 1
        fi
    done
    # The four brokers start side by side; each SASL one starts twice (users, then authentication).
    local pids=() failed=0
    sasl_broker sasl "$sasl_port" "127.0.0.1:$sasl_port" & pids+=($!)
    sasl_broker sasl-ssl $((sasl_ssl_port + behind)) "localhost:$sasl_ssl_port" & pids+=($!)
    tansu ssl $((ssl_port + behind)) start --advertised "localhost:$ssl_port" & pids+=($!)
    tansu mtls $((mtls_port + behind)) start --advertised "localhost:$mtls_port" & pids+=($!)
    start_stunnel || failed=1
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    if [ "$failed" = 1 ]; then
        echo "secure-brokers.sh: a listener did not start; logs in $dir and $dir/*/" >&2
        stop
        exit 1
    fi
    echo "secure-brokers.sh: SASL_PLAINTEXT :$sasl_port, SSL :$ssl_port, mTLS :$mtls_port, SASL_SSL :$sasl_ssl_port, wrong host :$wrong_host_port, expired :$expired_port (logs in $dir)" >&2
    print_env
}

stop() {
    if [ -f "$stunnel_pid" ]; then
        local pid
        pid=$(cat "$stunnel_pid")
        if kill "$pid" 2>/dev/null; then
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$stunnel_pid"
    fi
    tansu sasl "$sasl_port" stop 2>/dev/null || true
    tansu sasl-ssl $((sasl_ssl_port + behind)) stop 2>/dev/null || true
    tansu ssl $((ssl_port + behind)) stop 2>/dev/null || true
    tansu mtls $((mtls_port + behind)) stop 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    *) echo "usage: $0 start | stop | env" >&2; exit 2 ;;
esac
