#!/usr/bin/env python3
"""Live push benchmark (issue 16): N event-stream subscribers on one ivs-syncd, then 50
changes; fraction delivered, commit-to-last-subscriber latency, RSS, CPU per event.

    python3 tests/bench/push.py --bin build/ivs-syncd --load build/push_load \
        [--subscribers 2000,10000] [--shows 10] [--admin-every 100] [--changes 50] [--json]

A throwaway PostgreSQL; `shows` shows; for each subscriber count a fresh daemon and the
raw-socket load client (tests/bench/push_load.c, one thread, epoll) opening the streams:
every admin-every-th one /v1/stream, the others /v1/shows/{id}/stream spread over the
shows. Change k (an EventBridge Stream Start) is about show k % shows: its first Stream
Start, then a new stream while live each round (each a change, SPEC 1.5). The changes are
posted one at a time, 200 ms apart. The latency of a change runs from the 200 of its
delivery (its commit) to the moment the last subscriber read it (a subscriber may read it
before the 200 comes back: then 0), and from the moment the POST was sent. RSS is the
daemon's VmRSS with 0, 1,000 and N subscribers; CPU is its user+system time over the
changes, divided by the events delivered.

Both processes need more descriptors than subscribers: the script raises RLIMIT_NOFILE
to the hard limit (root may raise that too) and the daemon inherits it; under systemd,
LimitNOFILE= in the unit (65536 in infra/systemd/ivs-syncd.service)."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import conftest  # noqa: E402
from conftest import BIN, PG, Daemon, channel_arn, clean_env, ivs_event  # noqa: E402

KEY = "bench-service-key-0123456789"
EB = {"X-Ivs-Syncd-Token": "eb-bench-token", "Content-Type": "application/json"}


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn, or run "
                     "as root)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[i]


def one(pg, load, n, shows, admin_every, changes, bin_):
    db = f"bench_push_{n}"
    pg.psql(f"DROP DATABASE IF EXISTS {db}")
    pg.psql(f"CREATE DATABASE {db} TEMPLATE ivs_tmpl")
    ids = [str(uuid.uuid4()) for _ in range(shows)]
    rows = ",".join(f"('{i}', 'b', 'scheduled', '{channel_arn(k)}')" for k, i in enumerate(ids))
    pg.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn) VALUES {rows}", db)
    showfile = Path(pg.dir) / f"shows-{n}.txt"
    showfile.write_text("\n".join(ids) + "\n")
    env = clean_env(DATABASE_URL=pg.url(db), LISTEN="127.0.0.1:0", LOG_LEVEL="warn",
                    SERVICE_ROLE_KEY=KEY, EVENTBRIDGE_TOKEN="eb-bench-token",
                    SSE_MAX_SUBSCRIBERS=str(n + 1000), RECONCILE_INTERVAL="0",
                    DB_POOL_SIZE="4")
    conftest.BIN = bin_
    d = Daemon(dict(env, LOG_LEVEL="info"), wait_ready=True)
    pid = d.proc.pid
    out = {"subscribers": n}
    try:
        time.sleep(0.5)
        out["rss_mb_0"] = rss_mb(pid)
        miles = [m for m in (1000, n) if m <= n]
        p = subprocess.Popen([load, str(d.port), KEY, str(showfile), str(n), str(admin_every),
                              ",".join(map(str, sorted(set(miles)))), str(changes)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        t_open = time.monotonic()
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("push_load exited early")
            if line.startswith("AT "):
                got = int(line.split()[1])
                time.sleep(0.3)
                out[f"rss_mb_{got}"] = rss_mb(pid)
                p.stdin.write("\n")
                p.stdin.flush()
            elif line.startswith("READY"):
                out["subscribed"] = int(line.split()[1])
                break
        out["open_seconds"] = round(time.monotonic() - t_open, 2)
        out["rss_mb_n"] = rss_mb(pid)
        cpu0 = cpu_s(pid)
        sent, ok = [], []
        for k in range(changes):
            ch = channel_arn(k % shows)
            rnd = k // shows
            # going live, then a new stream while live (each a change, SPEC 1.5)
            name = "Stream Start"
            sid = f"st-{rnd}"
            t = f"2026-01-01T10:{rnd:02d}:{k % 60:02d}Z"
            t0 = time.monotonic()
            st, _ = d.json("POST", "/eventbridge", ivs_event(name, ch, sid, t), EB)
            t1 = time.monotonic()
            assert st == 200, st
            sent.append(t0)
            ok.append(t1)
            time.sleep(0.2)
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        res = p.stdout.read()
        p.wait(30)
        cpu1 = cpu_s(pid)
        fr, lat200, latsend = [], [], []
        delivered_total = 0
        dropped = 0
        for line in res.splitlines():
            parts = line.split()
            if parts[0] == "CHANGE":
                k, dl, ex, _first, last = int(parts[1]), int(parts[2]), int(parts[3]), \
                    float(parts[4]), float(parts[5])
                delivered_total += dl
                fr.append(dl / ex if ex else 0.0)
                if dl:
                    lat200.append(max(0.0, last - ok[k]) * 1000)
                    latsend.append((last - sent[k]) * 1000)
            elif parts[0] == "DROPPED":
                dropped = int(parts[1])
        out.update({
            "fraction_delivered_min": min(fr) if fr else 0.0,
            "changes_fully_delivered": sum(1 for f in fr if f >= 1.0),
            "events_delivered": delivered_total,
            "streams_closed": dropped,
            "latency_ms_from_200": {"p50": round(pct(lat200, 50), 2),
                                    "p99": round(pct(lat200, 99), 2),
                                    "max": round(max(lat200), 2) if lat200 else None},
            "latency_ms_from_post": {"p50": round(pct(latsend, 50), 2),
                                     "p99": round(pct(latsend, 99), 2),
                                     "max": round(max(latsend), 2) if latsend else None},
            "cpu_seconds": round(cpu1 - cpu0, 3),
            "cpu_us_per_event": round((cpu1 - cpu0) * 1e6 / delivered_total, 2)
            if delivered_total else None,
            "metric_events_total": d.metric("ivs_syncd_push_events_total"),
            "metric_dropped": d.metric("ivs_syncd_push_dropped_total", "*"),
        })
    finally:
        d.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("--load", required=True)
    ap.add_argument("--subscribers", default="2000,10000")
    ap.add_argument("--shows", type=int, default=10)
    ap.add_argument("--admin-every", type=int, default=100)
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    counts = [int(x) for x in a.subscribers.split(",")]
    raise_nofile(max(counts) + 1000)  # each process: one descriptor per stream, and a few
    pg = PG()
    try:
        pg.psql("CREATE DATABASE ivs_tmpl")
        r = subprocess.run([a.bin, "migrate"], env=clean_env(DATABASE_URL=pg.url("ivs_tmpl")),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        results = [one(pg, a.load, n, a.shows, a.admin_every, a.changes, a.bin)
                   for n in counts]
    finally:
        pg.destroy()
    if a.json:
        print(json.dumps(results, indent=2))
        return
    for o in results:
        print(f"subscribers {o['subscribers']} (subscribed {o['subscribed']}, opened in "
              f"{o['open_seconds']} s)")
        print(f"  delivered: min fraction {o['fraction_delivered_min']:.4f}, "
              f"{o['changes_fully_delivered']}/{a.changes} changes to every subscriber, "
              f"{o['events_delivered']} events, {o['streams_closed']} streams closed")
        l2, ls = o["latency_ms_from_200"], o["latency_ms_from_post"]
        print(f"  commit(200) -> last subscriber: p50 {l2['p50']} ms, p99 {l2['p99']} ms, "
              f"max {l2['max']} ms  (from the POST: p50 {ls['p50']}, p99 {ls['p99']}, "
              f"max {ls['max']})")
        rss = ", ".join(f"{k[7:]}: {v:.1f} MB" for k, v in o.items()
                        if k.startswith("rss_mb_") and k != "rss_mb_n")
        print(f"  RSS {rss}")
        print(f"  CPU {o['cpu_seconds']} s for the changes: {o['cpu_us_per_event']} us per "
              f"delivered event")


if __name__ == "__main__":
    main()
