"""Polling storms against the sync API (SPEC 1.3, issue 10): single flight,
SYNC_FRESHNESS, all-shows requests joining a pass, the shared rate limit and
SYNC_MAX_WAIT, bounded memory."""
import http.client
import json
import threading
import time

from conftest import (ASAN, AUTH, EB, SYNC, add_show, add_shows, aws_env, by_id,
                      channel_arn, check_body_shape, fake_calls, in_background, iso_now,
                      ivs_event, sync, wait_until)


def storm(d, bodies, timeout=30):
    """POST every body at once (one connection each, released together).
    Returns [(status, headers, json, seconds)] in order."""
    out = [None] * len(bodies)
    conns = [http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout) for _ in bodies]
    for c in conns:
        c.connect()
    go = threading.Barrier(len(bodies))

    def one(i):
        c = conns[i]
        data = json.dumps(bodies[i])
        go.wait()
        t0 = time.monotonic()
        try:
            c.request("POST", SYNC, data, AUTH)
            r = c.getresponse()
            raw = r.read()
            out[i] = (r.status, dict((k.lower(), v) for k, v in r.getheaders()),
                      json.loads(raw), time.monotonic() - t0)
        except OSError as e:
            out[i] = (0, {}, {"error": repr(e)}, time.monotonic() - t0)
        finally:
            c.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    [t.start() for t in ts]
    [t.join(timeout + 5) for t in ts]
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_single_flight_200_requests_5_shows(pg, db, fake, daemon_factory):
    fake.configure(latency_ms=500)
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="0", IVS_MAX_RPS="10"))
    chans = [channel_arn(1 + i) for i in range(5)]
    ids = add_shows(pg, db, chans)
    for i in (0, 2, 4):
        fake.set_stream(chans[i], stream_id=f"st-{i}", viewer_count=10 + i)
    out = storm(d, [{"showId": ids[i % 5]} for i in range(200)])
    for i, (st, h, b, _) in enumerate(out):
        assert st == 200, (i, st, b)
        check_body_shape(b, single=True)
        k = i % 5
        r = b["results"]
        assert r["showId"] == ids[k]
        assert r["newStatus"] == ("live" if k % 2 == 0 else "offline"), r
        if k % 2 == 0:
            assert r["viewerCount"] == 10 + k
    n = fake_calls(fake, "GetStream")
    assert 1 <= n <= 5, fake.stats()["requests"]
    assert d.metric("ivs_syncd_ivs_singleflight_joins_total") >= 200 - n
    # everyone sharing a call sees the same transition (one apply, shared)
    for k in (0, 2, 4):
        got = {(o[2]["results"]["previousStatus"], o[2]["results"]["changed"])
               for i, o in enumerate(out) if i % 5 == k}
        assert got == {("offline", True)}, got
    got = dict(pg.rows("SELECT id, stream_status FROM shows", db))
    assert [got[i] for i in ids] == ["live", "offline", "live", "offline", "live"]


def test_freshness(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="1.5"))
    ch = channel_arn(10)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-f", viewer_count=3)
    t0 = time.monotonic()
    st, b = sync(d, {"showId": sid})
    assert (st, b["results"]["newStatus"], b["results"]["changed"]) == (200, "live", True)
    assert fake_calls(fake) == 1
    fake.set_stream(ch, viewer_count=99)  # IVS moves on; the fresh answers do not see it yet
    for _ in range(10):
        st, b = sync(d, {"showId": sid})
        assert st == 200 and b["results"] == {"showId": sid, "previousStatus": "live",
                                              "newStatus": "live", "changed": False,
                                              "viewerCount": 3}
    assert time.monotonic() - t0 < 1.4, "too slow to test freshness"
    assert fake_calls(fake) == 1
    assert d.metric("ivs_syncd_sync_fresh_total") == 10
    assert d.metric("ivs_syncd_sync_requests_total", 'kind="single",result="fresh"') == 10
    time.sleep(max(0.0, 1.6 - (time.monotonic() - t0)))
    st, b = sync(d, {"showId": sid})
    assert b["results"]["viewerCount"] == 99
    assert fake_calls(fake) == 2
    # a confirmation that changed nothing counts too (no row write, remembered in memory)
    st, b = sync(d, {"showId": sid})
    assert fake_calls(fake) == 2 and d.metric("ivs_syncd_sync_fresh_total") == 11


def test_state_set_by_an_event_is_fresh(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake))  # SYNC_FRESHNESS default 2 s
    ch = channel_arn(11)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-e")
    assert d.json("POST", "/eventbridge", ivs_event("Stream Start", ch, "st-e", iso_now()),
                  EB)[1] == {"outcome": "applied"}
    st, b = sync(d, {"showId": sid})
    assert st == 200
    assert b["results"] == {"showId": sid, "previousStatus": "live", "newStatus": "live",
                            "changed": False, "viewerCount": 0}
    assert fake_calls(fake) == 0
    assert d.metric("ivs_syncd_sync_fresh_total") == 1


def test_freshness_zero_always_asks(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="0"))
    sid = add_show(pg, db, channel_arn(12))
    for n in range(1, 4):
        assert sync(d, {"showId": sid})[0] == 200
        assert fake_calls(fake) == n
    # no fresh answer: the counter is created on first use, so absent is the expected 0
    assert d.metric("ivs_syncd_sync_fresh_total", absent_ok=True) == 0


