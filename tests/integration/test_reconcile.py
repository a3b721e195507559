"""Reconciliation with the real daemon, PostgreSQL and FakeIVS (SPEC 2, 3, 7)."""
import json
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BIN, EB, add_show, add_shows, aws_env, base_env, by_id, channel_arn,
                      check_body_shape, fake_calls, in_background, iso_now, ivs_event,
                      row_versions, show, sync, ts_of, wait_until)
from fakeivs import FakeIVS


def run_once(env, timeout=60):
    return subprocess.run([BIN, "reconcile", "--once"], env=env, capture_output=True, text=True,
                          timeout=timeout)


# ---- drift ----

@pytest.mark.parametrize("strategy", ["list", "get"])
def test_drift_repaired(pg, db, fake, daemon_factory, strategy):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy))
    a, b, c, e = channel_arn(1), channel_arn(2), channel_arn(3), channel_arn(4)
    # live at IVS, offline in the table
    s_live = add_show(pg, db, a)
    fake.set_stream(a, stream_id="st-A", start_time="2026-01-01T09:58:07.250Z", viewer_count=17)
    # offline at IVS, live in the table (a lost Stream End)
    s_gone = add_show(pg, db, b, status="live", stream_status="live", is_streaming="true",
                      ivs_stream_id="st-B", went_live_at="2026-01-01T08:00:00Z",
                      actual_start="2026-01-01T08:00:00Z", viewer_count=5,
                      stream_state_at="2026-01-01T08:00:00Z")
    # agreeing already
    s_same = add_show(pg, db, c)
    s_ended = add_show(pg, db, e, status="ended")  # not active: not reported
    fake.set_stream(e, stream_id="st-E")
    t0 = time.time()
    st, body = sync(d)
    assert st == 200, body
    check_body_shape(body, single=False)
    res = by_id(body["results"])
    assert set(res) == {s_live, s_gone, s_same}
    assert res[s_live] == {"showId": s_live, "previousStatus": "offline", "newStatus": "live",
                           "changed": True, "viewerCount": 17}
    assert res[s_gone]["previousStatus"] == "live" and res[s_gone]["newStatus"] == "offline"
    assert res[s_gone]["changed"] is True
    assert res[s_same]["newStatus"] == "offline" and res[s_same]["changed"] is False
    assert body["summary"] == {"total": 3, "changed": 2, "errors": 0, "live": 1, "offline": 2}

    s = show(pg, db, s_live)
    assert (s["status"], s["stream_status"], s["is_streaming"], s["ivs_stream_id"]) == \
        ("live", "live", "true", "st-A")
    assert ts_of(pg, db, s["went_live_at"]) == pytest.approx(
        ts_of(pg, db, "2026-01-01T09:58:07.250Z"), abs=0.002)
    assert s["actual_start"] == s["went_live_at"]
    assert s["viewer_count"] == "17"
    s = show(pg, db, s_gone)
    assert (s["status"], s["stream_status"], s["is_streaming"]) == ("ended", "offline", "false")
    # ended at the moment IVS was asked (the observation's source time)
    assert abs(ts_of(pg, db, s["ended_at"]) - t0) < 5
    assert s["actual_end"] == s["ended_at"]
    assert s["actual_start"].startswith("2026-01-01 08:00:00")
    assert show(pg, db, s_ended)["stream_status"] == "offline"  # never touched
    assert fake.stats()["bad_signatures"] == 0


