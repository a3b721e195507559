#!/usr/bin/env python3
"""Ingest benchmark (issue 8): POST /sns at max rate and at half that rate,
checked against the database, next to the limits of the machine (pgbench with
the same SQL per event, and `openssl speed rsa2048` verify).

Usage: make bench-ingest [BENCH_ARGS="--shows 1000 --duration 10"]
   or: tests/bench/ingest.py --bin build/ivs-syncd --load build/ingest_load

Everything is throwaway (a temp PostgreSQL cluster, a test SNS key) and
bounded in time; see tests/bench/README.md ("## Ingest")."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
try:
    import pytest  # noqa: F401  (conftest imports it; the bench does not need it)
except ImportError:
    import types
    sys.modules["pytest"] = types.SimpleNamespace(fixture=lambda *a, **k: (
        a[0] if a and callable(a[0]) else (lambda f: f)),
        register_assert_rewrite=lambda *names: None)
from conftest import PG, PG_BIN, clean_env  # noqa: E402

TOPIC = "arn:aws:sns:us-east-1:123456789012:ivs-bench"
CERT_NAME = "SimpleNotificationService-b0e1c2d3e4f5a6b7c8d9e0f1a2b3c4d5.pem"
CERT_URL = "https://sns.us-east-1.amazonaws.com/" + CERT_NAME
ACCOUNT = "123456789012"
BASE_TIME = 1767261600  # 2026-01-01T10:00:00Z
B_FIRST = 100000  # first round of the half-rate phase (times after the max-rate phase)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def arn(ch):
    return f"arn:aws:ivs:us-east-1:{ACCOUNT}:channel/bench{ch:08d}"


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid, children=False):
    """utime + stime of pid (+ those of its reaped children), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        t = int(parts[11]) + int(parts[12])
        if children:
            t += int(parts[13]) + int(parts[14])
        return t / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def pg_cpu_s(pg):
    """CPU seconds of the cluster: the postmaster, its live children, and
    those that exited (pgbench's backends), which the postmaster reaped."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        pm = int(f.readline())
    total = cpu_s(pm, children=True)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pm:
                        total += cpu_s(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return total


class Measure:
    """CPU used by the daemon, the cluster and our children (the load generator)
    while a phase runs, per event answered."""

    def __init__(self, pid, pg):
        self.pid, self.pg = pid, pg
        self.c0 = (cpu_s(pid), pg_cpu_s(pg), self._children(), time.time())

    @staticmethod
    def _children():
        r = os.times()
        return r.children_user + r.children_system

    def done(self, events):
        d, p, c, t = cpu_s(self.pid), pg_cpu_s(self.pg), self._children(), time.time()
        n = max(1, events)
        us = lambda a, b: round((a - b) / n * 1e6, 1)  # noqa: E731
        return {"daemon_us": us(d, self.c0[0]), "postgres_us": us(p, self.c0[1]),
                "loadgen_us": us(c, self.c0[2]),
                "machine_busy": round((d - self.c0[0] + p - self.c0[1] + c - self.c0[2]) /
                                      (t - self.c0[3]), 2)}


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.05)


class Daemon:
    def __init__(self, binary, env, logpath):
        self.logf = open(logpath, "w+")
        self.logpath = logpath
        self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=str(ROOT))
        self.port = None
        deadline = time.time() + 15
        while time.time() < deadline and self.port is None:
            with open(logpath) as f:
                for raw in f:
                    try:
                        line = json.loads(raw)
                    except ValueError:
                        continue
                    if line.get("msg", "").startswith("listening on"):
                        self.port = line["port"]
            if self.proc.poll() is not None:
                raise RuntimeError("ivs-syncd exited at start:\n" + open(logpath).read())
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("ivs-syncd did not start")
        import http.client
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("ivs-syncd never became ready")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(25)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def sign(args, tmp, tag, first_round, rounds, out):
    """Pre-sign into out, or reuse a cached file signed less than 50 min ago
    (SNS_MAX_AGE is 1 h) with the same key, shows, first round and at least
    as many rounds. Event ids repeat across runs; every run has a new database."""
    cache = Path(args.cache) if args.cache else None
    if cache:
        meta = cache / f"{out.stem}-{args.shows}-{first_round}.json"
        data = cache / f"{out.stem}-{args.shows}-{first_round}.bin"
        try:
            m = json.loads(meta.read_text())
            if m["rounds"] >= rounds and time.time() - m["created"] < 3000 and data.exists():
                log(f"  reusing {m['rounds'] * args.shows} notifications signed "
                    f"{(time.time() - m['created']) / 60:.0f} min ago ({data})")
                return data
        except (OSError, ValueError, KeyError):
            pass
        out = data
    t = time.time()
    o = run([args.load, "sign", "--key", str(tmp / "key.pem"), "--cert-url", CERT_URL,
             "--topic", TOPIC, "--account", ACCOUNT, "--run", tag, "--channels",
             str(args.shows), "--first-round", str(first_round), "--rounds", str(rounds),
             "--base-time", str(BASE_TIME), "-j", str(args.jobs), "--out", str(out)])
    n = json.loads(o)["signed"]
    log(f"  signed {n} notifications in {time.time() - t:.1f} s")
    if cache:
        meta.write_text(json.dumps({"rounds": rounds, "created": t}))
    return out


def drive(args, port, infile, results, rate, conns, duration, count=None):
    argv = [args.load, "drive", "--port", str(port), "--in", str(infile), "--conns",
            str(conns), "--rate", f"{rate:.3f}", "--duration", str(duration),
            "--results", str(results)]
    if count is not None:
        argv += ["--count", str(count)]
    return json.loads(run(argv, timeout=duration + 120))


def read_results(path):
    out = []
    with open(path) as f:
        for line in f:
            i, st, lat, oc = line.split()
            out.append((int(i), int(st), int(lat), oc))
    return out


PGB_EVENT = """SELECT ivs_sync.ingest_event('pgb-{tag}-' || :client_id::text || '-' || :k::text,
  'pgb-mid', 'sns', :arnp::text || lpad(:ch::text, 8, '0'),
  '{acct}', 'IVS Stream State Change',
  CASE WHEN :r::int % 2 = 0 THEN 'Stream Start' ELSE 'Stream End' END,
  CASE WHEN :r::int % 2 = 0 THEN 'start' ELSE 'end' END,
  'st-pgb{tag}-' || :ch::text || '-' || (:r::int / 2)::text,
  to_timestamp({base} + :r::int + {r0}), NULL, {grace});
