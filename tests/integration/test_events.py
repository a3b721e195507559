"""Events over HTTP with the real daemon and PostgreSQL (SPEC 1.1, 1.2, 2)."""
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (BIN, CERT_URL, PG, TESTDATA, TOPIC, add_show, base_env, channel_arn,
                      clean_env, iso_now, ivs_event)

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}


def show(pg, db, sid):
    cols = ["status", "stream_status", "is_streaming", "ivs_stream_id", "went_live_at",
            "actual_start", "ended_at", "actual_end", "stream_state_at", "viewer_count",
            "stream_health"]
    r = pg.rows("SELECT " + ", ".join(f"coalesce({c}::text, '')" for c in cols) +
                f" FROM shows WHERE id = '{sid}'", db)[0]
    return dict(zip(cols, r))


def sns_post(d, signer, event, **kw):
    env = signer.envelope(json.dumps(event), **kw)
    return d.json("POST", "/sns", json.dumps(env), {"Content-Type": "text/plain"})


@pytest.fixture
def env(pg, db, signer):
    return base_env(pg, db, signer)


def test_start_then_end_over_sns(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    st, body = sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    assert (st, body) == (200, {"outcome": "applied"})
    s = show(pg, db, sid)
    assert s["status"] == "live" and s["stream_status"] == "live" and s["is_streaming"] == "true"
    assert s["ivs_stream_id"] == "st-A"
    assert s["went_live_at"].startswith("2026-01-01 10:00:00")
    assert s["actual_start"].startswith("2026-01-01 10:00:00")
    st, body = sns_post(d, signer, ivs_event("Stream End", ch, "st-A", "2026-01-01T11:00:00Z"))
    assert (st, body) == (200, {"outcome": "applied"})
    s = show(pg, db, sid)
    assert s["status"] == "ended" and s["stream_status"] == "offline"
    assert s["is_streaming"] == "false"
    assert s["ended_at"].startswith("2026-01-01 11:00:00")
    assert s["actual_end"].startswith("2026-01-01 11:00:00")
    assert s["actual_start"].startswith("2026-01-01 10:00:00")
    assert d.metric("ivs_syncd_events_total", 'outcome="applied",via="sns"') == 2


def test_redelivery_is_a_duplicate(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(2)
    add_show(pg, db, ch)
    ev = ivs_event("Stream Start", ch, "st-A")
    envl = json.dumps(signer.envelope(json.dumps(ev)))
    assert d.json("POST", "/sns", envl)[1] == {"outcome": "applied"}
    assert d.json("POST", "/sns", envl)[1] == {"outcome": "duplicate"}
    # the same event id through the API destination: still a duplicate
    assert d.json("POST", "/eventbridge", ev, EB)[1] == {"outcome": "duplicate"}
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "1"


def test_end_before_start_leaves_show_offline(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(3)
    sid = add_show(pg, db, ch)
    st, b = sns_post(d, signer, ivs_event("Stream End", ch, "st-A", "2026-01-01T11:00:00Z"))
    assert st == 200 and b["outcome"] == "ignored"
    st, b = sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    assert st == 200 and b["outcome"] == "stale"
    s = show(pg, db, sid)
    assert s["status"] == "scheduled" and s["stream_status"] == "offline"


def test_late_start_after_end_is_stale(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(4)
    sid = add_show(pg, db, ch)
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    sns_post(d, signer, ivs_event("Stream End", ch, "st-A", "2026-01-01T11:00:00Z"))
    st, b = sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:30:00Z"))
    assert b["outcome"] == "stale"
    assert show(pg, db, sid)["status"] == "ended"


def test_new_stream_while_live_and_end_of_other_stream(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(5)
    sid = add_show(pg, db, ch)
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    st, b = sns_post(d, signer, ivs_event("Stream Start", ch, "st-B", "2026-01-01T10:05:00Z"))
    assert b["outcome"] == "applied"
    s = show(pg, db, sid)
    assert s["ivs_stream_id"] == "st-B" and s["went_live_at"].startswith("2026-01-01 10:05")
    assert s["actual_start"].startswith("2026-01-01 10:00")
    # the End of the old stream arrives late: ignored for this show
    st, b = sns_post(d, signer, ivs_event("Stream End", ch, "st-A", "2026-01-01T10:06:00Z"))
    assert b["outcome"] == "stale"
    assert show(pg, db, sid)["stream_status"] == "live"


def test_end_wins_at_equal_times(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(6)
    sid = add_show(pg, db, ch)
    t = "2026-01-01T10:00:00Z"
    sns_post(d, signer, ivs_event("Stream End", ch, "st-A", t))
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", t))
    assert show(pg, db, sid)["stream_status"] == "offline"
    ch2 = channel_arn(7)
    sid2 = add_show(pg, db, ch2)
    sns_post(d, signer, ivs_event("Stream Start", ch2, "st-B", t))
    sns_post(d, signer, ivs_event("Stream End", ch2, "st-B", t))
    assert show(pg, db, sid2)["stream_status"] == "offline"


def test_unknown_channel_and_other_types_are_200(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    st, b = sns_post(d, signer, ivs_event("Stream Start", channel_arn(99), "st-X"))
    assert (st, b["outcome"]) == (200, "ignored")
    for name in ("session-created", "recording-end", "limit-breach-ingest-bitrate",
                 "limit-breach-concurrent-broadcasts"):
        ev = json.loads((TESTDATA / "ivs-events" / f"{name}.json").read_text())
        ev["id"] = str(uuid.uuid4())
        st, b = sns_post(d, signer, ev)
        assert st == 200 and b["outcome"] == "ignored", (name, b)
    # an authentic notification that is not an IVS event at all
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope("hello")))
    assert (st, b["outcome"]) == (200, "ignored")
    # every IVS event is recorded once (account-wide ones without a channel), not "hello"
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "5"
    assert pg.psql("SELECT count(*) FROM ivs_sync.events WHERE channel_arn IS NULL", db) == "1"


def test_health_and_check_events(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(8)
    sid = add_show(pg, db, ch)
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-A"))
    st, b = sns_post(d, signer, ivs_event("Starvation Start", ch, "st-A",
                                          detail_type="IVS Stream Health Change"))
    assert b["outcome"] == "applied"
    assert show(pg, db, sid)["stream_health"] == "STARVING"
    st, b = sns_post(d, signer, ivs_event("Starvation End", ch, "st-A",
                                          detail_type="IVS Stream Health Change"))
    assert show(pg, db, sid)["stream_health"] == "HEALTHY"
    st, b = sns_post(d, signer, ivs_event("Stream Failure", ch, "st-A"))
    assert b["outcome"] == "check"
    assert pg.psql("SELECT reason FROM ivs_sync.pending_checks", db) == "Stream Failure"


def test_grace_keeps_show_live_through_reconnect(pg, db, signer, daemon_factory):
    env = base_env(pg, db, signer, END_GRACE_SECONDS="2")
    d = daemon_factory(env)
    ch = channel_arn(9)
    sid = add_show(pg, db, ch)
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    sns_post(d, signer, ivs_event("Stream End", ch, "st-A", "2026-01-01T10:10:00Z"))
    s = show(pg, db, sid)
    assert s["stream_status"] == "offline" and s["status"] == "live"
    sns_post(d, signer, ivs_event("Stream Start", ch, "st-B", "2026-01-01T10:10:05Z"))
    time.sleep(3.5)
    s = show(pg, db, sid)
    assert s["status"] == "live" and s["stream_status"] == "live" and s["ivs_stream_id"] == "st-B"
    # no reconnect this time: the show ends once the grace is over
    sns_post(d, signer, ivs_event("Stream End", ch, "st-B", "2026-01-01T10:20:00Z"))
    assert show(pg, db, sid)["status"] == "live"
    deadline = time.time() + 8
    while time.time() < deadline and show(pg, db, sid)["status"] != "ended":
        time.sleep(0.2)
    assert show(pg, db, sid)["status"] == "ended"


def test_eventbridge_token(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ev = ivs_event("Stream Start", channel_arn(10), "st-A")
    assert d.json("POST", "/eventbridge", ev)[0] == 401
    st, b = d.json("POST", "/eventbridge", ev, {"X-Ivs-Syncd-Token": "eb-secret-tokeX"})
    assert (st, b) == (401, {"error": "Unauthorized"})
    assert d.json("POST", "/eventbridge", ev, {"X-Ivs-Syncd-Token": "eb-secret-token0"})[0] == 401
    assert d.json("POST", "/eventbridge", ev, EB)[0] == 200


def test_eventbridge_disabled_without_token(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, EVENTBRIDGE_TOKEN=None))
    ev = ivs_event("Stream Start", channel_arn(10), "st-A")
    assert d.json("POST", "/eventbridge", ev, EB)[0] == 404


def test_eventbridge_validation(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, AWS_ACCOUNT_IDS="111111111111"))
    ev = ivs_event("Stream Start", channel_arn(11), "st-A")
    st, b = d.json("POST", "/eventbridge", ev, EB)
    assert st == 403 and "AWS_ACCOUNT_IDS" in b["error"]
    bad = dict(ev, source="aws.s3")
    assert d.json("POST", "/eventbridge", bad, EB)[0] == 400
    bad = dict(ev, resources=["arn:aws:s3:::bucket"])
    assert d.json("POST", "/eventbridge", bad, EB)[0] == 400
    for body in ["", "{", "[]", "null", '{"id": 1}', "x" * 1000, '{"a":' * 200 + "1" + "}" * 200,
                 b"\xff\xfe{}", json.dumps(ev)[:-5]]:
        st, b = d.json("POST", "/eventbridge", body, EB)
        assert st == 400 and "error" in b, body
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"


def test_sns_rejections(pg, db, signer, env, daemon_factory, tmp_path):
    d = daemon_factory(env)
    ch = channel_arn(12)
    sid = add_show(pg, db, ch)
    ev = json.dumps(ivs_event("Stream Start", ch, "st-A"))

    def post(m, headers=None):
        return d.json("POST", "/sns", m if isinstance(m, str) else json.dumps(m),
                      headers or {"Content-Type": "text/plain"})
    good = signer.envelope(ev)
    # tampered message
    bad = dict(good, Message=ev.replace("st-A", "st-B"))
    st, b = post(bad)
    assert st == 403 and "signature" in b["error"]
    # topic not in the allow-list, validly signed
    st, b = post(signer.envelope(ev, topic="arn:aws:sns:us-east-1:999999999999:other"))
    assert st == 403 and "SNS_TOPIC_ARNS" in b["error"]
    # raw delivery
    st, b = post(good, {"x-amz-sns-rawdelivery": "true"})
    assert st == 400 and "raw" in b["error"]
    # a certificate URL on another host
    for url in ("https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-ab.pem",
                "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem",
                "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-ab.pem",
                "https://evil@sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem"):
        st, b = post(signer.envelope(ev, cert_url=url))
        assert st == 403, url
    # a Timestamp outside the certificate's validity
    st, b = post(signer.envelope(ev, timestamp="2020-01-01T00:00:00.000Z"))
    assert st == 403 and "certificate" in b["error"]
    # unknown type / malformed
    st, b = post(dict(good, Type="Other"))
    assert st == 400
    for body in ["", "{", "[1]", '{"Type": 5}', "\x00", "{}" * 100000]:
        st, b = post(body)
        assert st in (400, 413), body
    assert show(pg, db, sid)["stream_status"] == "offline"
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"
    assert d.metric("ivs_syncd_sns_rejected_total", "*") >= 8
    assert post(good) == (200, {"outcome": "applied"})


def test_replay_older_than_max_age(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, SNS_MAX_AGE="1"))
    ch = channel_arn(17)
    sid = add_show(pg, db, ch)
    m = signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-A")))
    time.sleep(2.2)
    st, b = d.json("POST", "/sns", json.dumps(m))
    assert st == 403 and "SNS_MAX_AGE" in b["error"]
    assert show(pg, db, sid)["stream_status"] == "offline"


def test_sns_min_signature_version(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, SNS_MIN_SIGNATURE_VERSION="2"))
    ev = json.dumps(ivs_event("Stream Start", channel_arn(13), "st-A"))
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope(ev, version=1)))
    assert st == 403
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope(ev, version=2)))
    assert st == 200


