#!/usr/bin/env bash
# Makes sure the Python peers the suite and the scripts use (librdkafka through confluent-kafka, and
# kafka-python) are installed in a virtual environment under target/ (Debian marks the system
# interpreter externally managed, so nothing is installed into it), and prints the environment's bin
# directory. Callers put it first on PATH, so `python3` is the environment's.
#
#   PATH="$(scripts/venv.sh):$PATH"
#
# SLUICE_VENV picks another directory (default target/venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SLUICE_VENV:-$root/target/venv}
packages=(confluent-kafka kafka-python)

if ! "$venv/bin/python3" -c "import confluent_kafka, kafka" 2>/dev/null; then
    echo "venv.sh: creating $venv with ${packages[*]}" >&2
    if ! python3 -m venv "$venv" >&2; then
        # Debian ships venv's ensurepip separately.
        rm -rf "$venv"
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "venv.sh: installing python3-venv" >&2
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
            python3 -m venv "$venv" >&2
        else
            echo "venv.sh: python3 -m venv failed; install python3-venv" >&2
            exit 1
        fi
    fi
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
fi
echo "$venv/bin"
