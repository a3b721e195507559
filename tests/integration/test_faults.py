"""Faults (issue 7): PostgreSQL killed or slow, IVS failing, the SNS certificate host
unreachable, SIGTERM under load, the leader replica killed.  The invariant everywhere:
an event answered 2xx is stored; an event answered non-2xx (503 + Retry-After) is
accepted when redelivered; nothing is applied twice; no wrong state is written.

The scenarios that tests/faults/ runs bigger live in fault_scenarios.py."""
import json
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BIN, EB, SLOW, add_show, base_env, channel_arn, ivs_event
from fakeivs import FakeIVS
from fault_scenarios import (AWS, Deliverer, iso, run_leader_kill, run_pg_kill,
                             run_sigterm_under_load, shows, wait_for)


def test_pg_killed_and_restarted_during_events(signer):
    stats = run_pg_kill(signer, n_channels=6, per_channel=30, cycles=1)
    assert stats["refused_first"] > 0, "the fault did not hit any event"


class Locker:
    """A psql session holding a lock until release()."""

    def __init__(self, pg, db, sql):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", pg.url(db)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN;\n\\o /dev/null\n" + sql + ";\n\\echo locked\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "locked"

    def release(self):
        self.p.stdin.write("ROLLBACK;\n")
        self.p.stdin.close()
        self.p.wait(10)


def test_pg_slow_bounded_queue_503_then_recovery(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, DB_POOL_SIZE="2", DB_QUEUE_MAX="2",
                                DB_STATEMENT_TIMEOUT="30000"))
    ch = channel_arn(800)
    sid = add_show(pg, db, ch)
    lk = Locker(pg, db, "LOCK TABLE ivs_sync.events IN ACCESS EXCLUSIVE MODE")
    released = False
    try:
        dl = Deliverer(d)
        n = 20
        evs = [ivs_event("Stream Start", ch, f"st-{i}", iso(1767261600 + i)) for i in range(n)]
        ts = [threading.Thread(target=dl.post, args=(ev,)) for ev in evs]
        t0 = time.monotonic()
        for t in ts:
            t.start()
            time.sleep(0.02)
        # the pool (2) and the queue (2) fill up; the rest is refused at once (however the
        # events are grouped into statements, no more than a few wait)
        try:
            wait_for(lambda: sum(1 for e in dl.first.values() if e == 503) >= n - 8, 5,
                     f"{n - 8} immediate 503s")
        except AssertionError:
            raise AssertionError(f"answers {dl.answers}\n" + d.text()[-3000:])
        assert time.monotonic() - t0 < 3 * SLOW
        for e, st, o, ra in dl.non2xx():
            assert st == 503 and ra and int(ra) >= 1, (st, ra)
        # liveness is not the database's business
        for _ in range(5):
            t = time.monotonic()
            assert d.request("GET", "/healthz", timeout=2)[0] == 200
            assert time.monotonic() - t < 0.2 * SLOW
        assert d.metric("ivs_syncd_events_total", 'outcome="unavailable",via="eventbridge"') \
            >= n - 8
        assert d.metric("ivs_syncd_db_pool_in_use", 'pool="main"') >= 1
        lk.release()
        released = True
        [t.join() for t in ts]
    finally:
        if not released:
            lk.release()
    # the ones that waited went through (or timed out in the queue: 503); nothing hangs
    assert all(st in (200, 503) for st in dl.first.values())
    n_ok_first = sum(1 for st in dl.first.values() if st == 200)
    assert n_ok_first >= 2
    # recovery: redelivery of the refused ones is accepted
    for ev in evs:
        if dl.first[ev["id"]] != 200:
            assert dl.post(ev) == 200
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == str(n)
    assert not dl.applied_twice()
    s = shows(pg, db)[sid]
    assert s["ivs_stream_id"] == f"st-{n - 1}" and s["stream_status"] == "live"


