"""Live push: Server-Sent Events of show state (GET /v1/shows/{id}/stream, GET /v1/stream),
fed by one LISTEN session per replica (issue 16)."""
import base64
import hashlib
import hmac
import http.server
import json
import shutil
import subprocess
import threading
import urllib.parse
import signal
import time
import uuid

import psycopg2

from conftest import EB, KEY, ROOT, add_show, base_env, channel_arn, ivs_event, wait_until
from sse_client import SSE

JWT_SECRET = "jwt-secret-for-sse-tests-0123456789abcdef"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(payload, secret=JWT_SECRET):
    h = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64u(json.dumps(payload).encode())
    s = hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64u(s)}"


ANON = make_jwt({"role": "anon", "exp": int(time.time()) + 3600})
ADMIN = make_jwt({"role": "authenticated", "app_metadata": {"role": "admin"},
                  "exp": int(time.time()) + 3600})
EXPIRED = make_jwt({"role": "anon", "exp": int(time.time()) - 120})  # past the 60 s leeway


def env(pg, db, **kw):
    e = dict(SERVICE_ROLE_KEY=KEY, JWT_SECRET=JWT_SECRET)
    e.update(kw)
    return base_env(pg, db, None, **e)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def post(d, ev):
    st, body = d.json("POST", "/eventbridge", ev, EB)
    assert st == 200, (st, body)
    return body


def sub(d, sid, tok=ANON, **kw):
    s = SSE(d.port, f"/v1/shows/{sid}/stream", bearer(tok) if tok else None, **kw)
    return s


def first(s):
    assert s.status == 200, (s.status, s.body)
    ev = s.next_event()
    assert ev is not None, "no first event"
    return ev


def test_auth_and_errors(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db, CORS_ALLOW_ORIGINS="https://app.example"))
    sid = add_show(pg, db, channel_arn(1))
    # no token, a bad one, an expired one, one signed with another secret: 401 JSON
    for h in (None, bearer("nope"), bearer(EXPIRED),
              bearer(make_jwt({"role": "anon", "exp": int(time.time()) + 60}, "other"))):
        s = SSE(d.port, f"/v1/shows/{sid}/stream", h)
        assert s.status == 401, (h, s.status)
        assert "error" in s.json_body()
    s = SSE(d.port, f"/v1/shows/{sid}/stream?access_token=bad")
    assert s.status == 401
    # an anon JWT (header or query), the service key, an admin JWT: 200
    for path, h in ((f"/v1/shows/{sid}/stream", bearer(ANON)),
                    (f"/v1/shows/{sid}/stream?access_token={ANON}", None),
                    (f"/v1/shows/{sid}/stream", bearer(KEY)),
                    (f"/v1/shows/{sid}/stream", bearer(ADMIN))):
        s = SSE(d.port, path, h)
        assert s.status == 200, (path, s.status, s.body)
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["cache-control"] == "no-cache"
        s.close()
    # the admin stream: 401 without a token, 403 with a non-admin one, 200 for admins
    assert SSE(d.port, "/v1/stream").status == 401
    s = SSE(d.port, "/v1/stream", bearer(ANON))
    assert s.status == 403 and "error" in s.json_body()
    for tok in (KEY, ADMIN):
        s = SSE(d.port, f"/v1/stream?access_token={tok}")
        assert s.status == 200
        s.close()
    # malformed id 400, unknown show 404
    s = sub(d, "not-a-uuid")
    assert s.status == 400 and "error" in s.json_body()
    s = sub(d, str(uuid.uuid4()))
    assert s.status == 404 and s.json_body() == {"error": "show not found"}
    # CORS as on the sync API
    s = SSE(d.port, f"/v1/shows/{sid}/stream", {**bearer(ANON), "Origin": "https://app.example"})
    assert s.headers["access-control-allow-origin"] == "https://app.example"
    s.close()
    st, h, _ = d.request("OPTIONS", f"/v1/shows/{sid}/stream",
                         headers={"Origin": "https://app.example"})
    assert st == 200 and "GET" in h["access-control-allow-methods"]
    # no token ever reaches the log
    wait_until(lambda: "show_stream" in d.text(), what="access log lines")
    text = d.text()
    assert ANON not in text and KEY not in text and ADMIN not in text
    assert "access_token" not in text


def test_sse_auth_none(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db, SSE_AUTH="none"))
    sid = add_show(pg, db, channel_arn(1))
    s = sub(d, sid, tok=None)
    assert first(s)["json"]["showId"] == sid
    assert SSE(d.port, "/v1/stream").status == 401  # the admin stream stays admin-only