def test_confirmations(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, SNS_AUTO_CONFIRM="false"))
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope(
        "You have chosen to subscribe", type_="SubscriptionConfirmation")))
    assert st == 200 and b["outcome"] == "confirmation_pending"
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope(
        "unsubscribed", type_="UnsubscribeConfirmation")))
    assert st == 200
    # a SubscribeURL off the SNS hosts is never visited
    st, b = d.json("POST", "/sns", json.dumps(signer.envelope(
        "x", type_="SubscriptionConfirmation", subscribe_url="https://evil.example/confirm")))
    assert st == 403
    assert d.metric("ivs_syncd_sns_subscriptions_total", "*") == 2


def test_auto_confirm_visits_subscribe_url(pg, db, signer, daemon_factory):
    import http.server

    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<ConfirmSubscriptionResponse/>")

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        d = daemon_factory(base_env(pg, db, signer,
                                    SNS_FETCH_BASE_URL=f"http://127.0.0.1:{srv.server_port}", IVS_SYNCD_TESTING="1"))
        st, b = d.json("POST", "/sns", json.dumps(signer.envelope(
            "confirm", type_="SubscriptionConfirmation",
            subscribe_url="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                          "&TopicArn=x&Token=tok123")))
        assert (st, b["outcome"]) == (200, "confirmed")
        assert hits == ["/?Action=ConfirmSubscription&TopicArn=x&Token=tok123"]
        # forged (bad signature) confirmations are never followed
        m = signer.envelope("confirm", type_="SubscriptionConfirmation")
        m["Token"] = "other"
        assert d.json("POST", "/sns", json.dumps(m))[0] == 403
        assert len(hits) == 1
    finally:
        srv.shutdown()


def test_certificate_fetch_unreachable_is_503(pg, db, signer, daemon_factory):
    port_closed = 1
    d = daemon_factory(base_env(pg, db, signer,
                                SNS_FETCH_BASE_URL=f"http://127.0.0.1:{port_closed}", IVS_SYNCD_TESTING="1"))
    ev = json.dumps(ivs_event("Stream Start", channel_arn(14), "st-A"))
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ffff0000ffff0000.pem"
    st, h, data = d.request("POST", "/sns", json.dumps(signer.envelope(ev, cert_url=url)))
    assert st == 503 and "retry-after" in h


def test_certificate_fetched_once_and_kept(pg, db, signer, daemon_factory, tmp_path):
    import http.server
    cert = open(signer.cert, "rb").read()
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            time.sleep(0.2)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(cert)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    certdir = tmp_path / "certs"
    certdir.mkdir()
    try:
        d = daemon_factory(base_env(pg, db, None, SNS_CERT_DIR=str(certdir),
                                    SNS_FETCH_BASE_URL=f"http://127.0.0.1:{srv.server_port}", IVS_SYNCD_TESTING="1"))
        url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abcdef012345.pem"
        res = []

        def go(i):
            ev = json.dumps(ivs_event("Stream Start", channel_arn(100 + i), "st-A"))
            res.append(d.json("POST", "/sns", json.dumps(signer.envelope(ev, cert_url=url)))[0])
        ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert res == [200] * 8
        assert hits == ["/SimpleNotificationService-abcdef012345.pem"]
        # kept in memory, but fetched through the testing knob (plain http, no chain
        # check): never made durable in SNS_CERT_DIR, and the start said so
        ev = json.dumps(ivs_event("Stream Start", channel_arn(120), "st-A"))
        assert d.json("POST", "/sns", json.dumps(signer.envelope(ev, cert_url=url)))[0] == 200
        assert len(hits) == 1
        assert list(certdir.iterdir()) == []
        warn = [x for x in d.lines() if "SNS_FETCH_BASE_URL" in x.get("msg", "")]
        assert warn and warn[0]["level"] == "warn" and "TESTING" in warn[0]["msg"], warn
    finally:
        srv.shutdown()


def test_database_down_is_503_and_redelivery_applies(signer):
    from conftest import Daemon
    c = PG()
    try:
        c.psql("CREATE DATABASE e")
        assert subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=c.url("e")),
                              capture_output=True).returncode == 0
        ch = channel_arn(15)
        sid = add_show(c, "e", ch)
        d = Daemon(base_env(c, "e", signer, DB_CONNECT_TIMEOUT="2"))
        try:
            envl = json.dumps(signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-A"))))
            c.stop()
            st, h, _ = d.request("POST", "/sns", envl)
            assert st == 503 and h.get("retry-after")
            c.start()
            d.wait_ready(timeout=15)
            st, b = d.json("POST", "/sns", envl)
            assert (st, b) == (200, {"outcome": "applied"})
            assert show(c, "e", sid)["stream_status"] == "live"
        finally:
            assert d.stop() == 0
    finally:
        c.destroy()


def test_verify_sns_cli_with_real_messages(tmp_path):
    real = TESTDATA / "sns-real"
    files = sorted(p for p in real.glob("*.json"))
    assert len(files) == 5
    env = clean_env(SNS_CERT_DIR=str(real))
    for f in files:
        r = subprocess.run([BIN, "verify-sns", str(f)], env=env, capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("valid"), (f, r.stdout, r.stderr)
        m = json.loads(f.read_text())
        for field in ("Message", "MessageId", "Timestamp", "TopicArn", "Signature"):
            bad = dict(m)
            v = bad[field]
            i = len(v) // 2
            bad[field] = v[:i] + ("A" if v[i] != "A" else "B") + v[i + 1:]
            r = subprocess.run([BIN, "verify-sns", "-"], env=env, input=json.dumps(bad),
                               capture_output=True, text=True)
            assert r.returncode == 1 and r.stdout.startswith("invalid"), (f, field, r.stdout)
        bad = dict(m, SigningCertURL=m["SigningCertURL"].replace("sns.us-west-2", "sns.evil"))
        r = subprocess.run([BIN, "verify-sns", "-"], env=env, input=json.dumps(bad),
                           capture_output=True, text=True)
        assert r.returncode == 1


def test_concurrent_duplicates_apply_once(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(16)
    add_show(pg, db, ch)
    ev = ivs_event("Stream Start", ch, "st-A")
    envl = json.dumps(signer.envelope(json.dumps(ev)))
    out = []

    def go(i):
        if i % 2:
            out.append(d.json("POST", "/sns", envl)[1]["outcome"])
        else:
            out.append(d.json("POST", "/eventbridge", ev, EB)[1]["outcome"])
    ts = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(out) == ["applied"] + ["duplicate"] * 19


def test_event_far_in_the_future_is_refused(pg, db, signer, env, daemon_factory):
    """An event dated beyond the allowed skew (5 min) would win every later
    comparison: 400 on /eventbridge, 400 on /sns (SNS then dead-letters it), and
    nothing stored. A little skew is accepted."""
    d = daemon_factory(env)
    ch = channel_arn(77)
    sid = add_show(pg, db, ch)
    st, body = sns_post(d, signer, ivs_event("Stream Start", ch, "st-F", iso_now(-60)))
    assert (st, body) == (200, {"outcome": "applied"})
    before = show(pg, db, sid)
    far = ["9999-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", iso_now(400)]
    for t in far:
        ev = ivs_event("Stream End", ch, "st-F", t)
        st, body = d.json("POST", "/eventbridge", json.dumps(ev), EB)
        assert st == 400 and "future" in body["error"], (t, st, body)
        st, body = sns_post(d, signer, ivs_event("Stream End", ch, "st-F", t))
        assert st == 400 and "future" in body["error"], (t, st, body)
    assert show(pg, db, sid) == before
    assert pg.rows("SELECT count(*) FROM ivs_sync.events WHERE event_time > now() + interval '1 hour'",
                   db)[0][0] == "0"
    assert d.metric("ivs_syncd_events_rejected_total", 'reason="future",via="eventbridge"') == 3
    assert d.metric("ivs_syncd_events_rejected_total", 'reason="future",via="sns"') == 3
    # within the skew: accepted (a clock a little ahead is normal)
    st, body = sns_post(d, signer, ivs_event("Stream End", ch, "st-F", iso_now(60)))
    assert (st, body) == (200, {"outcome": "applied"})
    assert show(pg, db, sid)["status"] == "ended"


def _lambda_shape(m):
    """An SNS message as Lambda events and SQS bodies carry it."""
    m = dict(m)
    m["SigningCertUrl"] = m.pop("SigningCertURL")
    if "UnsubscribeURL" in m:
        m["UnsubscribeUrl"] = m.pop("UnsubscribeURL")
    m.setdefault("Subject", None)
    return m


def test_verify_sns_accepts_the_lambda_shape(tmp_path):
    real = TESTDATA / "sns-real"
    env = clean_env(SNS_CERT_DIR=str(real))
    n = 0
    for f in sorted(real.glob("test-notification-*.json")):
        m = _lambda_shape(json.loads(f.read_text()))
        r = subprocess.run([BIN, "verify-sns", "-"], env=env, input=json.dumps(m),
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("valid"), (f, r.stdout, r.stderr)
        # still verified: a changed value fails
        bad = dict(m, Message=m["Message"] + "x")
        r = subprocess.run([BIN, "verify-sns", "-"], env=env, input=json.dumps(bad),
                           capture_output=True, text=True)
        assert r.returncode == 1 and r.stdout.startswith("invalid"), (f, r.stdout)
        n += 1
    assert n == 3


def test_sns_endpoint_keeps_the_https_shape(pg, db, signer, env, daemon_factory):
    d = daemon_factory(env)
    ch = channel_arn(78)
    add_show(pg, db, ch)
    m = signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-L", iso_now(-5))))
    st, _ = d.json("POST", "/sns", json.dumps(_lambda_shape(m)), {"Content-Type": "text/plain"})
    assert 400 <= st < 500
