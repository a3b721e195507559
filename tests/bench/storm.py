#!/usr/bin/env python3
"""Polling-storm benchmark (issue 10): 1,000 polls of one show from 100 concurrent
clients over 10 s against FakeIVS with 500 ms latency, with the default
SYNC_FRESHNESS and with SYNC_FRESHNESS=0. Prints IVS calls and p50/p99 answer
latency per run.

    python3 tests/bench/storm.py [--clients 100] [--polls 1000] [--seconds 10]
                                 [--latency-ms 500] [--json]

Starts its own PostgreSQL cluster, FakeIVS and ivs-syncd ($IVS_SYNCD_BIN,
default build/ivs-syncd), all on loopback."""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from conftest import BIN, PG, Daemon, clean_env  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402

KEY = "bench-service-key"
ARN = "arn:aws:ivs:us-east-1:123456789012:channel/benchstorm01"


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def run(pg, dbname, sid, fake, freshness, clients, polls, seconds):
    env = dict(DATABASE_URL=pg.url(dbname), LISTEN="127.0.0.1:0", LOG_LEVEL="warn",
               RECONCILE_INTERVAL="0", AWS_ACCESS_KEY_ID="AKIDFAKE",
               AWS_SECRET_ACCESS_KEY="fake-secret", AWS_ENDPOINT_URL_IVS=fake.url,
               SERVICE_ROLE_KEY=KEY, DB_POOL_SIZE="4")
    if freshness is not None:
        env["SYNC_FRESHNESS"] = str(freshness)
    d = Daemon(clean_env(**env))
    try:
        fake.reset()
        fake.configure(latency_ms=run.latency)
        fake.set_stream(ARN, stream_id="st-bench", viewer_count=123)
        per_client = polls // clients
        period = seconds / per_client
        lat, bad = [], []
        lock = threading.Lock()
        body = json.dumps({"showId": sid})
        hdrs = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        start = time.monotonic() + 0.5
        rnd = random.Random(1)
        offsets = [rnd.uniform(0, period) for _ in range(clients)]

        def client(i):
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
            for k in range(per_client):
                t = start + offsets[i] + k * period
                dt = t - time.monotonic()
                if dt > 0:
                    time.sleep(dt)
                t0 = time.monotonic()
                try:
                    c.request("POST", "/functions/v1/sync-ivs-stream-status", body, hdrs)
                    r = c.getresponse()
                    data = r.read()
                    ok = r.status == 200 and json.loads(data)["results"]["newStatus"] == "live"
                except (OSError, http.client.HTTPException, ValueError) as e:
                    ok, data = False, repr(e).encode()
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
                el = time.monotonic() - t0
                with lock:
                    lat.append(el)
                    if not ok:
                        bad.append(data[:200])
            c.close()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        wall = time.monotonic() - start
        s = fake.stats()
        return {"sync_freshness": "default (2)" if freshness is None else freshness,
                "polls": len(lat), "errors": len(bad), "wall_s": round(wall, 2),
                "ivs_calls": s["calls"]["GetStream"],
                "max_ivs_calls_in_any_second": s["max_calls_in_any_second"],
                "p50_ms": round(pct(lat, 50) * 1000, 1), "p99_ms": round(pct(lat, 99) * 1000, 1),
                "max_ms": round(max(lat) * 1000, 1)}
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--polls", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--latency-ms", type=float, default=500)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    run.latency = a.latency_ms
    pg = PG()
    fake = FakeIVS()
    try:
        pg.psql("CREATE DATABASE bench")
        r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=pg.url("bench")),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        sid = str(uuid.uuid4())
        pg.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn) VALUES "
                f"('{sid}', 'bench', 'live', '{ARN}')", "bench")
        out = [run(pg, "bench", sid, fake, f, a.clients, a.polls, a.seconds) for f in (None, 0)]
    finally:
        fake.close()
        pg.destroy()
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{a.polls} polls of one show, {a.clients} clients, {a.seconds:g} s, "
              f"fake latency {a.latency_ms:g} ms ({os.path.basename(BIN)})")
        for o in out:
            print(f"  SYNC_FRESHNESS={o['sync_freshness']}: {o['ivs_calls']} IVS calls "
                  f"(max {o['max_ivs_calls_in_any_second']}/s), p50 {o['p50_ms']} ms, "
                  f"p99 {o['p99_ms']} ms, max {o['max_ms']} ms, {o['errors']} errors, "
                  f"{o['polls']} polls in {o['wall_s']} s")


if __name__ == "__main__":
    main()
