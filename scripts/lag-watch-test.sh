#!/usr/bin/env bash
# Checks `sluice lag --watch` in a real terminal: tmux runs it detached, capture-pane reads the screen.
#
#   scripts/lag-watch-test.sh        (a broker must answer on SLUICE_BOOTSTRAP, default 127.0.0.1:9092)
#
# 1. A unique topic with 3 partitions gets 200, 150 and 100 records; a group consumes them all and
#    commits (consume -G -e); 50 and 30 more arrive in partitions 0 and 1. The view must show the
#    header and each partition's exact committed offset, high watermark and lag (total lag 80).
# 2. 25 and 25 more arrive in partition 2 while it watches: the view must show them (same connection, new
#    watermarks) and a production rate.
# 3. A member of the group consumes the rest: the view must show it in the group, the group Stable,
#    and the lag gone ("caught up").
# 4. q: sluice must exit 0 and give the terminal back (alternate screen off, canonical mode on).
# Each capture is printed. Exits 0 when all holds, 1 when something does not, 77 when tmux is missing
# and cannot be installed.
#
# Environment: SLUICE_BOOTSTRAP, SLUICE_BIN (default target/debug/sluice, built if missing),
# SLUICE_LAG_WATCH_CAPTURE (a file to write the capture of step 2 to: docs/lag-watch.txt comes from it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bootstrap=${SLUICE_BOOTSTRAP:-127.0.0.1:9092}
sluice=${SLUICE_BIN:-$root/target/debug/sluice}
deadline_secs=40

if ! command -v tmux >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "lag-watch-test.sh: installing tmux" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >&2 \
            || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >&2; } \
            || true
    fi
    if ! command -v tmux >/dev/null; then
        echo "lag-watch-test.sh: tmux is missing and cannot be installed (apt-get install tmux)" >&2
        exit 77
    fi
fi
if [ -z "${SLUICE_BIN:-}" ] && [ ! -x "$sluice" ]; then
    (cd "$root" && cargo build -q -p sluice-cli)
fi

id="$$-$(date +%s%N)"
topic="lag-watch-$id"
group="lag-watch-$id"
# A tmux server of our own (its own socket): nobody else's sessions are touched, and it goes at the end.
socket="sluice-lag-watch-$id"
tm() { tmux -L "$socket" "$@"; }
consumer_pid=
cleanup() {
    if [ -n "$consumer_pid" ]; then kill "$consumer_pid" 2>/dev/null || true; fi
    tm kill-server 2>/dev/null || true
    "$sluice" topic delete -b "$bootstrap" -t "$topic" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() {
    echo "lag-watch-test.sh: FAIL: $*" >&2
    echo "--- the pane:" >&2
    tm capture-pane -p -t watch >&2 2>/dev/null || true
    exit 1
}

produce() { # partition count
    seq 1 "$2" | "$sluice" produce -b "$bootstrap" -t "$topic" -p "$1"
}

capture() { tm capture-pane -p -t watch; }

# Polls the pane until every extended regex given matches a line of it, or the deadline passes.
wait_for() {
    local what=$1
    shift
    local end=$((SECONDS + deadline_secs)) screen
    while :; do
        screen=$(capture 2>/dev/null || true)
        local all=1 re
        for re in "$@"; do
            grep -Eq -- "$re" <<<"$screen" || { all=0; break; }
        done
        [ "$all" = 1 ] && return 0
        [ "$SECONDS" -ge "$end" ] && fail "no $what within ${deadline_secs}s (wanted: $*)"
        sleep 0.2
    done
}

row() { # partition committed high-watermark lag: the row's numbers, exactly
    printf '^%s +%s +%s +%s +%s ' "$topic" "$1" "$2" "$3" "$4"
}

"$sluice" topic create -b "$bootstrap" -t "$topic" -p 3 >/dev/null
produce 0 200
produce 1 150
produce 2 100
timeout 60 "$sluice" consume -b "$bootstrap" -G "$group" -t "$topic" -o earliest -e \
    -X session.timeout.ms=6000 >/dev/null || fail "the group could not consume and commit"
produce 0 50
produce 1 30

# 1. The view, in a 160x30 terminal; after sluice, the shell says how it ended and whether the
#    terminal is back in canonical mode (raw mode turns icanon off).
tm new-session -d -s watch -x 160 -y 30 \
    "'$sluice' lag -b '$bootstrap' -G '$group' --watch; echo \"sluice exited \$?\"; if stty -a | grep -Eq '(^| )icanon'; then echo 'terminal cooked'; else echo 'terminal raw'; fi; exec sleep 600"
wait_for "view with the topic's rows" "$(row 0 200 250 50)" "$(row 1 150 180 30)" "$(row 2 100 100 0)"
screen=$(capture)
echo "--- 1. committed part-way:"
echo "$screen"
grep -Eq "^group $group · Empty · 0 members / 0 partitions assigned · members/partitions -" <<<"$screen" \
    || fail "no group line"
grep -Eq '^total lag 80 · consuming ' <<<"$screen" || fail "total lag is not 80"
grep -Eq '^TOPIC +PARTITION +COMMITTED +HIGH-WATERMARK +LAG +LAG, LAST MINUTE +OWNER' <<<"$screen" \
    || fail "no table header"
grep -Eq '^q, Esc or Ctrl-C quits · every 1s' <<<"$screen" || fail "no footer"
[ "$(tm display-message -p -t watch '#{alternate_on}')" = 1 ] || fail "not on the alternate screen"

# 2. New records while it watches.
produce 2 25
wait_for "new high watermark" "$(row 2 100 125 25)"
produce 2 25
wait_for "newer high watermark" "$(row 2 100 150 50)" '^total lag 130 · consuming 0\.0/s · producing [1-9][0-9.]*/s · catch up: not catching up'
screen=$(capture)
echo "--- 2. records arriving, nobody consuming:"
echo "$screen"
if [ -n "${SLUICE_LAG_WATCH_CAPTURE:-}" ]; then
    # Trailing blanks and the empty lines of the terminal left out.
    sed -e 's/ *$//' <<<"$screen" | sed -e '/^$/d' >"$SLUICE_LAG_WATCH_CAPTURE"
fi

# 3. A member consumes the rest.
"$sluice" consume -b "$bootstrap" -G "$group" -t "$topic" -X session.timeout.ms=6000 >/dev/null 2>&1 &
consumer_pid=$!
# (tansu 0.6 describes members without their assignment: partitions assigned and owners stay
# unknown there; against Kafka the owner column names the member.)
wait_for "member catching up" \
    "^group $group · Stable · 1 members / " \
    '^total lag 0 · consuming [0-9.]+/s · producing [0-9.]+/s · catch up: caught up' \
    "$(row 0 250 250 0)" "$(row 1 180 180 0)" "$(row 2 150 150 0)"
echo "--- 3. a member has consumed the rest:"
capture
kill "$consumer_pid"
wait "$consumer_pid" 2>/dev/null || true
consumer_pid=

# 4. Quit.
tm send-keys -t watch q
wait_for "exit" '^sluice exited 0$'
# The mode line comes a moment after the exit line: wait for it, whichever it is.
wait_for "the terminal's mode" '^terminal (cooked|raw)$'
screen=$(capture)
echo "--- 4. after q:"
echo "$screen"
grep -q '^terminal cooked$' <<<"$screen" || fail "the terminal was left in raw mode"
grep -q '^TOPIC' <<<"$screen" && fail "the view is still on the screen"
[ "$(tm display-message -p -t watch '#{alternate_on}')" = 0 ] || fail "still on the alternate screen"
echo "lag-watch-test.sh: ok"