"""


def pgbench_script(tag, per_tx, clients, shows, r0, grace):
    """Same statement ivs-syncd runs per event (pgbench takes ':name' inside
    string literals for variables, hence the ARN prefix in :arnp); each client owns the channels
    client_id + clients*j, and walks them round-robin (Start/End alternating
    per channel with increasing times, distinct event ids)."""
    per = max(1, shows // clients)
    lines = ["\\set k :k + 1"]
    body = []
    for i in range(per_tx):
        if i:
            body.append("\\set k :k + 1")
        body.append(f"\\set ch :client_id + {clients} * (:k % {per})")
        body.append(f"\\set r :k / {per}")
        body.append(PGB_EVENT.format(tag=tag, acct=ACCOUNT, base=BASE_TIME, r0=r0, grace=grace))
    if per_tx > 1:
        return "\n".join(lines + ["BEGIN;"] + body + ["COMMIT;"]) + "\n"
    return "\n".join(lines + body) + "\n"


def pgbench(args, pg, db, tmp, tag, per_tx, clients, r0):
    script = tmp / f"pgb-{tag}.sql"
    script.write_text(pgbench_script(tag, per_tx, clients, args.shows, r0, args.grace))
    os.chmod(script, 0o644)
    argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j",
            str(min(clients, os.cpu_count() or 2)), "-T", str(args.pgbench_seconds),
            "-D", "k=0", "-D", "arnp=" + arn(0)[:-8], "-f", str(script), "-h", pg.dir, "-p", str(pg.port), "-U", "ivs", db]
    meas = Measure(os.getpid(), pg)
    out = run(argv)
    time.sleep(0.5)  # let the postmaster reap pgbench's backends (their CPU joins its cutime)
    m = re.search(r"tps = ([0-9.]+)", out)
    lat = re.search(r"latency average = ([0-9.]+) ms", out)
    fails = re.search(r"number of failed transactions: (\d+)", out)
    tps = float(m.group(1)) if m else 0.0
    cpu = meas.done(int(tps * per_tx * args.pgbench_seconds))
    return {"cpu_per_event": {"postgres_us": cpu["postgres_us"], "pgbench_us": cpu["loadgen_us"],
                              "machine_busy": cpu["machine_busy"]}, "tps": tps, "events_per_s": tps * per_tx, "latency_avg_ms": float(lat.group(1)) if lat else None,
            "failed": int(fails.group(1)) if fails else 0}


def openssl_verify():
    out = run(["openssl", "speed", "-seconds", "3", "rsa2048"])
    for line in out.splitlines():
        if line.startswith("rsa 2048 bits") or line.startswith("rsa  2048 bits"):
            parts = line.split()
            return float(parts[-2]), float(parts[-1])  # sign/s, verify/s
    return 0.0, 0.0


def check_db(pg, db, tag, expected_rows, last_per_channel):
    """Every 2xx event recorded once with its outcome; shows hold the state of
    the last event of their channel."""
    problems = []
    got = {}
    for eid, outcome, changed in pg.rows(
            f"SELECT event_id, outcome, shows_changed FROM ivs_sync.events "
            f"WHERE event_id LIKE 'bench-{tag}-%'", db):
        got[eid] = (outcome, int(changed))
    missing = [e for e in expected_rows if e not in got]
    if missing:
        problems.append(f"{len(missing)} events answered 2xx are not recorded (e.g. {missing[:3]})")
    extra = len(got) - len(set(expected_rows) & set(got))
    wrong_outcome = sum(1 for e, oc in expected_rows.items() if e in got and got[e][0] != oc)
    if wrong_outcome:
        problems.append(f"{wrong_outcome} events recorded with another outcome than answered")
    shows = {}
    for ch, ss, st, sid, at in pg.rows(
            "SELECT substring(ivs_channel_arn from 'bench([0-9]+)$')::int, stream_status, "
            "is_streaming, ivs_stream_id, extract(epoch from stream_state_at)::bigint "
            "FROM public.shows WHERE ivs_channel_arn LIKE '%:channel/bench%'", db):
        shows[int(ch)] = (ss, st, sid, int(at) if at else None)
    bad = 0
    for ch, (live, sid, t) in last_per_channel.items():
        want = ("live" if live else "offline", "t" if live else "f", sid, t)
        if shows.get(ch) != want:
            bad += 1
            if bad <= 3:
                problems.append(f"channel {ch}: show is {shows.get(ch)}, last event says {want}")
    if bad > 3:
        problems.append(f"... {bad} shows in all do not hold the last event's state")
    return {"recorded": len(got), "answered_2xx": len(expected_rows), "missing": len(missing),
            "stored_not_answered_2xx": extra, "wrong_outcome": wrong_outcome,
            "shows_checked": len(last_per_channel), "shows_wrong": bad, "problems": problems}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "ivs-syncd"))
    ap.add_argument("--load", default=str(ROOT / "build" / "ingest_load"))
    ap.add_argument("--shows", type=int, default=1000, help="shows (one channel each)")
    ap.add_argument("--events", type=int, default=60000,
                    help="pre-signed events for the max-rate phase (it stops at --duration)")
    ap.add_argument("--duration", type=float, default=10, help="seconds per phase")
    ap.add_argument("--conns", type=int, default=64, help="client connections, max-rate phase")
    ap.add_argument("--half-rate", type=float, default=0,
                    help="rate of phase (b), events/s (default: half the measured max)")
    ap.add_argument("--half-conns", type=int, default=64, help="client connections, half-rate phase")
    ap.add_argument("--pool", type=int, default=4, help="DB_POOL_SIZE (= pgbench clients)")
    ap.add_argument("--grace", type=int, default=3600,
                    help="END_GRACE_SECONDS (>0 keeps shows 'live' between streams, so "
                         "every Start/End applies)")
    ap.add_argument("--pgbench-seconds", type=int, default=8)
    ap.add_argument("--history", type=int, default=100000,
                    help="old events in ivs_sync.events before the run (0 = empty table)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="signing processes")
    ap.add_argument("--durable", action="store_true",
                    help="fsync=on, synchronous_commit=on (default: off, as in the tests)")
    ap.add_argument("--skip-limits", action="store_true", help="no pgbench / openssl speed")
    ap.add_argument("--env", action="append", default=[], help="extra daemon env K=V")
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-cache"),
                    help="keep the test key and pre-signed requests here ('' = no cache)")
    args = ap.parse_args()

    t_begin = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="ivs-bench-"))
    tag = "b"
    pg = None
    d = None
    fig = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip(),
           "load_before": os.getloadavg()[0], "shows": args.shows, "pool": args.pool,
           "durable": args.durable}
    try:
        log("ingest bench: PostgreSQL ...")
        pg = PG()
        if args.durable:
            with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
                f.write("\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
            pg.stop()
            pg.start()
        db = "bench"
        pg.psql(f"CREATE DATABASE {db}")
        env = clean_env(DATABASE_URL=pg.url(db))
        run([args.bin, "migrate"], env=env, cwd=str(ROOT))
        pg.psql(f"INSERT INTO public.shows (title, status, ivs_channel_arn) "
                f"SELECT 'bench ' || i, 'scheduled', "
                f"'arn:aws:ivs:us-east-1:{ACCOUNT}:channel/bench' || lpad(i::text, 8, '0') "
                f"FROM generate_series(0, {args.shows - 1}) i", db)
        if args.history:
            # a steady-state events table (EVENT_RETENTION keeps days of them), analyzed:
            # plans cached by long-lived connections are those of a populated table
            pg.psql(f"INSERT INTO ivs_sync.events (event_id, sns_message_id, via, channel_arn, "
                    f"account, detail_type, event_name, stream_id, event_time, received_at, "
                    f"outcome, shows_changed) SELECT 'hist-' || i, 'hist-mid-' || i, 'sns', "
                    f"'arn:aws:ivs:us-east-1:{ACCOUNT}:channel/bench' || "
                    f"lpad((i % {args.shows})::text, 8, '0'), '{ACCOUNT}', "
                    f"'IVS Stream State Change', CASE WHEN (i / {args.shows}) % 2 = 0 "
                    f"THEN 'Stream Start' ELSE 'Stream End' END, 'st-hist-' || (i % {args.shows}) "
                    f"|| '-' || (i / {args.shows} / 2), to_timestamp({BASE_TIME} - {args.history} + i), "
                    f"now() - interval '1 day', 'applied', 1 "
                    f"FROM generate_series(0, {args.history - 1}) i", db)
        pg.psql("VACUUM ANALYZE", db)
        keydir = Path(args.cache) if args.cache else tmp
        keydir.mkdir(parents=True, exist_ok=True)
        certdir = keydir / "certs"
        if not (keydir / "key.pem").exists() or not (certdir / CERT_NAME).exists():
            for f in keydir.glob("*.json"):
                f.unlink()
            certdir.mkdir(exist_ok=True)
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 str(keydir / "key.pem"), "-out", str(certdir / CERT_NAME), "-days", "30",
                 "-subj", "/CN=sns.amazonaws.com"])
        tmp_key = keydir
        rounds_a = max(2, -(-args.events // args.shows))
        log(f"pre-signing {rounds_a * args.shows} notifications (max-rate phase) ...")
        fa = sign(args, tmp_key, tag, 0, rounds_a, tmp / "a.bin")

        denv = dict(DATABASE_URL=pg.url(db), LISTEN="127.0.0.1:0", LOG_LEVEL="info",
                    SNS_TOPIC_ARNS=TOPIC, SNS_CERT_DIR=str(certdir), DB_POOL_SIZE=str(args.pool),
                    RECONCILE_INTERVAL="0", END_GRACE_SECONDS=str(args.grace))
        for kv in args.env:
            k, _, v = kv.partition("=")
            denv[k] = v
        d = Daemon(args.bin, clean_env(**denv), str(tmp / "daemon.log"))
        time.sleep(1.0)
        fig["idle_rss_start_kb"] = rss_kb(d.proc.pid)

        log(f"(a) max rate, {args.conns} connections, {args.duration:g} s ...")
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        meas = Measure(d.proc.pid, pg)
        ra = drive(args, d.port, fa, tmp / "a.res", 0, args.conns, args.duration)
        ra["cpu_per_event"] = meas.done(ra["ok"])
        sampler.stop.set()
        sampler.join()
        fig["max"] = ra
        log(f"  {ra}")
        res_a = read_results(tmp / "a.res")

        half = args.half_rate or ra["rate"] / 2
        n_b = int(half * args.duration) + args.shows
        rounds_b = max(2, -(-n_b // args.shows))
        log(f"pre-signing {rounds_b * args.shows} notifications (half-rate phase) ...")
        fb = sign(args, tmp_key, tag, B_FIRST, rounds_b, tmp / "b.bin")
        fig["idle_rss_after_kb"] = rss_kb(d.proc.pid)

        log(f"(b) fixed rate {half:.0f}/s, {args.half_conns} connections, {args.duration:g} s ...")
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        meas = Measure(d.proc.pid, pg)
        rb = drive(args, d.port, fb, tmp / "b.res", half, args.half_conns, args.duration)
        rb["cpu_per_event"] = meas.done(rb["ok"])
        sampler.stop.set()
        sampler.join()
        fig["half"] = rb
        fig["half"]["target_rate"] = half
        log(f"  {rb}")
        res_b = read_results(tmp / "b.res")
        time.sleep(1.0)
        fig["idle_rss_end_kb"] = rss_kb(d.proc.pid)
        fig["peak_rss_kb"] = rss_kb(d.proc.pid, "VmHWM")
        fig["peak_rss_sampled_kb"] = max(sampler.peak, fig["idle_rss_start_kb"])
        d.stop()
        d = None

        # database check: every 2xx event recorded, shows = last event per channel
        expected, last = {}, {}
        omap = {"a": "applied", "d": "duplicate", "s": "stale", "i": "ignored", "c": "check"}
        for first_round, res in ((0, res_a), (B_FIRST, res_b)):
            for i, st, _, oc in res:
                if not 200 <= st < 300:
                    continue
                ch, rnd = i % args.shows, first_round + i // args.shows
                expected[f"bench-{tag}-{ch}-{rnd}"] = omap.get(oc, oc)
                live = rnd % 2 == 0
                prev = last.get(ch)
                if prev is None or rnd > prev[3]:
                    last[ch] = (live, f"st-{tag}-{ch}-{rnd // 2}", BASE_TIME + rnd, rnd)
        last = {ch: v[:3] for ch, v in last.items()}
        outcomes = {}
        for oc in expected.values():
            outcomes[oc] = outcomes.get(oc, 0) + 1
        fig["outcomes"] = outcomes
        log("checking the database ...")
        fig["check"] = check_db(pg, db, tag, expected, last)
        last_round = B_FIRST + (rb["next"] - 1) // args.shows

        if not args.skip_limits:
            log(f"pgbench, {args.pool} clients, 1 event per transaction ...")
            fig["pgbench_1"] = pgbench(args, pg, db, tmp, "p1", 1, args.pool, last_round + 2)
            log(f"  {fig['pgbench_1']}")
            log(f"pgbench, {args.pool} clients, 10 events per transaction ...")
            fig["pgbench_10"] = pgbench(args, pg, db, tmp, "p10", 10, args.pool,
                                        last_round + 2 + 2 * 10 ** 6)
            log(f"  {fig['pgbench_10']}")
            log("openssl speed -seconds 3 rsa2048 ...")
            fig["openssl_sign_s"], fig["openssl_verify_s"] = openssl_verify()
        fig["load_after"] = os.getloadavg()[0]
    finally:
        if d:
            d.stop()
        if pg:
            pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    fig["seconds"] = round(time.time() - t_begin, 1)
    report(fig)
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")
    return 0 if not fig["check"]["problems"] and fig["max"]["errors"] == 0 and \
        fig["half"]["errors"] == 0 else 1


def report(f):
    mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
    a, b = f["max"], f["half"]
    print(f"\n== ivs-syncd ingest benchmark  {f['date']}  commit {f['commit']}  "
          f"(load avg {f['load_before']:.2f} before, {f.get('load_after', 0):.2f} after; "
          f"{os.cpu_count()} CPUs; {f['shows']} shows; pool {f['pool']}; "
          f"{'durable' if f['durable'] else 'fsync=off'})")
    for name, r in (("max rate", a), ("half rate", b)):
        tgt = f" (target {r['target_rate']:.0f}/s)" if "target_rate" in r else ""
        print(f"{name:>10}: {r['rate']:8.0f} events/s{tgt}  p50 {r['p50_ms']:.2f}  "
              f"p90 {r['p90_ms']:.2f}  p99 {r['p99_ms']:.2f}  max {r['max_ms']:.2f} ms  "
              f"errors {r['errors'] + r['unanswered']}  ({r['ok']} ok in {r['elapsed']:.1f} s)")
        c = r.get("cpu_per_event", {})
        print(f"{'':>12}CPU per event: daemon {c.get('daemon_us')} us, postgres "
              f"{c.get('postgres_us')} us, load generator {c.get('loadgen_us')} us "
              f"(those used {c.get('machine_busy')} of {os.cpu_count()} CPUs)")
    print(f"       RSS: peak {mb(f['peak_rss_kb'])} (VmHWM), idle {mb(f['idle_rss_start_kb'])} "
          f"at start, {mb(f['idle_rss_end_kb'])} after the load")
    c = f["check"]
    print(f"  database: {c['recorded']} recorded / {c['answered_2xx']} answered 2xx, "
          f"missing {c['missing']}, extra {c['stored_not_answered_2xx']}, "
          f"wrong outcome {c['wrong_outcome']}; shows wrong {c['shows_wrong']} of "
          f"{c['shows_checked']}; outcomes {f['outcomes']}")
    for p in c["problems"]:
        print(f"  PROBLEM: {p}")
    if "pgbench_1" in f:
        p1, p10 = f["pgbench_1"], f["pgbench_10"]
        print(f"   pgbench: {p1['events_per_s']:8.0f} events/s at 1 event/tx, "
              f"{p10['events_per_s']:8.0f} events/s at 10 events/tx ({f['pool']} clients)")
        print(f"{'':>12}CPU per event: postgres {p1['cpu_per_event']['postgres_us']} us at 1/tx, "
              f"{p10['cpu_per_event']['postgres_us']} us at 10/tx; pgbench "
              f"{p1['cpu_per_event']['pgbench_us']} / {p10['cpu_per_event']['pgbench_us']} us")
        print(f"   openssl: {f['openssl_verify_s']:8.0f} rsa2048 verify/s (one core)")
        r1 = a["rate"] / p1["events_per_s"] if p1["events_per_s"] else 0
        r10 = a["rate"] / p10["events_per_s"] if p10["events_per_s"] else 0
        print(f"    ratios: ivs-syncd / pgbench 1/tx = {r1:.2f}x, / pgbench 10/tx = {r10:.2f}x")
        goals = [("max rate >= 1.0x pgbench 1/tx", r1 >= 1.0),
                 ("half-rate p99 < 10 ms", b["p99_ms"] < 10),
                 ("peak RSS < 64 MB", f["peak_rss_kb"] < 64 * 1024),
                 ("idle RSS < 16 MB", f["idle_rss_end_kb"] < 16 * 1024)]
        print("     goals: " + "; ".join(f"{g} {'MET' if ok else 'not met'}" for g, ok in goals))
    print(f"   (bench took {f['seconds']} s)")


if __name__ == "__main__":
    sys.exit(main())
