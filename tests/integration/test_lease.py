"""The reconcile lease (issue 14, infra/sql/005_lease.sql, src/leader.c) on a
direct connection: fencing of a stale generation, release at SIGTERM (takeover
at the next renewal, not after the expiry), a leader paused past its lease
stops at once, doctor shows the holder and the connection kind."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import (BIN, add_show, aws_env, base_env, channel_arn, fake_calls,  # noqa: E402
                      show, wait_until)
from fakeivs import FakeIVS  # noqa: E402


def _leader(d):
    return d.proc.poll() is None and d.metric("ivs_syncd_reconcile_leader") == 1


def _q(pg, db, sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", pg.url(db), "-c",
                        sql], capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout.strip(), r.stderr


def test_stale_generation_cannot_write(pg, db):
    """apply_observations(obs, grace, generation) is refused (IVSL1) once the
    lease changed hands, and writes nothing; the current generation writes."""
    ch = channel_arn(900)
    sid = add_show(pg, db, ch)
    obs = json.dumps([{"channel": ch, "live": True, "t": "2026-01-01T10:00:00Z",
                       "stream_id": "st-fence", "viewers": 1}])
    rc, out, err = _q(pg, db, "SELECT generation FROM ivs_sync.lease_acquire('old', 300)")
    assert rc == 0, err
    old = int(out)
    time.sleep(0.4)  # expired: the next holder gets generation + 1
    rc, out, err = _q(pg, db, "SELECT generation FROM ivs_sync.lease_acquire('new', 60000)")
    new = int(out)
    assert new == old + 1
    rc, out, err = _q(pg, db, f"SELECT count(*) FROM ivs_sync.apply_observations('{obs}', 0, {old})")
    assert rc != 0 and "lost" in err, (out, err)
    assert show(pg, db, sid)["stream_status"] != "live"
    rc, out, err = _q(pg, db, f"SELECT count(*) FROM ivs_sync.apply_observations('{obs}', 0, {new})")
    assert rc == 0, err
    assert show(pg, db, sid)["stream_status"] == "live"
    assert _q(pg, db, "SELECT ivs_sync.lease_release('new')")[1] == "t"


def test_sigterm_releases_the_lease_other_takes_over_at_once(pg, db, daemon_factory):
    """SIGTERM: the leader releases the lease at exit; the other replica leads
    at its next renewal (LEADER_LEASE/3 = 2 s), well before the 6 s expiry."""
    fa, fb = FakeIVS(), FakeIVS()
    try:
        ds = [daemon_factory(aws_env(pg, db, f, RECONCILE_INTERVAL="1", LEADER_LEASE="6"))
              for f in (fa, fb)]
        wait_until(lambda: sum(map(_leader, ds)) == 1, 8, 0.05, "a leader")
        leader = next(d for d in ds if _leader(d))
        other = ds[1 - ds.index(leader)]
        gen = leader.metric("ivs_syncd_reconcile_leader_generation")
        assert gen >= 1
        assert leader.metric("ivs_syncd_reconcile_lease_expiry_timestamp_seconds") > time.time()
        assert other.metric("ivs_syncd_reconcile_leader_generation") == 0
        t0 = time.monotonic()
        leader.proc.send_signal(signal.SIGTERM)
        leader.proc.wait(25)
        assert "released the lease" in leader.text()
        assert leader.stop() == 0
        wait_until(lambda: _leader(other), 4, 0.05, "the takeover")
        took = time.monotonic() - t0
        print(f"\ntakeover after SIGTERM: {took:.2f}s (LEADER_LEASE 6s)")
        assert took < 3.5, took
        assert other.metric("ivs_syncd_reconcile_leader_generation") == gen + 1
    finally:
        fa.close()
        fb.close()


def test_leader_paused_past_its_lease_stops_at_once(pg, db, daemon_factory):
    """SIGSTOP the leader past its lease (a frozen VM): the other replica takes
    over; on SIGCONT the old one reports leader 0 at once and runs no pass."""
    fa, fb = FakeIVS(), FakeIVS()
    try:
        ch = channel_arn(901)
        add_show(pg, db, ch)
        ds = [daemon_factory(aws_env(pg, db, f, RECONCILE_INTERVAL="1", LEADER_LEASE="2",
                                     RECONCILE_STRATEGY="get")) for f in (fa, fb)]
        wait_until(lambda: sum(map(_leader, ds)) == 1, 8, 0.05, "a leader")
        i = next(k for k, d in enumerate(ds) if _leader(d))
        leader, other, fl = ds[i], ds[1 - i], (fa, fb)[i]
        leader.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: _leader(other), 5, 0.05, "the takeover")
            calls = fake_calls(fl)
        finally:
            leader.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: leader.metric("ivs_syncd_reconcile_leader") == 0, 1, 0.02,
                   "the paused leader to step down")
        time.sleep(2.5)  # two pass intervals
        assert fake_calls(fl) == calls, "the paused leader ran a pass after it lost the lease"
        assert _leader(other) and not _leader(leader)
    finally:
        fa.close()
        fb.close()


def test_doctor_shows_leader_and_connection_kind(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_INTERVAL="1", LEADER_LEASE="3"))
    wait_until(lambda: _leader(d), 5, 0.05, "the leader")
    env = base_env(pg, db)
    r = subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    lines = {ln.split()[1]: ln for ln in r.stdout.splitlines() if len(ln.split()) > 1}
    assert "direct connection" in lines["pooler"], r.stdout
    assert "holder " in lines["leader"] and "generation" in lines["leader"], r.stdout
