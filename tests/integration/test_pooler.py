"""ivs-syncd behind a transaction pooler (issue 14): PgBouncer (Debian 1.18) in
pool_mode=transaction with default_pool_size=4 in front of the test PostgreSQL,
as Supabase's pooler URL (Supavisor, transaction mode) or a PgBouncer host is.

A transaction pooler keeps a server connection for a client for one
transaction only. Named prepared statements and session advisory locks live on
a server connection, so they cannot work through it (the old code used both).
Leadership is a lease (infra/sql/005_lease.sql), the migration lock is
transaction-scoped, and statements run unnamed through a pooler
(DB_PREPARED=auto detects one)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, base_env, channel_arn, clean_env, ivs_event  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402
from pgcluster import PgBouncer  # noqa: E402
from test_reconcile import add_shows, aws_env, iso_now, show, wait_until  # noqa: E402

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}
LEADER_LOCK_KEY = 4242017   # src/reconcile.c (today's session advisory lock)
MIGRATE_LOCK_KEY = 8731203  # src/migrate.c
LEASE = 3                   # LEADER_LEASE in seconds for the tests (issue 14 option)
TICK = 1                    # RECONCILE_INTERVAL

@pytest.fixture
def bouncer(pg):
    b = PgBouncer(pg, pool_mode="transaction", pool_size=4)
    yield b
    b.close()


def advisory_locks(pg, key=None):
    """Advisory locks held on the server (seen directly, not through the pooler)."""
    where = "locktype = 'advisory' AND granted"
    if key is not None:
        where += f" AND objid = {key}"
    return int(pg.psql(f"SELECT count(*) FROM pg_locks WHERE {where}"))


def test_pgbouncer_is_in_transaction_mode(pg, db, bouncer):
    """The fixture itself: transaction mode, 4 server connections; a
    transaction-scoped advisory lock (what migrate should take) is released at
    commit through it."""
    conf = {row[0]: row[1] for row in bouncer.admin("SHOW CONFIG")}
    assert conf["pool_mode"] == "transaction" and conf["default_pool_size"] == "4"
    # a transaction-scoped advisory lock is released at commit, also through the pooler
    for _ in range(3):
        subprocess.run(["psql", "-X", "-q", bouncer.url(db), "-c",
                        f"BEGIN; SELECT pg_advisory_xact_lock({MIGRATE_LOCK_KEY}); COMMIT;"],
                       check=True, capture_output=True, timeout=10)
    assert advisory_locks(pg) == 0


def test_lease_sql_through_the_pooler(pg, db, bouncer):
    """The lease functions keep no session state: through the pooler, from many
    clients sharing 4 server connections, one holder per generation."""
    def q(sql):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            bouncer.url(db), "-c", sql], capture_output=True, text=True,
                           timeout=10)
        return r.returncode, r.stdout.strip(), r.stderr
    rc, out, err = q("SELECT held, generation FROM ivs_sync.lease_acquire('a', 2000)")
    assert rc == 0 and out.startswith("t|"), err
    gen = int(out.split("|")[1])
    results = []

    def other(i):
        results.append(q(f"SELECT held FROM ivs_sync.lease_acquire('b{i}', 2000)")[1])
    ts = [threading.Thread(target=other, args=(i,)) for i in range(12)]
    [t.start() for t in ts]
    [t.join(20) for t in ts]
    assert results == ["f"] * 12
    assert q(f"SELECT ivs_sync.lease_check({gen})")[0] == 0
    assert q("SELECT ivs_sync.lease_release('a')")[1] == "t"
    rc, _, err = q(f"SELECT ivs_sync.lease_check({gen})")
    assert rc != 0 and "lost" in err
    assert advisory_locks(pg) == 0


def test_migrate_twice_concurrently_through_the_pooler(pg, bouncer):
    """(a) Two `migrate` at once, then two more: none hangs, no lock is left
    behind on a pooled server connection."""
    name = f"pm{os.getpid()}"
    pg.psql(f"CREATE DATABASE {name}")
    try:
        env = clean_env(DATABASE_URL=bouncer.url(name))
        procs = [subprocess.Popen([BIN, "migrate"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=20)
                outs.append((p.returncode, out, err))
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                outs.append(("hung", "", ""))
        leaked = advisory_locks(pg, MIGRATE_LOCK_KEY)
        assert [o[0] for o in outs] == [0, 0], \
            f"{leaked} migration lock(s) left on pooled backends; " + \
            "; ".join(f"rc={rc}: {err.strip()[-300:]}" for rc, _, err in outs)
        for _ in range(2):
            r = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True,
                               timeout=20)
            assert r.returncode == 0 and "up to date" in r.stdout, r.stderr
        assert leaked == 0 and advisory_locks(pg, MIGRATE_LOCK_KEY) == 0, \
            "the migration lock stays on a pooled server connection"
        assert pg.psql("SELECT count(*) FROM ivs_sync.migrations", name) == \
            str(len(list((Path(__file__).resolve().parents[2] / "infra" / "sql").glob("*.sql"))))
    finally:
        pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_serve_and_ingest_through_the_pooler(pg, db, bouncer, signer, daemon_factory):
    """(b) serve through the pooler: ready, and signed SNS notifications and
    EventBridge events (each delivered twice) are all recorded once."""
    chans = [channel_arn(700 + i) for i in range(6)]
    ids = add_shows(pg, db, chans)
    env = base_env(pg, db, signer, DATABASE_URL=bouncer.url(db))
    d = daemon_factory(env, wait_ready=False)
    try:
        d.wait_ready(timeout=8)
    except RuntimeError:
        raise AssertionError("not ready through the pooler: " + _diag([d]))
    evs = [ivs_event("Stream Start", c, f"st-{i}", iso_now()) for i, c in enumerate(chans)]
    outs = []
    retried = []  # 503s redelivered (rare: a pooled connection lost mid-flight)
    lock = threading.Lock()

    def deliver(ev, i):
        for k in range(2):
            # as SNS does: a 503 (database unavailable) is delivered again shortly
            for attempt in range(5):
                if i % 2:
                    env_ = signer.envelope(json.dumps(ev))
                    st, b = d.json("POST", "/sns", json.dumps(env_),
                                   {"Content-Type": "text/plain"})
                else:
                    st, b = d.json("POST", "/eventbridge", ev, EB)
                if st != 503:
                    break
                with lock:
                    retried.append((ev["id"], b))
                time.sleep(0.2)
            with lock:
                outs.append((ev["id"], st, b))
    ts = [threading.Thread(target=deliver, args=(ev, i)) for i, ev in enumerate(evs)
          for _ in range(2)]
    [t.start() for t in ts]
    [t.join(30) for t in ts]
    assert all(st == 200 for _, st, _ in outs), \
        f"{[o for o in outs if o[1] != 200][:2]}\n{_diag([d])}"
    assert len(retried) <= 2, f"{len(retried)} answers of 503: {retried[:2]}\n{_diag([d])}"
    for ev in evs:
        got = sorted(b["outcome"] for i, _, b in outs if i == ev["id"])
        assert got == ["applied", "duplicate", "duplicate", "duplicate"], got
    assert pg.psql("SELECT count(*), count(DISTINCT event_id) FROM ivs_sync.events", db) == "6|6"
    assert all(show(pg, db, s)["stream_status"] == "live" for s in ids)
    assert d.request("GET", "/readyz")[0] == 200
    # doctor sees the pooler (its backend key is not the server's pid)
    r = subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert any(ln.split()[1:2] == ["pooler"] and "connection pooler answers" in ln
               for ln in r.stdout.splitlines()), r.stdout
    assert "through a connection pooler" in d.text()


def _diag(ds, n=8):
    """The last warnings and errors of the daemons, for failure messages."""
    out = []
    for d in ds:
        try:
            lines = [ln for ln in d.lines() if ln.get("level") in ("warn", "error") or "raw" in ln]
        except (OSError, ValueError):
            continue
        out.append(f"[pid {d.proc.pid}] " + " | ".join(
            f"{ln.get('msg', ln.get('raw'))} {ln.get('error', '')}".strip() for ln in lines[-n:]))
    return "\n".join(out)


def _leaders(ds):
    return [d for d in ds if d.proc.poll() is None and
            d.metric("ivs_syncd_reconcile_leader") == 1]


def _replica(pg, db, fake, daemon_factory, bouncer):
    env = aws_env(pg, db, fake, RECONCILE_INTERVAL=str(TICK), LEADER_LEASE=f"{LEASE}s",
                  DATABASE_URL=bouncer.url(db), RECONCILE_STRATEGY="get")
    return daemon_factory(env, wait_ready=False)


@pytest.fixture
def fakes():
    fs = [FakeIVS(latency_ms=50) for _ in range(3)]
    yield fs
    for f in fs:
        f.close()


def _calls(f):
    return sum(f.stats()["calls"].values())


def test_two_replicas_one_leader_through_the_pooler(pg, db, bouncer, fakes, daemon_factory):
    """(c) Two replicas behind the pooler: exactly one reports leader 1 at every
    sample, only its fake IVS is called (never two passes at once), and a pass
    repairs a show; both are ready."""
    chans = [channel_arn(800 + i) for i in range(4)]
    ids = add_shows(pg, db, chans)
    for f in fakes[:2]:
        f.set_stream(chans[0], stream_id="st-0")
    ds = [_replica(pg, db, f, daemon_factory, bouncer) for f in fakes[:2]]
    try:
        wait_until(lambda: _leaders(ds), 2 * LEASE + 2 * TICK, 0.05, "a leader")
    except AssertionError:
        raise AssertionError("no leader: " + _diag(ds))
    samples = []
    for _ in range(30):  # 3 s, three ticks
        samples.append(len(_leaders(ds)))
        time.sleep(0.1)
    assert samples == [1] * 30, f"leaders per sample: {samples}\n{_diag(ds)}"
    leader = _leaders(ds)[0]
    other = ds[1 - ds.index(leader)]
    fo = fakes[ds.index(other)]
    assert _calls(fakes[ds.index(leader)]) >= 1 and _calls(fo) == 0
    wait_until(lambda: show(pg, db, ids[0])["stream_status"] == "live", 3 * TICK, 0.05,
               "a pass by the leader")
    for d in ds:
        d.wait_ready(timeout=3)
    assert advisory_locks(pg, LEADER_LOCK_KEY) == 0


def test_sigkill_leader_other_leads_within_lease(pg, db, bouncer, fakes, daemon_factory):
    """(d) SIGKILL the leader: the other replica leads within LEADER_LEASE + one
    tick (+ 1 s of slack for sampling and jitter) and runs passes."""
    chans = [channel_arn(810 + i) for i in range(2)]
    ids = add_shows(pg, db, chans)
    ds = [_replica(pg, db, f, daemon_factory, bouncer) for f in fakes[:2]]
    try:
        wait_until(lambda: len(_leaders(ds)) == 1, 2 * LEASE + 2 * TICK, 0.05, "a leader")
        time.sleep(TICK)
        assert len(_leaders(ds)) == 1, "two leaders"
    except AssertionError as e:
        raise AssertionError(f"{e}: {len(_leaders(ds))} leaders\n{_diag(ds)}")
    leader = _leaders(ds)[0]
    other = ds[1 - ds.index(leader)]
    fo = fakes[ds.index(other)]
    leader.proc.kill()
    t_kill = time.monotonic()
    assert leader.stop() == -signal.SIGKILL
    wait_until(lambda: other.metric("ivs_syncd_reconcile_leader") == 1, LEASE + TICK + 1, 0.05,
               "the takeover")
    took = time.monotonic() - t_kill
    print(f"\ntakeover after SIGKILL: {took:.2f}s (LEADER_LEASE {LEASE}s, tick {TICK}s)")
    fo.set_stream(chans[1], stream_id="st-x")
    wait_until(lambda: show(pg, db, ids[1])["stream_status"] == "live", 3 * TICK, 0.05,
               "a pass by the new leader")


def test_fresh_replica_leads_after_all_were_killed(pg, db, bouncer, fakes, daemon_factory):
    """(e) SIGKILL every replica; a fresh one becomes leader within LEADER_LEASE +
    one tick, and no leader lock is left on a pooled server connection (today
    the session advisory lock outlives every replica)."""
    chans = [channel_arn(820)]
    ids = add_shows(pg, db, chans)
    ds = [_replica(pg, db, f, daemon_factory, bouncer) for f in fakes[:2]]
    wait_until(lambda: len(_leaders(ds)) >= 1, 2 * LEASE + 2 * TICK, 0.05, "a leader")
    time.sleep(TICK)
    for d in ds:
        d.proc.kill()
    for d in ds:
        assert d.stop() == -signal.SIGKILL
    t_kill = time.monotonic()
    time.sleep(0.3)  # the pooler has seen the clients go
    leaked = advisory_locks(pg, LEADER_LOCK_KEY)
    fresh = _replica(pg, db, fakes[2], daemon_factory, bouncer)
    fakes[2].set_stream(chans[0], stream_id="st-f")
    try:
        wait_until(lambda: fresh.metric("ivs_syncd_reconcile_leader") == 1, LEASE + TICK + 1,
                   0.05, "the fresh replica leading")
    except AssertionError as e:
        raise AssertionError(f"{e}; {leaked} leader advisory lock(s) held by pooled backends "
                             f"after every replica was killed\n{_diag([fresh])}")
    print(f"\nfresh replica leads {time.monotonic() - t_kill:.2f}s after all were killed")
    assert leaked == 0, f"{leaked} leader advisory lock(s) held by pooled backends after " \
        "every replica was killed (the fresh replica led only by landing on that backend)"
    wait_until(lambda: show(pg, db, ids[0])["stream_status"] == "live", 3 * TICK, 0.05,
               "a pass by the fresh replica")


def test_startup_options_do_not_pass_pgbouncer(pg, db, bouncer):
    """Why statement_timeout is not a libpq `options=-c ...` parameter (README,
    Database): PgBouncer 1.18 refuses a client that sends `options` (it is not
    in ignore_startup_parameters by default), so a session SET cannot ride on
    the connection either; through a pooler the daemon makes none."""
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", bouncer.url(db), "-c",
                        "SHOW statement_timeout"], capture_output=True, text=True, timeout=10,
                       env={**os.environ, "PGOPTIONS": "-c statement_timeout=1234"})
    assert r.returncode != 0 and "unsupported startup parameter" in r.stderr, (r.stdout, r.stderr)
