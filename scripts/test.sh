#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, unit and fixture tests, then the integration suite
# against a real broker (tansu via scripts/broker.sh, or KAFKA_BOOTSTRAP if set).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, fixture and doc tests"
cargo test --workspace --exclude sluice-integration --locked

step "integration suite against a real broker"
# Peer clients for the interop tests (librdkafka through confluent-kafka, kafka-python) live in a
# virtual environment under target/; its python3 comes first on PATH for the suite.
PATH="$(scripts/venv.sh):$PATH"
export PATH
cargo build -p sluice-cli --locked
# Build first so the broker does not sit idle (and no test times out) while we compile.
cargo test -p sluice-integration --locked --no-run
bootstrap=$(scripts/broker.sh start)
trap 'scripts/broker.sh stop; scripts/secure-brokers.sh stop' EXIT
# The secured listeners for tests/security.rs (SASL SCRAM, TLS, mutual TLS, SASL_SSL and bad
# certificates; stunnel in front of tansu): it exports SLUICE_SASL_BOOTSTRAP, SLUICE_CERTS and the
# rest, and the security tests fail instead of skipping when they are missing.
secure_env=$(scripts/secure-brokers.sh start)
eval "$secure_env"
export SLUICE_REQUIRE_SECURE=1
# tests/lag_watch.rs runs `sluice lag --watch` under tmux (installed from Debian's packages when
# missing): under CI it fails instead of skipping when tmux cannot be had.
export SLUICE_REQUIRE_TMUX=1
SLUICE_BOOTSTRAP=$bootstrap cargo test -p sluice-integration --locked