def test_many_pollers_one_show_cost_one_call_per_freshness(pg, db, fake, daemon_factory):
    fake.configure(latency_ms=200)
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="1"))
    ch = channel_arn(13)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-p")
    stop = time.monotonic() + 3.0
    errors = []
    n = [0]

    def poller():
        while time.monotonic() < stop:
            st, b = sync(d, {"showId": sid})
            if st != 200 or b["results"]["newStatus"] != "live":
                errors.append((st, b))
            n[0] += 1
    ts = [threading.Thread(target=poller) for _ in range(20)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors[:3]
    calls = fake_calls(fake)
    # one call per SYNC_FRESHNESS (plus the call's own latency), whatever the pollers do
    assert n[0] > 100 and calls <= 4, (n[0], calls)


def test_all_shows_requests_join_the_running_pass(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    chans = [channel_arn(20 + i) for i in range(4)]
    ids = add_shows(pg, db, chans)
    fake.set_stream(chans[1], stream_id="st-1")
    fake.configure(latency_ms=1000)
    first = in_background(sync, d)
    wait_until(lambda: fake.stats()["in_flight"] > 0, what="the pass's ListStreams")
    others = [in_background(sync, d, body) for body in (None, {}, {"showId": None})]
    wait_until(lambda: d.metric("ivs_syncd_sync_joined_pass_total", absent_ok=True) == 3,
               2, 0.02,
               "the joins")
    bodies = [first()[1]] + [j()[1] for j in others]
    assert fake_calls(fake, "ListStreams") == 1  # no second pass
    assert fake_calls(fake, "GetStream") == 0
    for b in bodies:
        check_body_shape(b, single=False)
        assert set(by_id(b["results"])) == set(ids)
        assert by_id(b["results"])[ids[1]]["newStatus"] == "live"
    assert all(b == bodies[0] for b in bodies)
    assert d.metric("ivs_syncd_reconcile_passes_total", 'trigger="request",result="ok"') == 1
    # after the pass, a new request starts a new one
    fake.configure(latency_ms=0)
    assert sync(d)[0] == 200 and fake_calls(fake, "ListStreams") == 2


def test_request_joins_a_timer_pass(pg, db, fake, daemon_factory):
    chans = [channel_arn(30 + i) for i in range(3)]
    ids = add_shows(pg, db, chans)
    fake.set_stream(chans[0], stream_id="st-0")
    fake.configure(latency_ms=1200)
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_INTERVAL="1", RECONCILE_STRATEGY="list"))
    wait_until(lambda: fake.stats()["in_flight"] > 0, 5, 0.01, "the timer pass")
    calls = fake_calls(fake, "ListStreams")
    st, b = sync(d)
    assert st == 200 and set(by_id(b["results"])) == set(ids)
    assert by_id(b["results"])[ids[0]]["newStatus"] == "live"
    assert d.metric("ivs_syncd_sync_joined_pass_total") == 1
    assert fake_calls(fake, "ListStreams") == calls


def test_rate_limit_flood_503_bounded_wait_and_memory(pg, db, fake, daemon_factory):
    fake.configure(rps_limit=2, latency_ms=30)
    d = daemon_factory(aws_env(pg, db, fake, IVS_MAX_RPS="1", SYNC_MAX_WAIT="1",
                               SYNC_FRESHNESS="0", DB_POOL_SIZE="4"))
    n = 120
    ids = add_shows(pg, db, [channel_arn(1000 + i) for i in range(n)])
    rss = []
    ok = refused = 0
    for rnd in range(4):
        out = storm(d, [{"showId": sid} for sid in ids])
        for st, h, b, dt in out:
            assert st in (200, 503), (st, b)
            # nobody waits much longer than SYNC_MAX_WAIT (plus the call and a margin)
            assert dt < 1 + 1.5, dt
            if st == 503:
                refused += 1
                assert set(b) == {"error"} and "rate limit" in b["error"]
                assert int(h["retry-after"]) >= 1
            else:
                ok += 1
                assert b["results"]["newStatus"] == "offline"
        rss.append(rss_kb(d.proc.pid))
    s = fake.stats()
    assert s["max_calls_in_any_second"] <= 1, s["per_second"]
    assert s["throttled"] == 0
    assert ok >= 4 and refused >= 4 * n - 20, (ok, refused)
    assert d.metric("ivs_syncd_sync_refused_total") == refused
    assert d.metric("ivs_syncd_sync_requests_total", 'kind="single",result="busy"') == refused
    # memory: bounded growth between floods (the first round warms up allocator and pools;
    # under ASan freed memory sits in quarantine, so RSS says nothing there: LSan checks)
    print("VmRSS kB after each flood:", rss)
    if not ASAN:
        assert rss[-1] - rss[1] < 4096, rss
    # and it still answers normally once the flood is over
    time.sleep(1.1)
    assert sync(d, {"showId": ids[0]})[0] == 200


def test_max_wait_bounds_retries_too(pg, db, fake, daemon_factory):
    """SYNC_MAX_WAIT bounds the whole call: a throttling IVS is not retried past it."""
    ch = channel_arn(990)
    sid = add_show(pg, db, ch)
    fake.configure(script=[{"op": "GetStream", "status": 429, "delay_ms": 300}] * 20)
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="0", SYNC_MAX_WAIT="1",
                               AWS_MAX_ATTEMPTS="10"))
    t0 = time.monotonic()
    st, h, body = d.request("POST", SYNC, json.dumps({"showId": sid}), AUTH)
    dt = time.monotonic() - t0
    assert st == 503 and int(h["retry-after"]) >= 1, body
    assert dt < 2.5, dt