def test_first_event_changes_duplicates_isolation(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db))
    ch1, ch2 = channel_arn(1), channel_arn(2)
    s1, s2 = add_show(pg, db, ch1), add_show(pg, db, ch2)
    a = sub(d, s1)
    b = sub(d, s2)
    adm = SSE(d.port, "/v1/stream", bearer(KEY))
    assert adm.status == 200
    e = first(a)
    assert a.retry == 3000
    assert e["event"] == "show"
    j = e["json"]
    assert j == {"showId": s1, "streamStatus": "offline", "isStreaming": False,
                 "status": "scheduled", "viewerCount": 0, "streamId": None, "at": None}
    first(b)
    last_id = int(e["id"])

    start = ivs_event("Stream Start", ch1, "st-A", "2026-01-01T10:00:00Z")
    post(d, start)
    e = a.next_event()
    assert e is not None, "no change event"
    assert int(e["id"]) > last_id
    last_id = int(e["id"])
    j = e["json"]
    assert j["showId"] == s1 and j["streamStatus"] == "live" and j["isStreaming"] is True
    assert j["status"] == "live" and j["streamId"] == "st-A" and j["at"].startswith("2026-01-01")
    ae = adm.next_event()
    assert ae["json"]["showId"] == s1 and ae["json"]["streamStatus"] == "live"

    # a duplicate (the same event again) and a stale one push nothing: the next event on a
    # is the next real change
    post(d, start)
    post(d, ivs_event("Stream Start", ch1, "st-A", "2026-01-01T10:00:00Z"))
    post(d, ivs_event("Stream End", ch1, "st-A", "2026-01-01T11:00:00Z"))
    e = a.next_event()
    assert e["json"]["streamStatus"] == "offline" and int(e["id"]) > last_id, e
    assert a.next_event(timeout=0.5) is None

    # isolation: b saw nothing of show 1; its next event is its own show's change
    post(d, ivs_event("Stream Start", ch2, "st-B", "2026-01-01T12:00:00Z"))
    e = b.next_event()
    assert e["json"]["showId"] == s2 and e["json"]["streamId"] == "st-B"
    assert a.next_event(timeout=0.5) is None
    assert adm.next_event()["json"]["showId"] == s1
    assert adm.next_event()["json"]["showId"] == s2

    # a reconnect with Last-Event-ID gets the current state at once
    c = SSE(d.port, f"/v1/shows/{s1}/stream", {**bearer(ANON), "Last-Event-ID": str(last_id)})
    j = first(c)["json"]
    assert j["streamStatus"] == "offline" and j["status"] in ("ended", "offline", "scheduled")
    assert d.metric("ivs_syncd_push_subscribers") == 4
    assert d.metric("ivs_syncd_push_events_total") >= 8


def test_viewer_counts(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db))
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    a = sub(d, sid)
    first(a)
    post(d, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z"))
    assert a.next_event()["json"]["streamStatus"] == "live"
    # what reconciliation writes (rule 6): a new count on the same stream
    pg.psql(f"UPDATE shows SET viewer_count = 42 WHERE id = '{sid}'", db)
    j = a.next_event()["json"]
    assert j["viewerCount"] == 42 and j["streamStatus"] == "live" and j["streamId"] == "st-A"
    # the same count again: nothing
    pg.psql(f"UPDATE shows SET viewer_count = 42 WHERE id = '{sid}'", db)
    pg.psql(f"UPDATE shows SET viewer_count = 43 WHERE id = '{sid}'", db)
    assert a.next_event()["json"]["viewerCount"] == 43
    assert a.next_event(timeout=0.5) is None
    # a state change keeps the latest count
    post(d, ivs_event("Stream End", ch, "st-A", "2026-01-01T11:00:00Z"))
    j = a.next_event()["json"]
    assert j["streamStatus"] == "offline" and j["viewerCount"] == 43


def test_heartbeat_and_limit(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db, SSE_HEARTBEAT="1", SSE_MAX_SUBSCRIBERS="2"))
    sid = add_show(pg, db, channel_arn(1))
    a, b = sub(d, sid), sub(d, sid)
    first(a)
    first(b)
    c = sub(d, sid)
    assert c.status == 503 and "error" in c.json_body()
    assert d.metric("ivs_syncd_push_refused_total") == 1
    assert a.wait_comment("ping", timeout=3)
    b.close()
    wait_until(lambda: d.metric("ivs_syncd_push_subscribers") == 1, what="b gone")
    first(sub(d, sid))


def listen_pid(pg, db):
    r = pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = "
                f"'ivs-syncd-listen' AND datname = '{db}'")
    return r.split()[0] if r else None


