"""Long fault runs: more events, repeated kill/restart cycles, more replicas killed."""
import http.client
import json
import os
import socket
import time

from conftest import alive, base_env, channel_arn, cpu_seconds, healthz_time, ivs_event
from fault_scenarios import run_leader_kill, run_pg_kill, run_sigterm_under_load


def test_pg_kill_restart_cycles(signer):
    s = run_pg_kill(signer, n_channels=10, per_channel=120, cycles=5, down_s=1.0,
                      threads=10)
    assert s["lost"] == 0 and s["applied_twice"] == 0 and s["refused_first"] > 0


def test_pg_down_longer_than_connect_timeout(signer):
    s = run_pg_kill(signer, n_channels=6, per_channel=80, cycles=2, down_s=6.0, threads=6)
    assert s["lost"] == 0 and s["applied_twice"] == 0


def test_sigterm_under_heavier_load_repeated(pg, db, signer, daemon_factory, pg_db_factory):
    total = 0
    for i in range(3):
        name = pg_db_factory()
        total += run_sigterm_under_load(pg, name, signer, daemon_factory, threads=12,
                                          per_thread=100, delay_ms=100)
    print(f"\nSIGTERM x3: {total} events answered 2xx, none lost")


def test_leader_killed_three_times(pg, db, signer, daemon_factory):
    run_leader_kill(pg, db, signer, daemon_factory, kills=3)


def test_bad_signature_flood_20000(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    good = signer.envelope(json.dumps(ivs_event("Stream Start", channel_arn(990), "st")))
    bad = json.dumps(dict(good, Signature="A" * 344))
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    cpu0 = cpu_seconds(d.proc.pid)
    n = 20000
    for _ in range(n):
        c.request("POST", "/sns", body=bad)
        r = c.getresponse()
        r.read()
        assert r.status == 403
    cpu = cpu_seconds(d.proc.pid) - cpu0
    print(f"\n{n} forgeries: {cpu / n * 1000:.3f} ms CPU each")
    assert cpu / n < 0.5e-3
    alive(d)


def test_2000_idle_connections(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, READ_TIMEOUT="3", WRITE_TIMEOUT="3"))
    socks = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(2000)]
    try:
        worst = max(healthz_time(d) for _ in range(20))
        assert worst < 0.5, worst
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            if len(os.listdir(f"/proc/{d.proc.pid}/fd")) < 100:
                break
            time.sleep(0.2)
        assert len(os.listdir(f"/proc/{d.proc.pid}/fd")) < 100, "idle connections kept"
    finally:
        for s in socks:
            s.close()
    alive(d)