def test_viewer_counts_follow_the_fake(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    ch = channel_arn(10)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-V", viewer_count=3)
    assert sync(d)[1]["results"][0]["viewerCount"] == 3
    for n in (40, 41, 7):
        fake.set_stream(ch, viewer_count=n)
        st, b = sync(d)
        r = b["results"][0]
        assert (r["newStatus"], r["changed"], r["viewerCount"]) == ("live", False, n)
        assert show(pg, db, sid)["viewer_count"] == str(n)
    # -1 (count unavailable) changes nothing
    fake.set_stream(ch, viewer_count=-1)
    sync(d)
    assert show(pg, db, sid)["viewer_count"] == "7"
    # going offline keeps the last count
    fake.end_stream(ch)
    assert sync(d)[1]["results"][0]["newStatus"] == "offline"
    assert show(pg, db, sid)["viewer_count"] == "7"


@pytest.mark.parametrize("strategy", ["list", "get"])
def test_event_during_pass_is_not_undone(pg, db, fake, daemon_factory, strategy):
    """The pass's request is sent at t0; an event at t0 + x lands while it is in flight;
    the pass's observation (source time t0) is older and changes nothing."""
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy))
    on, off = channel_arn(20), channel_arn(21)
    # `on`: IVS says offline, the table agrees; a Stream Start arrives mid-pass
    s_on = add_show(pg, db, on)
    # `off`: IVS says live with st-O, the table agrees; a Stream End arrives mid-pass
    fake.set_stream(off, stream_id="st-O", start_time="2026-01-01T09:00:00Z")
    s_off = add_show(pg, db, off)
    assert sync(d)[0] == 200
    assert show(pg, db, s_off)["stream_status"] == "live"
    fake.configure(latency_ms=800)
    join = in_background(sync, d)
    wait_until(lambda: fake.stats()["in_flight"] > 0, what="the pass's IVS call")
    time.sleep(0.05)
    t = iso_now()
    assert d.json("POST", "/eventbridge", ivs_event("Stream Start", on, "st-N", t), EB)[1] == \
        {"outcome": "applied"}
    assert d.json("POST", "/eventbridge", ivs_event("Stream End", off, "st-O", t), EB)[1] == \
        {"outcome": "applied"}
    st, body = join()
    assert st == 200
    s = show(pg, db, s_on)
    assert (s["stream_status"], s["status"], s["ivs_stream_id"]) == ("live", "live", "st-N")
    s = show(pg, db, s_off)
    assert (s["stream_status"], s["status"]) == ("offline", "ended")
    res = by_id(body["results"])
    assert res[s_on]["changed"] is False and res[s_off]["changed"] is False


def test_list_with_several_pages(pg, db, fake, daemon_factory):
    fake.configure(page_size=3)
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    chans = [channel_arn(100 + i) for i in range(12)]
    ids = add_shows(pg, db, chans)
    live = set(range(0, 12, 2)) | {11}
    for i in live:
        fake.set_stream(chans[i], stream_id=f"st-{i}", viewer_count=i)
    # live streams of channels without shows fill the pages too
    for i in range(5):
        fake.set_stream(channel_arn(900 + i))
    st, body = sync(d)
    assert st == 200
    assert fake_calls(fake, "ListStreams") == 4  # 12 live streams, 3 per page
    assert fake_calls(fake, "GetStream") == 0
    res = by_id(body["results"])
    for i, sid in enumerate(ids):
        want = "live" if i in live else "offline"
        assert res[sid]["newStatus"] == want, (i, res[sid])
        assert show(pg, db, sid)["stream_status"] == want
    assert body["summary"]["live"] == len(live)


def test_auto_falls_back_to_get_when_list_denied(pg, db, fake, daemon_factory):
    fake.configure(deny_list_streams=True)
    d = daemon_factory(aws_env(pg, db, fake))  # RECONCILE_STRATEGY defaults to auto
    a, b = channel_arn(30), channel_arn(31)
    sa, sb = add_show(pg, db, a), add_show(pg, db, b)
    fake.set_stream(a, stream_id="st-a", viewer_count=2)
    st, body = sync(d)
    assert st == 200 and body["summary"]["errors"] == 0, body
    assert by_id(body["results"])[sa]["newStatus"] == "live"
    assert by_id(body["results"])[sb]["newStatus"] == "offline"
    assert fake_calls(fake, "ListStreams") == 1 and fake_calls(fake, "GetStream") == 2
    # the next pass goes straight to GetStream
    fake.end_stream(a)
    st, body = sync(d)
    assert by_id(body["results"])[sa] == {"showId": sa, "previousStatus": "live",
                                          "newStatus": "offline", "changed": True,
                                          "viewerCount": 2}
    assert fake_calls(fake, "ListStreams") == 1 and fake_calls(fake, "GetStream") == 4
    assert any("falling back to GetStream" in (ln.get("msg") or "") for ln in d.lines())