def test_postgres_restart_and_gap(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db))
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    a = sub(d, sid)
    first(a)
    wait_until(lambda: listen_pid(pg, db), what="the LISTEN session")
    # a change while the LISTEN session is away is sent once it is back
    keep = psycopg2.connect(pg.url(db))
    keep.autocommit = True
    pg.psql(f"ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false")
    try:
        pg.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = 'ivs-syncd-listen' AND datname = '{db}'")
        wait_until(lambda: d.metric("ivs_syncd_push_listen_up") == 0, what="listen down")
        keep.cursor().execute("UPDATE shows SET status = 'live', stream_status = 'live', "
                              "is_streaming = true, ivs_stream_id = 'st-gap' WHERE id = %s",
                              (sid,))
    finally:
        pg.psql(f"ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true")
        keep.close()
    e = a.next_event(timeout=15)
    assert e is not None and e["json"]["streamId"] == "st-gap", e
    # a whole PostgreSQL restart: the stream stays open and the changes keep coming
    pg.stop()
    pg.start()
    wait_until(lambda: d.metric("ivs_syncd_push_listen_up") == 1, timeout=30,
               what="listen back")
    e = a.next_event(timeout=5)  # the state re-read after the reconnect
    assert e is not None and e["json"]["streamId"] == "st-gap"
    d.wait_ready(timeout=30)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # events from the future are refused
    post(d, ivs_event("Stream End", ch, "st-gap", now))
    e = a.next_event(timeout=10)
    assert e is not None and e["json"]["streamStatus"] == "offline", e
    assert d.metric("ivs_syncd_push_listen_errors_total") >= 2


def test_sigterm_ends_streams(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db))
    sid = add_show(pg, db, channel_arn(1))
    a = sub(d, sid)
    first(a)
    adm = SSE(d.port, "/v1/stream", bearer(KEY))
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert a.wait_closed(timeout=5) and adm.wait_closed(timeout=5)
    assert a.ended, "the stream should end with its last chunk"
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5


def test_slow_subscriber_dropped(pg, db, daemon_factory):
    d = daemon_factory(env(pg, db, SSE_MAX_BUFFER="4k"))
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    slow = sub(d, sid, rcvbuf=2048)
    assert slow.status == 200
    good = sub(d, sid)
    first(good)
    # 30000 distinct viewer counts, each an event (nothing reads the slow socket): past what
    # the kernel buffers on loopback. Sent as ivs_sync_show_viewers notifications directly
    # (30000 UPDATEs of one row in one transaction take PostgreSQL seconds).
    pg.psql("SELECT count(pg_notify('ivs_sync_show_viewers', json_build_object("
            "'showId', s.id, 'viewerCount', g, 'streamStatus', s.stream_status, "
            "'isStreaming', s.is_streaming, 'status', s.status, 'streamId', s.ivs_stream_id, "
            "'at', s.stream_state_at)::text)) "
            f"FROM shows s, generate_series(1, 30000) g WHERE s.id = '{sid}'", db)
    n, last = 0, None
    while True:
        e = good.next_event(timeout=20)
        assert e is not None, f"the good subscriber stalled after {n} events"
        n += 1
        last = e["json"]["viewerCount"]
        if last == 30000:
            break
    assert n == 30000
    wait_until(lambda: d.metric("ivs_syncd_push_dropped_total", 'reason="slow"') >= 1,
               what="the slow subscriber dropped")
    assert d.metric("ivs_syncd_push_subscribers") == 1
    assert slow.wait_closed(timeout=5)


# ---- the example page in a real browser ----

HARNESS = """<!doctype html><html><body>
<iframe id="f" src="/live-status.html?%s" width="600" height="300"></iframe>
<script>
let last = "";
setInterval(() => {
  const doc = document.getElementById("f").contentDocument;
  const el = doc && doc.getElementById("status");
  if (!el) return;
  const v = el.dataset.status + "|" + el.textContent;
  if (v !== last) { last = v; fetch("/report?v=" + encodeURIComponent(v)); }
}, 100);
</script></body></html>"""


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    raise AssertionError("chromium is not installed (apt-get install chromium; "
                         "infra/setup-debian.sh installs it)")


def test_browser_live_status_page(pg, db, daemon_factory, tmp_path):
    """doc/examples/live-status.html in headless Chromium, served from another origin:
    the page shows the show offline, the test posts a Stream Start, the DOM shows it live."""
    browser = chromium_binary()
    d = daemon_factory(env(pg, db))
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    page = (ROOT / "doc" / "examples" / "live-status.html").read_bytes()
    query = urllib.parse.urlencode({"api": f"http://127.0.0.1:{d.port}", "show": sid,
                                    "token": ANON})
    seen = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path == "/report":
                seen.append(urllib.parse.parse_qs(u.query)["v"][0])
                body, ctype = b"ok", "text/plain"
            elif u.path == "/live-status.html":
                body, ctype = page, "text/html"
            elif u.path == "/harness.html":
                body, ctype = (HARNESS % query).encode(), "text/html"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}",
         f"http://127.0.0.1:{srv.server_address[1]}/harness.html"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any(v.startswith("offline|") for v in seen), timeout=60,
                   what=f"the page showing the show offline (seen {seen})")
        post(d, ivs_event("Stream Start", ch, "st-browser", "2026-01-01T10:00:00Z"))
        wait_until(lambda: "live|LIVE" in seen, timeout=15,
                   what=f"the page showing the show live (seen {seen})")
    finally:
        proc.kill()
        proc.wait()
        srv.shutdown()
        srv.server_close()
