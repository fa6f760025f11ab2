#!/usr/bin/env python3
"""Prints the demo's batch results (`sluice consume --json` lines on stdin) and checks them against the
truth file scripts/demo.sh wrote while generating the events: first line `EVENTS TOTAL_CENTS`, then
`USER CENTS` lines. Exits 1 on a mismatch."""
import json
import sys


def main():
    lines = open(sys.argv[1]).read().split("\n")
    n, total_cents = (int(x) for x in lines[0].split())
    per_user = {u: int(c) for u, c in (l.split() for l in lines[1:] if l.strip())}
    records = count = 0
    amount = 0.0
    users = {}
    print(f"{'batch':>5} {'records':>8} {'count':>7} {'sum':>14} {'min':>8} {'max':>9} {'mean':>8}  covers")
    for i, line in enumerate(sys.stdin):
        r = json.loads(json.loads(line)["value"])
        s = r["stats:amount"]
        covers = ", ".join(f"p{x['partition']} {x['first']}-{x['last']}" for x in r["ranges"])
        print(f"{i:>5} {r['records']:>8} {s['count']:>7} {s['sum']:>14.2f} {s['min']:>8.2f} {s['max']:>9.2f}"
              f" {s['mean']:>8.2f}  {covers}")
        records += r["records"]
        count += s["count"]
        amount += s["sum"]
        for u, v in r["sum-by:user:amount"]["sums"].items():
            users[u] = users.get(u, 0.0) + v
    print()
    top = sorted(users.items(), key=lambda kv: -kv[1])[:5]
    print("top users by amount: " + ", ".join(f"{u} {v:.2f}" for u, v in top))
    ok_count = count == n and records == n
    ok_sum = abs(amount * 100 - total_cents) < 1
    ok_users = users.keys() == per_user.keys() and all(abs(users[u] * 100 - c) < 1 for u, c in per_user.items())
    verdict = lambda ok: "ok" if ok else "MISMATCH"
    print(f"check: records {records} / events {n}: {verdict(ok_count)}; total amount {amount:.2f} / truth "
          f"{total_cents / 100:.2f}: {verdict(ok_sum)}; per-user sums of {len(per_user)} users: {verdict(ok_users)}")
    sys.exit(0 if ok_count and ok_sum and ok_users else 1)


if __name__ == "__main__":
    main()
