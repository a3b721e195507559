#!/usr/bin/env python3
"""Soak: ingest (SNS + EventBridge, with duplicates) plus reconcile against FakeIVS for
SOAK_SECONDS (default 600), sampling the daemon's RSS, open fds and database connections
every SOAK_SAMPLE seconds; fails (exit 1) when any of them keeps growing.

    make soak SOAK_SECONDS=600          # or: python3 tests/faults/soak.py 600

Everything runs on 127.0.0.1: a private PostgreSQL, the fake IVS, the real binary
(IVS_SYNCD_BIN, default build/ivs-syncd)."""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

IT = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(IT))
from conftest import (BIN, PG, Daemon, Signer, base_env, channel_arn,  # noqa: E402
                      clean_env, ivs_event)
from fakeivs import FakeIVS  # noqa: E402

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def post(port, path, body, headers):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def main():
    seconds = float(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SOAK_SECONDS", 600))
    sample = float(os.environ.get("SOAK_SAMPLE", max(2.0, min(10.0, seconds / 30))))
    n_channels = 40
    c = PG()
    fake = FakeIVS(latency_ms=5)
    signer = Signer(tempfile.mkdtemp(prefix="ivs-soak-sns-"))
    d = None
    rc = 1
    try:
        c.psql("CREATE DATABASE soak")
        r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=c.url("soak")),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        chans = [channel_arn(5000 + k) for k in range(n_channels)]
        for ch in chans:
            c.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn) VALUES "
                   f"('{uuid.uuid4()}', 't', 'scheduled', '{ch}')", "soak")
        # a pool of signed SNS envelopes (signing is slow); reused ones are duplicates
        t0 = 1767261600
        sns_pool = []
        for i in range(60):
            ev = ivs_event("Stream Start", chans[i % n_channels], f"sns-{i}",
                           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + i)))
            sns_pool.append(json.dumps(signer.envelope(json.dumps(ev))))
        env = base_env(c, "soak", signer, RECONCILE_INTERVAL="2", RECONCILE_STRATEGY="auto",
                       AWS_ACCESS_KEY_ID="AKIDFAKE", AWS_SECRET_ACCESS_KEY="fake-secret",
                       AWS_ENDPOINT_URL_IVS=fake.url, LOG_LEVEL="warn", SNS_MAX_AGE="0",
                       DB_POOL_SIZE="4")
        d = Daemon(env)
        pid = d.proc.pid
        stop = threading.Event()
        counts = {"sent": 0, "2xx": 0, "503": 0, "other": 0}
        lock = threading.Lock()

        def ingest(seed):
            rnd = random.Random(seed)
            seq = 0
            while not stop.is_set():
                seq += 1
                if rnd.random() < 0.2:
                    st = post(d.port, "/sns", rnd.choice(sns_pool), {"Content-Type": "text/plain"})
                else:
                    ch = rnd.choice(chans)
                    name = rnd.choice(["Stream Start", "Stream End", "Stream Start"])
                    ev = ivs_event(name, ch, f"eb-{seed}-{seq // 3}",
                                   time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime(t0 + 1000 + seq)))
                    st = post(d.port, "/eventbridge", json.dumps(ev), EB)
                with lock:
                    counts["sent"] += 1
                    k = "2xx" if 200 <= st < 300 else "503" if st == 503 else "other"
                    counts[k] += 1
                time.sleep(0.01)

        def flip():
            rnd = random.Random(7)
            while not stop.is_set():
                ch = rnd.choice(chans)
                if rnd.random() < 0.5:
                    fake.set_stream(ch, viewer_count=rnd.randint(0, 500))
                else:
                    fake.end_stream(ch)
                time.sleep(0.2)
        ts = [threading.Thread(target=ingest, args=(k,)) for k in range(4)]
        ts.append(threading.Thread(target=flip))
        [t.start() for t in ts]
        samples = []
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            time.sleep(sample)
            if d.proc.poll() is not None:
                print("daemon died:\n" + d.text()[-4000:])
                return 1
            conns = int(c.psql("SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'ivs-syncd'", "soak"))
            s = {"t": round(time.monotonic() - start, 1), "rss_kb": rss_kb(pid),
                 "fds": nfds(pid), "db_conns": conns, "sent": counts["sent"]}
            samples.append(s)
            print(json.dumps(s), flush=True)
        stop.set()
        [t.join() for t in ts]
        passes = d.metric("ivs_syncd_reconcile_passes_total", "*")
        # growth: compare the first and the last quarter, after a warm-up fifth
        body = samples[len(samples) // 5:]
        q = max(1, len(body) // 4)
        first, last = body[:q], body[-q:]

        def med(xs, k):
            return statistics.median(x[k] for x in xs)
        rss_growth = med(last, "rss_kb") - med(first, "rss_kb")
        fd_growth = med(last, "fds") - med(first, "fds")
        conn_max = max(x["db_conns"] for x in samples)
        summary = {"seconds": seconds, "requests": counts, "reconcile_passes": passes,
                   "rss_kb_start": samples[0]["rss_kb"], "rss_kb_end": samples[-1]["rss_kb"],
                   "rss_growth_kb": rss_growth, "fds_start": samples[0]["fds"],
                   "fds_end": samples[-1]["fds"], "db_conns_max": conn_max,
                   "fake_ivs_calls": fake.stats()["calls"]}
        print("SUMMARY " + json.dumps(summary), flush=True)
        fails = []
        if rss_growth > max(4096, 0.10 * med(first, "rss_kb")):
            fails.append(f"RSS grew by {rss_growth} kB")
        if fd_growth > 8:
            fails.append(f"open fds grew by {fd_growth}")
        if conn_max > 4 + 1 + 2:   # pool + leader connection + slack for a reconnect
            fails.append(f"{conn_max} database connections")
        if counts["other"]:
            fails.append(f"{counts['other']} answers neither 2xx nor 503")
        if passes < seconds / 4:
            fails.append(f"only {passes} reconcile passes")
        rcode = d.stop()
        d = None
        if rcode != 0:
            fails.append(f"exit status {rcode}")
        for f in fails:
            print("FAIL: " + f)
        rc = 1 if fails else 0
        print("soak: " + ("FAILED" if fails else "ok"))
        return rc
    finally:
        if d:
            d.stop()
        fake.close()
        c.destroy()


if __name__ == "__main__":
    sys.exit(main())