def test_list_denied_with_strategy_list_is_an_error(pg, db, fake, daemon_factory):
    fake.configure(deny_list_streams=True)
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    sid = add_show(pg, db, channel_arn(32), status="live", stream_status="live",
                   is_streaming="true", ivs_stream_id="st-x")
    st, body = sync(d)
    assert st == 200 and body["summary"]["errors"] == 1
    r = body["results"][0]
    assert "AccessDenied" in r["error"] and r["newStatus"] == "live" and not r["changed"]
    assert show(pg, db, sid)["stream_status"] == "live"  # an incomplete sweep proves nothing


@pytest.mark.parametrize("strategy", ["list", "get"])
def test_throttling_and_5xx_are_retried(pg, db, fake, daemon_factory, strategy):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy, AWS_MAX_ATTEMPTS="4"))
    op = "ListStreams" if strategy == "list" else "GetStream"
    a, b = channel_arn(40), channel_arn(41)
    sa = add_show(pg, db, a)
    sb = add_show(pg, db, b, status="live", stream_status="live", is_streaming="true",
                  ivs_stream_id="st-old")
    fake.set_stream(a, stream_id="st-a")
    fake.configure(script=[{"op": op, "status": 429}, {"op": op, "status": 500},
                           {"op": op, "status": 503}])
    st, body = sync(d)
    assert st == 200 and body["summary"]["errors"] == 0, body
    assert show(pg, db, sa)["stream_status"] == "live"
    assert show(pg, db, sb)["stream_status"] == "offline"
    s = fake.stats()
    assert s["script_pending"] == 0
    assert s["calls"][op] == (4 if strategy == "list" else 5)
    assert d.metric("ivs_syncd_ivs_retries_total", f'operation="{op}"') == 3
    assert d.metric("ivs_syncd_ivs_throttles_total") == 1


def test_retries_exhausted_is_an_error_not_offline(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="get", AWS_MAX_ATTEMPTS="2"))
    ch = channel_arn(42)
    sid = add_show(pg, db, ch, status="live", stream_status="live", is_streaming="true",
                   ivs_stream_id="st-x")
    fake.configure(script=[{"op": "GetStream", "status": 500}] * 2)
    st, body = sync(d)
    r = body["results"][0]
    assert body["summary"]["errors"] == 1 and "InternalServerException" in r["error"], r
    assert show(pg, db, sid)["stream_status"] == "live"
    assert fake_calls(fake, "GetStream") == 2


@pytest.mark.parametrize("strategy", ["get", "auto"])
def test_resource_not_found_is_an_error_never_offline(pg, db, fake, daemon_factory, strategy):
    if strategy == "auto":
        fake.configure(deny_list_streams=True)
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy))
    bad, good = channel_arn(50), channel_arn(51)
    s_bad = add_show(pg, db, bad, status="live", stream_status="live", is_streaming="true",
                     ivs_stream_id="st-bad", viewer_count=9)
    s_good = add_show(pg, db, good)
    fake.configure(not_found=[bad])
    before = show(pg, db, s_bad)
    st, body = sync(d)
    assert st == 200
    check_body_shape(body, single=False)
    res = by_id(body["results"])
    r = res[s_bad]
    assert "ResourceNotFoundException" in r["error"], r
    assert (r["previousStatus"], r["newStatus"], r["changed"]) == ("live", "live", False)
    assert "viewerCount" not in r
    assert res[s_good]["newStatus"] == "offline" and "error" not in res[s_good]
    assert body["summary"]["errors"] == 1 and body["summary"]["offline"] == 1
    assert show(pg, db, s_bad) == before
    # the single-show API says the same
    st, b = sync(d, {"showId": s_bad})
    assert st == 200 and "ResourceNotFoundException" in b["results"]["error"]
    assert b["summary"]["errors"] == 1 and show(pg, db, s_bad) == before