def test_pg_statement_timeout_is_503_not_200(pg, db, signer, daemon_factory):
    """A write that cannot finish in DB_STATEMENT_TIMEOUT fails: 503, nothing half-stored."""
    d = daemon_factory(base_env(pg, db, signer, DB_STATEMENT_TIMEOUT="500"))
    ch = channel_arn(801)
    sid = add_show(pg, db, ch)
    lk = Locker(pg, db, f"SELECT 1 FROM shows WHERE id = '{sid}' FOR UPDATE")
    try:
        ev = ivs_event("Stream Start", ch, "st-A")
        st, h, _ = d.request("POST", "/eventbridge", json.dumps(ev), EB)
        assert st == 503 and h.get("retry-after")
    finally:
        lk.release()
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"
    st, b = d.json("POST", "/eventbridge", ev, EB)
    assert (st, b) == (200, {"outcome": "applied"})
    assert shows(pg, db)[sid]["stream_status"] == "live"


IVS_FAULTS = [
    {"op": "*", "status": 500},
    {"op": "*", "status": 503},
    {"op": "*", "status": 429},
    {"op": "*", "delay_ms": 2500},                       # past IVS_TIMEOUT=1
    {"op": "*", "raw": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{{{{{"},
    {"op": "*", "raw": "garbage that is not HTTP\r\n\r\n"},
    {"op": "*", "close": True},
    {"op": "*", "status": 200, "body": "not json at all"},
    {"op": "*", "status": 200, "body": {"stream": "not an object"}},
    {"op": "*", "status": 200, "body": {"streams": 5}},
    {"op": "*", "status": 200, "body": ["wrong", "shape"]},
    {"op": "*", "status": 200, "body": {"stream": {"channelArn": 7, "state": None}}},
]


def live_shows(pg, db, n, first):
    out = {}
    for k in range(n):
        ch = channel_arn(first + k)
        out[ch] = add_show(pg, db, ch, status="live", stream_status="live", is_streaming="true",
                           ivs_stream_id=f"st-live-{k}",
                           went_live_at="2026-01-01 10:00:00+00",
                           stream_state_at="2026-01-01 10:00:00+00", viewer_count="7")
    return out


def state_but_sync_time(pg, db):
    return {k: {c: v for c, v in s.items() if c != "stream_synced_at"}
            for k, s in shows(pg, db).items()}


@pytest.mark.parametrize("strategy", ["get", "list"])
def test_ivs_faults_during_reconcile_write_nothing(pg, db, signer, daemon_factory, strategy):
    """IVS calls fail in every way while the truth is "still live": errors are counted
    and no show changes (a failure read as "offline", or an incomplete ListStreams sweep
    read as complete, would end every show)."""
    fake = FakeIVS()
    try:
        n = 3
        ids = live_shows(pg, db, n, 810 if strategy == "get" else 820)
        for k, ch in enumerate(ids):
            fake.set_stream(ch, stream_id=f"st-live-{k}", start_time="2026-01-01T10:00:00Z",
                            viewer_count=7)
        before = state_but_sync_time(pg, db)
        faults = IVS_FAULTS if strategy == "get" else [IVS_FAULTS[i] for i in (0, 2, 3, 4, 7, 9)]
        script = [dict(e, op="*") for e in faults]
        fake.configure(script=script)
        d = daemon_factory(base_env(pg, db, signer, RECONCILE_INTERVAL="1",
                                    RECONCILE_STRATEGY=strategy, AWS_MAX_ATTEMPTS="1",
                                    IVS_TIMEOUT="1", AWS_ENDPOINT_URL_IVS=fake.url, **AWS))

        def unchanged_until_done():
            assert state_but_sync_time(pg, db) == before, "a failed IVS answer changed a show"
            return fake.stats()["script_pending"] == 0
        wait_for(unchanged_until_done, 60, "the scripted faults", step=0.1)
        # the series appear when the first pass ends, which may not have happened yet
        passes = d.metric("ivs_syncd_reconcile_passes_total", "*", absent_ok=True)
        wait_for(lambda: d.metric("ivs_syncd_reconcile_passes_total", "*", absent_ok=True)
                 > passes + 1, 10,
                 "two more passes", step=0.2)
        assert state_but_sync_time(pg, db) == before
        errors = d.metric("ivs_syncd_reconcile_shows_errors_total", "*")
        calls = fake.stats()["calls"]
        print(f"\nivs faults ({strategy}): {len(script)} injected, calls {calls}, "
              f"reconcile show errors {errors}, passes {passes}")
        assert errors >= len(script) // 2
        assert d.metric("ivs_syncd_ivs_calls_total", "*") >= len(script)
        assert d.proc.poll() is None
        # the streams really end: the next pass applies it
        for ch in ids:
            fake.end_stream(ch)
        wait_for(lambda: all(s["stream_status"] == "offline" for s in shows(pg, db).values()),
                 10, "the shows to go offline once IVS says so")
    finally:
        fake.close()


def test_ivs_faults_reconcile_once(pg, db):
    fake = FakeIVS()
    try:
        live_shows(pg, db, 2, 830)
        before = shows(pg, db)
        env = base_env(pg, db, None, RECONCILE_STRATEGY="get", AWS_MAX_ATTEMPTS="1",
                       IVS_TIMEOUT="1", AWS_ENDPOINT_URL_IVS=fake.url, **AWS)
        for fault in IVS_FAULTS[:8]:
            fake.configure(script=[fault, fault])
            r = subprocess.run([BIN, "reconcile", "--once"], env=env, capture_output=True,
                               text=True, timeout=30 * SLOW)
            assert r.returncode != 0, (fault, r.stdout)
            out = json.loads(r.stdout)
            assert out["summary"]["errors"] == 2 and out["summary"]["changed"] == 0, (fault, out)
            assert shows(pg, db) == before, fault
    finally:
        fake.close()


def test_cert_host_unreachable_is_503_then_redelivery_applies(pg, db, signer, daemon_factory,
                                                              tmp_path):
    certdir = tmp_path / "certs"
    certdir.mkdir()
    closed = __import__("conftest").free_port()
    d = daemon_factory(base_env(pg, db, None, SNS_CERT_DIR=str(certdir),
                                SNS_FETCH_BASE_URL=f"http://127.0.0.1:{closed}", IVS_SYNCD_TESTING="1"))
    ch = channel_arn(840)
    sid = add_show(pg, db, ch)
    name = "SimpleNotificationService-c0ffeec0ffee.pem"
    url = "https://sns.us-east-1.amazonaws.com/" + name
    evs = [ivs_event("Stream Start", ch, f"st-{i}", iso(1767261600 + i)) for i in range(6)]
    bodies = [json.dumps(signer.envelope(json.dumps(ev), cert_url=url)) for ev in evs]
    dl = Deliverer(d)
    ts = [threading.Thread(target=dl.post, args=(ev, b)) for ev, b in zip(evs, bodies)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for ev, b in zip(evs, bodies):      # sequential ones too
        dl.post(ev, b)
    assert dl.non2xx() and all(st == 503 and ra for _, st, _, ra in dl.non2xx()), dl.non2xx()
    assert len(dl.non2xx()) == 12
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"
    # the operator provisions the certificate: SNS's next retry goes through
    shutil.copy(signer.cert, certdir / name)
    for ev, b in zip(evs, bodies):
        assert dl.post(ev, b) == 200
    assert shows(pg, db)[sid]["ivs_stream_id"] == "st-5"


def test_sigterm_during_load(pg, db, signer, daemon_factory):
    run_sigterm_under_load(pg, db, signer, daemon_factory)


def test_leader_killed_mid_pass_other_takes_over(pg, db, signer, daemon_factory):
    run_leader_kill(pg, db, signer, daemon_factory, kills=1)
