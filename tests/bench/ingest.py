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


class WaitSampler(threading.Thread):
    """What the database's client backends are doing, sampled every 10 ms from
    pg_stat_activity: 'CPU' (active, no wait event), 'idle', or the wait event
    (e.g. Lock:object = the commit lock of notifying transactions, IO:WALSync)."""

    def __init__(self, pg, db):
        super().__init__(daemon=True)
        self.pg, self.db, self.stop, self.counts = pg, db, threading.Event(), {}

    def run(self):
        try:
            import psycopg2
            c = psycopg2.connect(host=self.pg.dir, port=self.pg.port, user="ivs", dbname=self.db)
            c.autocommit = True
            cur = c.cursor()
        except Exception:  # noqa: BLE001  (a diagnostic: no sampler, no figures)
            return
        while not self.stop.is_set():
            cur.execute("SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'")
            for state, wt, we in cur.fetchall():
                k = "idle" if state == "idle" else (f"{wt}:{we}" if wt else "CPU")
                self.counts[k] = self.counts.get(k, 0) + 1
            time.sleep(0.01)
        c.close()

    def done(self):
        self.stop.set()
        self.join()
        busy = {k: v for k, v in self.counts.items() if k != "idle"}
        n = sum(busy.values()) or 1
        return {k: round(v / n, 3) for k, v in sorted(busy.items(), key=lambda kv: -kv[1])[:6]}


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

    def batches(self):
        """(statements of several events, events in them) from /metrics."""
        import http.client
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
        except OSError:
            return 0, 0
        v = {}
        for line in text.splitlines():
            if line.startswith("ivs_syncd_ingest_batch"):
                k, _, x = line.rpartition(" ")
                v[k] = float(x)
        return (v.get("ivs_syncd_ingest_batches_total", 0),
                v.get("ivs_syncd_ingest_batched_events_total", 0))

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


def pgb_event_json(tag, clients, per):
    """One event as jsonb for ivs_sync.ingest_events, for event number :k*N+g of a
    client: channel client_id + clients * (n % per), round n / per."""
    n = "(:k::bigint * :nper + g)"
    ch = f"(:client_id + {clients} * ({n} % {per}))"
    r = f"({n} / {per})"
    return (f"jsonb_build_object('id', 'pgb-{tag}-' || :client_id || '-' || {n}, 'mid', 'pgb-mid', "
            f"'via', 'sns', 'c', :arnp::text || lpad({ch}::text, 8, '0'), 'acct', '{ACCOUNT}', "
            f"'dt', 'IVS Stream State Change', "
            f"'en', CASE WHEN {r} % 2 = 0 THEN 'Stream Start' ELSE 'Stream End' END, "
            f"'k', CASE WHEN {r} % 2 = 0 THEN 'start' ELSE 'end' END, "
            f"'s', 'st-pgb{tag}-' || {ch} || '-' || ({r} / 2), "
            f"'t', to_timestamp({BASE_TIME} + {r} + :r0), 'h', NULL)")