@pytest.mark.parametrize("strategy", ["list", "get"])
def test_two_regions_signed_for_their_region(pg, db, fake, daemon_factory, strategy):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy,
                               AWS_REGION="ap-south-1"))
    east = [channel_arn(60 + i) for i in range(3)]
    west = [channel_arn(70 + i, "eu-west-1") for i in range(3)]
    ids = add_shows(pg, db, east + west)
    fake.set_stream(east[0], stream_id="st-e0")
    fake.set_stream(west[1], stream_id="st-w1")
    fake.set_stream(channel_arn(79, "eu-west-1"))  # no show
    st, body = sync(d)
    assert st == 200 and body["summary"]["errors"] == 0, body
    res = by_id(body["results"])
    assert [res[i]["newStatus"] for i in ids] == \
        ["live", "offline", "offline", "offline", "live", "offline"]
    s = fake.stats()
    assert s["bad_signatures"] == 0 and s["region_mismatches"] == 0
    reqs = s["requests"]
    if strategy == "list":
        assert sorted(r["region"] for r in reqs) == ["eu-west-1", "us-east-1"]
    else:
        assert len(reqs) == 6
        for r in reqs:
            assert r["region"] == r["channelArn"].split(":")[3], r


# ---- leader, timer passes, two replicas ----

def _leader(d):
    return d.metric("ivs_syncd_reconcile_leader") == 1


def test_timer_pass_repairs_and_metrics_move(pg, db, fake, daemon_factory):
    ch = channel_arn(80)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-t")
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_INTERVAL="1"))
    wait_until(lambda: show(pg, db, sid)["stream_status"] == "live", 6, 0.05, "a timer pass")
    assert _leader(d)
    wait_until(lambda: d.metric("ivs_syncd_reconcile_passes_total", 'trigger="timer",result="ok"',
                                absent_ok=True) >= 2, 6, 0.1, "a second pass")
    assert d.metric("ivs_syncd_reconcile_shows_checked_total") >= 2
    assert d.metric("ivs_syncd_reconcile_shows_changed_total") >= 1
    fake.end_stream(ch)
    wait_until(lambda: show(pg, db, sid)["status"] == "ended", 6, 0.05, "the end")


