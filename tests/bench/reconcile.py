#!/usr/bin/env python3
"""Reconcile-pass benchmark: one pass (`ivs-syncd reconcile --once`) over N active
shows of which N/10 are live at FakeIVS (50 ms latency, rps_limit 5), with
IVS_MAX_RPS=4; wall time and IVS calls, for RECONCILE_STRATEGY=list and get.

    python3 tests/bench/reconcile.py [--shows 10000] [--get-shows 1000] [--json]

`get` costs one GetStream per channel at 4/s (10,000 shows: ~2,500 s), so it
runs with --get-shows shows (default 1,000: ~250 s). Each strategy runs twice
on a fresh copy of the data: the first pass repairs the drift (the table says
every show is offline), the second finds nothing to change."""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from conftest import BIN, PG, clean_env  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402

ACCT = "123456789012"


def arn(i):
    return f"arn:aws:ivs:us-east-1:{ACCT}:channel/bench{i:08d}"


def one(pg, fake, strategy, n, latency, rps_limit, max_rps):
    db = f"bench_{strategy}_{n}"
    pg.psql(f"DROP DATABASE IF EXISTS {db}")
    pg.psql(f"CREATE DATABASE {db} TEMPLATE ivs_tmpl")
    pg.psql("INSERT INTO shows (title, status, ivs_channel_arn) SELECT 'b', 'scheduled', "
            f"'arn:aws:ivs:us-east-1:{ACCT}:channel/bench' || lpad(i::text, 8, '0') "
            f"FROM generate_series(0, {n - 1}) i", db)
    fake.reset()
    fake.configure(latency_ms=latency, rps_limit=rps_limit)
    for i in range(0, n, 10):
        fake.set_stream(arn(i), stream_id=f"st-{i}", viewer_count=i)
    env = clean_env(DATABASE_URL=pg.url(db), LOG_LEVEL="info", LOG_FORMAT="json",
                    AWS_ACCESS_KEY_ID="AKIDFAKE", AWS_SECRET_ACCESS_KEY="fake-secret",
                    AWS_ENDPOINT_URL_IVS=fake.url, RECONCILE_STRATEGY=strategy,
                    IVS_MAX_RPS=str(max_rps))
    out = []
    for k in range(2):
        # (each `reconcile --once` is a new process with a full token bucket: let the
        # previous one's last second pass, or the fake sees both in one second)
        time.sleep(1.1)
        before = fake.stats()["calls"]
        upd0 = int(pg.psql("SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
                           "WHERE relname = 'shows'", db))
        t0 = time.monotonic()
        r = subprocess.run([BIN, "reconcile", "--once"], env=env, capture_output=True,
                           text=True, timeout=7200)
        wall = time.monotonic() - t0
        after = fake.stats()
        body = json.loads(r.stdout)
        pass_ms = statements = None
        for line in r.stderr.splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("msg") == "reconcile pass done":
                pass_ms = j.get("duration_ms")
                statements = j.get("statements")
        time.sleep(0.6)  # the backend's statistics reach the shared counters on exit
        upd1 = int(pg.psql("SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
                           "WHERE relname = 'shows'", db))
        live = int(pg.psql("SELECT count(*) FROM shows WHERE stream_status = 'live'", db))
        out.append({"strategy": strategy, "shows": n, "pass": k + 1, "exit": r.returncode,
                    "wall_s": round(wall, 2),
                    "pass_s": round(pass_ms / 1000, 2) if pass_ms is not None else None,
                    "ivs_calls": {op: after["calls"][op] - before[op] for op in before},
                    "throttled_at_fake": after["throttled"],
                    "max_calls_in_any_second": after["max_calls_in_any_second"],
                    "db_statements": statements, "rows_updated": upd1 - upd0,
                    "summary": body["summary"], "live_in_table": live})
    pg.psql(f"DROP DATABASE IF EXISTS {db}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shows", type=int, default=10000)
    ap.add_argument("--get-shows", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--rps-limit", type=int, default=5)
    ap.add_argument("--max-rps", type=float, default=4)
    ap.add_argument("--strategies", default="list,get")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--limits", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    pg = PG()
    fake = FakeIVS()
    res = []
    try:
        pg.psql("CREATE DATABASE ivs_tmpl")
        r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=pg.url("ivs_tmpl")),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        for st in a.strategies.split(","):
            n = a.shows if st == "list" else a.get_shows
            res += one(pg, fake, st, n, a.latency_ms, a.rps_limit, a.max_rps)
            if not a.json:
                for o in res[-2:]:
                    print(f"{o['strategy']:4} {o['shows']:6} shows pass {o['pass']}: "
                          f"wall {o['wall_s']} s (pass {o['pass_s']} s), IVS calls "
                          f"{o['ivs_calls']}, max {o['max_calls_in_any_second']}/s, "
                          f"throttled {o['throttled_at_fake']}, DB statements {o['db_statements']}, "
                          f"shows rows updated {o['rows_updated']}, summary {o['summary']}, "
                          f"exit {o['exit']}", flush=True)
    finally:
        fake.close()
        pg.destroy()
    if a.json:
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