def pgbench_script(tag, per_tx, clients, shows, r0, grace, minimal=False):
    """ivs-syncd's own statement (SELECT ... FROM ivs_sync.ingest_events($1::jsonb, grace))
    with per_tx events in the array, or (minimal) the least SQL an event needs: one
    INSERT into ivs_sync.events + one guarded UPDATE of the show, one transaction
    per event. pgbench takes ':name' inside string literals for variables, hence
    the ARN prefix in :arnp. Each client owns the channels client_id + clients*j
    and walks them round-robin (Start/End alternating per channel with increasing
    times, distinct event ids)."""
    per = max(1, shows // clients)
    if minimal:
        return (f"\\set k :k + 1\n"
                f"\\set ch :client_id + {clients} * (:k % {per})\n"
                f"\\set r :k / {per} + {r0}\n"
                f"\\set live 1 - :r % 2\n"
                f"BEGIN;\n"
                f"INSERT INTO ivs_sync.events (event_id, sns_message_id, via, channel_arn, account, "
                f"detail_type, event_name, stream_id, event_time, outcome, shows_changed) VALUES "
                f"('pgm-{tag}-' || :client_id || '-' || :k, 'pgb-mid', 'sns', "
                f":arnp::text || lpad(:ch::text, 8, '0'), '{ACCOUNT}', 'IVS Stream State Change', "
                f"CASE WHEN :live = 1 THEN 'Stream Start' ELSE 'Stream End' END, "
                f"'st-pgm{tag}-' || :ch || '-' || (:r / 2), to_timestamp({BASE_TIME} + :r), "
                f"'applied', 1);\n"
                f"UPDATE public.shows SET stream_status = CASE WHEN :live = 1 THEN 'live' "
                f"ELSE 'offline' END, is_streaming = (:live = 1), "
                f"ivs_stream_id = 'st-pgm{tag}-' || :ch || '-' || (:r / 2), "
                f"stream_state_at = to_timestamp({BASE_TIME} + :r), stream_synced_at = now() "
                f"WHERE ivs_channel_arn = :arnp::text || lpad(:ch::text, 8, '0') "
                f"AND (stream_state_at IS NULL OR stream_state_at < to_timestamp({BASE_TIME} + :r));\n"
                f"END;\n")
    ev = pgb_event_json(tag, clients, per).replace(":r0", str(r0)).replace(":nper", str(per_tx))
    return (f"\\set k :k + 1\n"
            f"SELECT count(*) FROM ivs_sync.ingest_events((SELECT jsonb_agg({ev} ORDER BY g) "
            f"FROM generate_series(0, {per_tx - 1}) g), {grace});\n")


def pgbench(args, pg, db, tmp, tag, per_tx, clients, r0, minimal=False):
    script = tmp / f"pgb-{tag}.sql"
    script.write_text(pgbench_script(tag, per_tx, clients, args.shows, r0, args.grace, minimal))
    os.chmod(script, 0o644)
    argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j",
            str(min(clients, os.cpu_count() or 2)), "-T", str(args.pgbench_seconds),
            "-D", "k=0", "-D", "arnp=" + arn(0)[:-8], "-f", str(script), "-h", pg.dir,
            "-p", str(pg.port), "-U", "ivs", db]
    meas = Measure(os.getpid(), pg)
    out = run(argv)
    time.sleep(0.5)  # let the postmaster reap pgbench's backends (their CPU joins its cutime)
    m = re.search(r"tps = ([0-9.]+)", out)
    lat = re.search(r"latency average = ([0-9.]+) ms", out)
    fails = re.search(r"number of failed transactions: (\d+)", out)
    tps = float(m.group(1)) if m else 0.0
    cpu = meas.done(int(tps * per_tx * args.pgbench_seconds))
    return {"cpu_per_event": {"postgres_us": cpu["postgres_us"], "pgbench_us": cpu["loadgen_us"],
                              "machine_busy": cpu["machine_busy"]},
            "tps": tps, "events_per_s": tps * per_tx,
            "latency_avg_ms": float(lat.group(1)) if lat else None,
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


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fill_history(pg, db, args, rows):
    """A week of retention: rows old events (10/s for 7 days is ~6M), one INSERT
    from generate_series, spread over the channels, Start/End alternating."""
    t = time.time()
    pg.psql(f"INSERT INTO ivs_sync.events (event_id, sns_message_id, via, channel_arn, "
            f"account, detail_type, event_name, stream_id, event_time, received_at, "
            f"outcome, shows_changed) SELECT 'hist-' || i, 'hist-mid-' || i, 'sns', "
            f"'arn:aws:ivs:us-east-1:{ACCOUNT}:channel/bench' || "
            f"lpad((i % {args.shows})::text, 8, '0'), '{ACCOUNT}', "
            f"'IVS Stream State Change', CASE WHEN (i / {args.shows}) % 2 = 0 "
            f"THEN 'Stream Start' ELSE 'Stream End' END, 'st-hist-' || (i % {args.shows}) "
            f"|| '-' || (i / {args.shows} / 2), to_timestamp({BASE_TIME} - {rows} + i), "
            f"now() - make_interval(secs => ({rows} - i) / 10.0), 'applied', 1 "
            f"FROM generate_series(0, {rows - 1}) i", db)
    log(f"  {rows} old events in {time.time() - t:.0f} s")


def reset_db(pg, db, empty):
    """Back to the start of a run: no event of ours, every show scheduled and
    offline, statistics fresh (for the empty table: analyzed while empty)."""
    if empty:
        pg.psql("TRUNCATE ivs_sync.events", db)
    else:
        pg.psql("DELETE FROM ivs_sync.events WHERE event_id NOT LIKE 'hist-%'", db)
    pg.psql("TRUNCATE ivs_sync.pending_ends, ivs_sync.pending_checks; "
            "UPDATE public.shows SET status = 'scheduled', stream_status = 'offline', "
            "is_streaming = false, ivs_stream_id = NULL, stream_state_at = NULL, "
            "went_live_at = NULL, ended_at = NULL, actual_start = NULL, actual_end = NULL, "
            "viewer_count = 0, stream_health = NULL, stream_synced_at = NULL", db)
    pg.psql("VACUUM ANALYZE", db)


def per_statement(events, b0, b1):
    """Events per ingest statement in a phase: the batches (2+ events) from
    /metrics, every other event a statement of its own."""
    nb, ne = b1[0] - b0[0], b1[1] - b0[1]
    stmts = nb + max(0, events - ne)
    return round(events / stmts, 1) if stmts else None


def one_run(args, pg, db, tmp, tag, fa, fb, certdir, empty):
    """One run: a fresh daemon, (a) max rate, (b) half that rate, the database
    check, then pgbench (ivs-syncd's statement at 1 and 10 events/tx, the minimal
    SQL at 1/tx), all against the same table state."""
    reset_db(pg, db, empty)
    fig = {"load_before": os.getloadavg()[0]}
    denv = dict(DATABASE_URL=pg.url(db), LISTEN="127.0.0.1:0", LOG_LEVEL="info",
                SNS_TOPIC_ARNS=TOPIC, SNS_CERT_DIR=str(certdir), DB_POOL_SIZE=str(args.pool),
                RECONCILE_INTERVAL="0", END_GRACE_SECONDS=str(args.grace))
    for kv in args.env:
        k, _, v = kv.partition("=")
        denv[k] = v
    d = Daemon(args.bin, clean_env(**denv), str(tmp / "daemon.log"))
    try:
        time.sleep(1.0)
        fig["idle_rss_start_kb"] = rss_kb(d.proc.pid)
        log(f"  (a) max rate, {args.conns} connections, {args.duration:g} s ...")
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        meas = Measure(d.proc.pid, pg)
        waits = WaitSampler(pg, db)
        waits.start()
        b0 = d.batches()
        ra = drive(args, d.port, fa, tmp / "a.res", 0, args.conns, args.duration)
        ra["cpu_per_event"] = meas.done(ra["ok"])
        ra["waits"] = waits.done()
        ra["events_per_statement"] = per_statement(ra["ok"], b0, d.batches())
        sampler.stop.set()
        sampler.join()
        fig["max"] = ra
        log(f"    {ra['rate']:.0f}/s p99 {ra['p99_ms']:.2f} ms, postgres "
            f"{ra['cpu_per_event']['postgres_us']} us/event, {ra['events_per_statement']} events/statement; "
            f"backends {ra['waits']}")
        res_a = read_results(tmp / "a.res")
        half = args.half_rate or ra["rate"] / 2
        time.sleep(1.0)
        fig["idle_rss_after_kb"] = rss_kb(d.proc.pid)
        log(f"  (b) fixed rate {half:.0f}/s, {args.half_conns} connections, {args.duration:g} s ...")
        sampler = RssSampler(d.proc.pid)
        sampler.start()
        meas = Measure(d.proc.pid, pg)
        waits = WaitSampler(pg, db)
        waits.start()
        b0 = d.batches()
        rb = drive(args, d.port, fb, tmp / "b.res", half, args.half_conns, args.duration)
        rb["cpu_per_event"] = meas.done(rb["ok"])
        rb["waits"] = waits.done()
        rb["events_per_statement"] = per_statement(rb["ok"], b0, d.batches())
        sampler.stop.set()
        sampler.join()
        rb["target_rate"] = half
        fig["half"] = rb
        log(f"    {rb['rate']:.0f}/s p99 {rb['p99_ms']:.2f} ms, postgres "
            f"{rb['cpu_per_event']['postgres_us']} us/event, {rb['events_per_statement']} events/statement; "
            f"backends {rb['waits']}")
        res_b = read_results(tmp / "b.res")
        time.sleep(1.0)
        fig["idle_rss_end_kb"] = rss_kb(d.proc.pid)
        fig["peak_rss_kb"] = rss_kb(d.proc.pid, "VmHWM")
    finally:
        d.stop()

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
    fig["check"] = check_db(pg, db, tag, expected, last)
    last_round = B_FIRST + (rb["next"] - 1) // args.shows

    if not args.skip_limits:
        r0 = last_round + 2
        for key, per_tx, minimal in (("pgbench_1", 1, False), ("pgbench_10", 10, False),
                                     ("pgbench_min", 1, True)):
            log(f"  pgbench {key}, {args.pool} clients ...")
            fig[key] = pgbench(args, pg, db, tmp, key[8:], per_tx, args.pool, r0, minimal)
            log(f"    {fig[key]['events_per_s']:.0f} events/s, postgres "
                f"{fig[key]['cpu_per_event']['postgres_us']} us/event")
            r0 += 2 * 10 ** 6
    fig["load_after"] = os.getloadavg()[0]
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "ivs-syncd"))
    ap.add_argument("--load", default=str(ROOT / "build" / "ingest_load"))
    ap.add_argument("--shows", type=int, default=20000, help="shows (one channel each)")
    ap.add_argument("--events", type=int, default=60000,
                    help="pre-signed events per phase (a phase stops at --duration)")
    ap.add_argument("--duration", type=float, default=10, help="seconds per phase")
    ap.add_argument("--conns", type=int, default=32, help="client connections, max-rate phase")
    ap.add_argument("--half-rate", type=float, default=0,
                    help="rate of phase (b), events/s (default: half the run's measured max)")
    ap.add_argument("--half-conns", type=int, default=32, help="client connections, half-rate phase")
    ap.add_argument("--pool", type=int, default=8, help="DB_POOL_SIZE (= pgbench clients)")
    ap.add_argument("--grace", type=int, default=3600,
                    help="END_GRACE_SECONDS (>0 keeps shows 'live' between streams, so "
                         "every Start/End applies)")
    ap.add_argument("--pgbench-seconds", type=int, default=6)
    ap.add_argument("--tables", default="empty,week",
                    help="events table states, comma-separated: empty (analyzed empty), "
                         "week (--week-rows old events, analyzed)")
    ap.add_argument("--week-rows", type=int, default=6048000,
                    help="old events for 'week' (a week at 10 events/s = 6,048,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per table state (medians printed)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="signing processes")
    ap.add_argument("--fast", action="store_true",
                    help="fsync=off, synchronous_commit=off (the tests' settings; default: durable)")
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
    fig = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip(),
           "load_before": os.getloadavg(), "shows": args.shows, "pool": args.pool,
           "conns": args.conns, "durable": not args.fast, "states": {}}
    ok = True
    try:
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
        rounds = max(2, -(-args.events // args.shows))
        log(f"pre-signing 2 x {rounds * args.shows} notifications ...")
        fa = sign(args, keydir, tag, 0, rounds, tmp / "a.bin")
        fb = sign(args, keydir, tag, B_FIRST, rounds, tmp / "b.bin")

        log("ingest bench: PostgreSQL ...")
        pg = PG()
        if not args.fast:
            with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
                f.write("\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
            pg.stop()
            pg.start()
        for state in [x for x in args.tables.split(",") if x]:
            db = "bench_" + state
            pg.psql(f"CREATE DATABASE {db}")
            run([args.bin, "migrate"], env=clean_env(DATABASE_URL=pg.url(db)), cwd=str(ROOT))
            pg.psql(f"INSERT INTO public.shows (title, status, ivs_channel_arn) "
                    f"SELECT 'bench ' || i, 'scheduled', "
                    f"'arn:aws:ivs:us-east-1:{ACCOUNT}:channel/bench' || lpad(i::text, 8, '0') "
                    f"FROM generate_series(0, {args.shows - 1}) i", db)
            if state == "week":
                log(f"{state}: filling {args.week_rows} old events ...")
                fill_history(pg, db, args, args.week_rows)
            runs = []
            for k in range(args.runs):
                log(f"{state}: run {k + 1} of {args.runs} (load avg {os.getloadavg()[0]:.2f}) ...")
                r = one_run(args, pg, db, tmp, tag, fa, fb, certdir, state != "week")
                runs.append(r)
                ok = ok and not r["check"]["problems"] and r["max"]["errors"] == 0 \
                    and r["half"]["errors"] == 0
                report_run(f"{state} #{k + 1}", r)
            fig["states"][state] = {"rows_before": args.week_rows if state == "week" else 0,
                                    "runs": runs}
            pg.psql(f"DROP DATABASE {db}")
        if not args.skip_limits:
            log("openssl speed -seconds 3 rsa2048 ...")
            fig["openssl_sign_s"], fig["openssl_verify_s"] = openssl_verify()
        fig["load_after"] = os.getloadavg()
    finally:
        if pg:
            pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    fig["seconds"] = round(time.time() - t_begin, 1)
    report(fig)
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2) + "\n")
    return 0 if ok else 1


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def report_run(name, r):
    a, b = r["max"], r["half"]
    c = r["check"]
    line = (f"{name}: load {r['load_before']:.2f}; max {a['rate']:.0f}/s p99 {a['p99_ms']:.1f} ms "
            f"pg {a['cpu_per_event']['postgres_us']} us/ev; half {b['rate']:.0f}/s p50 "
            f"{b['p50_ms']:.2f} p99 {b['p99_ms']:.2f} ms pg {b['cpu_per_event']['postgres_us']} us/ev; "
            f"RSS {mb(r['idle_rss_start_kb'])} idle, {mb(r['peak_rss_kb'])} peak; errors "
            f"{a['errors'] + a['unanswered'] + b['errors'] + b['unanswered']}; db check "
            f"{'ok' if not c['problems'] else 'FAILED'}")
    if "pgbench_1" in r:
        line += (f"; pgbench own 1/tx {r['pgbench_1']['events_per_s']:.0f}, own 10/tx "
                 f"{r['pgbench_10']['events_per_s']:.0f}, minimal 1/tx "
                 f"{r['pgbench_min']['events_per_s']:.0f} events/s")
    log(line)
    for p in c["problems"]:
        log(f"  PROBLEM: {p}")


def get(r, path):
    for k in path.split("."):
        if r is None or k not in r:
            return None
        r = r[k]
    return r


def report(f):
    la = f["load_before"]
    print(f"\n== ivs-syncd ingest benchmark  {f['date']}  commit {f['commit']}  "
          f"({os.cpu_count()} CPUs; load avg {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} before, "
          f"{' '.join(f'{x:.2f}' for x in f.get('load_after', (0, 0, 0)))} after; "
          f"{f['shows']} shows; pool {f['pool']}; {f['conns']} connections; "
          f"{'durable: fsync on, synchronous_commit on' if f['durable'] else 'fsync off'})")
    goals = []
    pgcpu = {}
    for state, st in f["states"].items():
        runs = st["runs"]
        m = lambda p: median([get(r, p) for r in runs])  # noqa: E731
        print(f"\n-- events table {state} at start ({st['rows_before']} rows, analyzed); "
              f"median of {len(runs)} runs (load avg at start of each: "
              f"{', '.join('%.2f' % r['load_before'] for r in runs)})")
        for name, k in (("max rate", "max"), ("half rate", "half")):
            tgt = f" (target {m(k + '.target_rate'):.0f}/s)" if k == "half" else ""
            print(f"{name:>10}: {m(k + '.rate'):8.0f} events/s{tgt}  p50 {m(k + '.p50_ms'):.2f}  "
                  f"p90 {m(k + '.p90_ms'):.2f}  p99 {m(k + '.p99_ms'):.2f}  "
                  f"max {m(k + '.max_ms'):.2f} ms  errors "
                  f"{sum(get(r, k + '.errors') + get(r, k + '.unanswered') for r in runs)}")
            print(f"{'':>12}events per statement {m(k + '.events_per_statement')}; backends "
                  f"(run 1, share of busy samples) {runs[0][k].get('waits')}")
            print(f"{'':>12}CPU per event: postgres {m(k + '.cpu_per_event.postgres_us')} us, "
                  f"daemon {m(k + '.cpu_per_event.daemon_us')} us, load generator "
                  f"{m(k + '.cpu_per_event.loadgen_us')} us "
                  f"(those used {m(k + '.cpu_per_event.machine_busy')} of {os.cpu_count()} CPUs)")
        print(f"       RSS: idle {mb(m('idle_rss_start_kb'))} at start, "
              f"{mb(m('idle_rss_end_kb'))} after; peak {mb(max(r['peak_rss_kb'] for r in runs))} "
              f"(VmHWM, highest run)")
        bad = [r["check"] for r in runs if r["check"]["problems"]]
        print(f"  database: {sum(r['check']['recorded'] for r in runs)} recorded / "
              f"{sum(r['check']['answered_2xx'] for r in runs)} answered 2xx over the runs; "
              f"{'every run clean' if not bad else str(len(bad)) + ' runs with PROBLEMS'}")
        if "pgbench_1" in runs[0]:
            for key, label in (("pgbench_1", "ivs-syncd's statement, 1 event/tx"),
                               ("pgbench_10", "ivs-syncd's statement, 10 events/tx"),
                               ("pgbench_min", "minimal SQL (INSERT + UPDATE), 1 event/tx")):
                print(f"   pgbench: {m(key + '.events_per_s'):8.0f} events/s  postgres "
                      f"{m(key + '.cpu_per_event.postgres_us')} us/event  ({label}, "
                      f"{f['pool']} clients)")
            rmin = m("max.rate") / m("pgbench_min.events_per_s")
            print(f"    ratios: ivs-syncd max / pgbench minimal 1/tx = {rmin:.2f}x, "
                  f"/ own 1/tx = {m('max.rate') / m('pgbench_1.events_per_s'):.2f}x, "
                  f"/ own 10/tx = {m('max.rate') / m('pgbench_10.events_per_s'):.2f}x")
            goals.append((f"{state}: max >= 1.5x pgbench minimal 1/tx ({rmin:.2f}x)", rmin >= 1.5))
        pgcpu[state] = m("max.cpu_per_event.postgres_us")
        goals.append((f"{state}: half-rate p99 < 5 ms ({m('half.p99_ms'):.2f})",
                      m("half.p99_ms") < 5))
        goals.append((f"{state}: idle RSS < 16 MB", m("idle_rss_end_kb") < 16 * 1024))
        goals.append((f"{state}: peak RSS < 64 MB",
                      max(r["peak_rss_kb"] for r in runs) < 64 * 1024))
        goals.append((f"{state}: postgres CPU/event at max <= 250 us ({pgcpu[state]})",
                      pgcpu[state] <= 250))
    if "openssl_verify_s" in f:
        print(f"\n   openssl: {f['openssl_verify_s']:8.0f} rsa2048 verify/s (one core)")
    if "empty" in pgcpu and "week" in pgcpu:
        ratio = pgcpu["week"] / pgcpu["empty"] if pgcpu["empty"] else 0
        goals.append((f"postgres CPU/event flat, empty -> week ({ratio:.2f}x)", ratio <= 1.2))
    print("\n     goals:\n" + "\n".join(f"       {'MET    ' if ok else 'not met'} {g}"
                                     for g, ok in goals))
    print(f"   (bench took {f['seconds']} s)")


if __name__ == "__main__":
    sys.exit(main())