def test_two_daemons_one_leader_and_takeover(pg, db, daemon_factory):
    fa, fb = FakeIVS(), FakeIVS()
    try:
        chans = [channel_arn(90 + i) for i in range(3)]
        ids = add_shows(pg, db, chans)
        for f in (fa, fb):
            f.set_stream(chans[0], stream_id="st-0")
        da = daemon_factory(aws_env(pg, db, fa, RECONCILE_INTERVAL="1", LEADER_LEASE="1.5"))
        db_ = daemon_factory(aws_env(pg, db, fb, RECONCILE_INTERVAL="1", LEADER_LEASE="1.5"))
        wait_until(lambda: _leader(da) or _leader(db_), 5, 0.05, "a leader")
        time.sleep(2.5)  # a couple of intervals
        assert _leader(da) + _leader(db_) == 1
        leader, other = (da, db_) if _leader(da) else (db_, da)
        fl, fo = (fa, fb) if leader is da else (fb, fa)
        assert fake_calls(fl) >= 2, fl.stats()
        assert fake_calls(fo) == 0  # only the leader reconciles
        # no pass at all: the per-trigger series do not exist yet
        assert other.metric("ivs_syncd_reconcile_passes_total", "*", absent_ok=True) == 0
        assert show(pg, db, ids[0])["stream_status"] == "live"

        # both replicas accept events; an event delivered to both is applied once
        evs = [ivs_event("Stream Start", chans[1], "st-1", iso_now()),
               ivs_event("Stream Start", chans[2], "st-2", iso_now())]
        for f in (fa, fb):
            f.set_stream(chans[1], stream_id="st-1")
            f.set_stream(chans[2], stream_id="st-2")
        outs = []
        lock = threading.Lock()

        def post(d, ev):
            o = d.json("POST", "/eventbridge", ev, EB)[1]["outcome"]
            with lock:
                outs.append((ev["id"], o))
        ts = [threading.Thread(target=post, args=(d, ev)) for ev in evs for d in (da, db_)
              for _ in range(3)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        for ev in evs:
            got = sorted(o for i, o in outs if i == ev["id"])
            assert got == ["applied"] + ["duplicate"] * 5, got
        assert pg.psql("SELECT count(*), sum(shows_changed) FROM ivs_sync.events", db) == "2|2"

        # SIGKILL the leader: its lease expires (1.5 s), the other takes it over
        calls_before = fake_calls(fo)
        leader.proc.kill()
        t_kill = time.monotonic()
        assert leader.stop() == -signal.SIGKILL
        wait_until(lambda: _leader(other), 4, 0.05, "the takeover")
        took = time.monotonic() - t_kill
        assert took < 3.0, took  # LEADER_LEASE (1.5 s) + one renewal (0.5 s) at most
        fo.end_stream(chans[0])
        wait_until(lambda: show(pg, db, ids[0])["status"] == "ended", 4, 0.05,
                   "a pass by the new leader")
        assert fake_calls(fo) > calls_before
        assert other.metric("ivs_syncd_reconcile_passes_total", 'trigger="timer",result="ok"') >= 1
    finally:
        fa.close()
        fb.close()


# ---- reconcile --once ----

def test_reconcile_once_prints_json_and_exit_status(pg, db, fake):
    a, b = channel_arn(110), channel_arn(111)
    sa = add_show(pg, db, a)
    sb = add_show(pg, db, b, status="live", stream_status="live", is_streaming="true",
                  ivs_stream_id="st-b")
    fake.set_stream(a, stream_id="st-a", viewer_count=4)
    env = aws_env(pg, db, fake, RECONCILE_STRATEGY="get", LOG_LEVEL="warn")
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    check_body_shape(body, single=False)
    assert by_id(body["results"]) == {
        sa: {"showId": sa, "previousStatus": "offline", "newStatus": "live", "changed": True,
             "viewerCount": 4},
        sb: {"showId": sb, "previousStatus": "live", "newStatus": "offline", "changed": True,
             "viewerCount": 0}}
    assert show(pg, db, sa)["stream_status"] == "live"
    assert show(pg, db, sb)["status"] == "ended"
    # a show with an error: printed, exit status non-zero
    c = channel_arn(112)
    sc = add_show(pg, db, c)
    fake.configure(not_found=[c])
    r = run_once(env)
    assert r.returncode != 0
    body = json.loads(r.stdout)
    assert body["summary"]["errors"] == 1
    assert "ResourceNotFoundException" in by_id(body["results"])[sc]["error"]
    # without credentials it says so
    r = run_once(base_env(pg, db, None))
    assert r.returncode != 0 and "AWS credentials not configured" in r.stderr


def test_reconcile_once_beside_a_running_leader(pg, db, fake, daemon_factory):
    """Issue 17 item 13: with the fleet running, `reconcile --once` asks the
    leader for a pass (ivs_sync.pass_requests) and prints its result (the old
    code failed: "another replica holds the reconcile lock")."""
    add_show(pg, db, channel_arn(113))
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_INTERVAL="3600", LEADER_LEASE="3"))
    wait_until(lambda: _leader(d), 5, 0.05, "the leader")
    wait_until(lambda: d.metric("ivs_syncd_reconcile_passes_total", 'trigger="timer",result="ok"',
                                absent_ok=True) >= 1, 5, 0.05, "the leader's first pass")
    ch = channel_arn(114)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-once", viewer_count=2)
    t0 = time.monotonic()
    r = run_once(aws_env(pg, db, fake, LOG_LEVEL="warn", LEADER_LEASE="3"))
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    check_body_shape(body, single=False)
    assert by_id(body["results"])[sid] == {"showId": sid, "previousStatus": "offline",
                                           "newStatus": "live", "changed": True,
                                           "viewerCount": 2}
    assert show(pg, db, sid)["stream_status"] == "live"
    # the leader ran it (within one lease tick, LEADER_LEASE/3 = 1 s, plus the pass)
    assert d.metric("ivs_syncd_reconcile_passes_total", 'trigger="once",result="ok"') == 1
    assert took < 4, took
    assert pg.psql("SELECT count(*) FROM ivs_sync.pass_requests WHERE done_at IS NULL", db) == "0"
    # the leader still leads
    assert _leader(d)


def test_reconcile_once_takes_the_lease_of_a_dead_leader(pg, db, fake):
    """A leader that died without releasing: `reconcile --once` asks, nobody
    answers, and once the lease expired it takes it and runs the pass itself."""
    ch = channel_arn(115)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-dead")
    pg.psql("SELECT ivs_sync.lease_acquire('dead-host:1:0', 2000)", db)
    r = run_once(aws_env(pg, db, fake, LOG_LEVEL="warn", LEADER_LEASE="3"))
    assert r.returncode == 0, r.stderr
    assert by_id(json.loads(r.stdout)["results"])[sid]["newStatus"] == "live"
    # it released the lease at exit, and withdrew its request
    assert pg.psql("SELECT coalesce(holder, '') FROM ivs_sync.leader_lease", db) == ""
    assert pg.psql("SELECT count(*) FROM ivs_sync.pass_requests", db) == "0"


# ---- no write without a change ----

@pytest.mark.parametrize("strategy", ["list", "get"])
def test_pass_without_change_writes_nothing(pg, db, fake, daemon_factory, strategy):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY=strategy))
    chans = [channel_arn(120 + i) for i in range(6)]
    add_shows(pg, db, chans[:3])
    add_shows(pg, db, chans[3:], status="live", stream_status="live", is_streaming="true",
              ivs_stream_id="st-x")
    fake.set_stream(chans[0], stream_id="st-0", viewer_count=5)
    fake.set_stream(chans[3], stream_id="st-x", viewer_count=8)
    st, body = sync(d)
    assert body["summary"]["changed"] == 3  # 0 goes live, 4 and 5 end
    before = row_versions(pg, db)
    for _ in range(3):
        st, body = sync(d)
        assert st == 200 and body["summary"]["changed"] == 0
    assert row_versions(pg, db) == before
    # one statement to load the shows, one batch of observations
    assert d.metric("ivs_syncd_reconcile_last_pass_statements") <= 2


# ---- targeted checks, malformed ARNs ----

def test_failure_event_triggers_a_targeted_check(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake))
    ch = channel_arn(130)
    sid = add_show(pg, db, ch, status="live", stream_status="live", is_streaming="true",
                   ivs_stream_id="st-f", stream_state_at="2026-01-01T10:00:00Z")
    # the stream failed and IVS says the channel is offline now
    st, b = d.json("POST", "/eventbridge", ivs_event("Stream Failure", ch, "st-f", iso_now()), EB)
    assert (st, b) == (200, {"outcome": "check"})
    wait_until(lambda: show(pg, db, sid)["status"] == "ended", 5, 0.05, "the targeted check")
    assert fake_calls(fake, "GetStream") == 1
    assert pg.psql("SELECT count(*) FROM ivs_sync.pending_checks", db) == "0"
    assert d.metric("ivs_syncd_targeted_checks_total") == 1


def test_malformed_arn_is_a_per_show_error(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    bad = add_show(pg, db, "arn:aws:ivs:us-east-1:123456789012:stage/nope", status="live",
                   stream_status="live", is_streaming="true")
    good = add_show(pg, db, channel_arn(131))
    st, body = sync(d)
    assert st == 200 and body["summary"]["errors"] == 1
    r = by_id(body["results"])[bad]
    assert "not a valid IVS channel ARN" in r["error"] and r["newStatus"] == "live"
    assert "error" not in by_id(body["results"])[good]
    st, b = sync(d, {"showId": bad})
    assert st == 200 and "invalid channel ARN" in b["results"]["error"], b
    assert show(pg, db, bad)["stream_status"] == "live"
    assert fake.stats()["calls"]["GetStream"] == 0


def test_leader_purges_events_past_retention(pg, db, fake, daemon_factory):
    """EVENT_RETENTION: the leader deletes older events in batches after its passes."""
    pg.psql("INSERT INTO ivs_sync.events (event_id, via, outcome, received_at) "
            "SELECT 'old-' || i, 'sns', 'applied', now() - interval '8 days' "
            "FROM generate_series(1, 2500) i", db)
    pg.psql("INSERT INTO ivs_sync.events (event_id, via, outcome, received_at) "
            "SELECT 'new-' || i, 'sns', 'applied', now() - interval '6 days' "
            "FROM generate_series(1, 10) i", db)
    add_show(pg, db, channel_arn(4242))
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_INTERVAL="1", EVENT_RETENTION="7d"))
    wait_until(lambda: pg.psql("SELECT count(*) FROM ivs_sync.events WHERE event_id LIKE "
                               "'old-%'", db) == "0", timeout=15, what="old events purged")
    assert pg.psql("SELECT count(*) FROM ivs_sync.events WHERE event_id LIKE 'new-%'", db) == "10"
    assert d.metric("ivs_syncd_events_purged_total") == 2500
