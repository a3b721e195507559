"""The walking skeleton: config, routes, readiness, migrate, drain, limits."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, LIBEVENT_ERRORCB, PG, ROOT, base_env, clean_env


def run(args, **env):
    return subprocess.run([BIN, *args], env=clean_env(**env), capture_output=True, text=True,
                          timeout=30)


def test_help_lists_every_option():
    r = run(["--help"])
    assert r.returncode == 0
    for opt in ("LISTEN", "DATABASE_URL", "DB_POOL_SIZE", "SNS_TOPIC_ARNS", "SNS_CERT_DIR",
                "SNS_AUTO_CONFIRM", "SNS_MAX_AGE", "SNS_MIN_SIGNATURE_VERSION",
                "EVENTBRIDGE_TOKEN", "EVENTBRIDGE_TOKEN_HEADER", "AWS_ACCOUNT_IDS",
                "SERVICE_ROLE_KEY", "JWT_SECRET", "CORS_ALLOW_ORIGINS", "RECONCILE_INTERVAL",
                "RECONCILE_STRATEGY", "IVS_MAX_RPS", "IVS_MAX_INFLIGHT", "END_GRACE_SECONDS",
                "EVENT_RETENTION", "SYNC_FRESHNESS", "SYNC_MAX_WAIT", "SHUTDOWN_TIMEOUT",
                "LOG_FORMAT", "LOG_LEVEL", "LOG_FILE", "AWS_REGION", "AWS_ENDPOINT_URL_IVS",
                "AWS_MAX_ATTEMPTS", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        assert opt in r.stdout, opt
    assert "--sns-topic-arns" in r.stdout
    assert "[default: 30]" in r.stdout


def test_version():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("ivs-syncd ")


@pytest.mark.parametrize("env,args,msg", [
    ({"LISTEN": "127.0.0.1:99999"}, [], "LISTEN: port 99999 out of range"),
    ({"LISTEN": "nonsense"}, [], "LISTEN:"),
    ({"DB_POOL_SIZE": "0"}, [], "DB_POOL_SIZE:"),
    ({"DB_POOL_SIZE": "four"}, [], "DB_POOL_SIZE:"),
    ({"RECONCILE_STRATEGY": "sometimes"}, [], "RECONCILE_STRATEGY:"),
    ({"SNS_AUTO_CONFIRM": "maybe"}, [], "SNS_AUTO_CONFIRM:"),
    ({"SNS_MIN_SIGNATURE_VERSION": "3"}, [], "SNS_MIN_SIGNATURE_VERSION:"),
    ({"LOG_FORMAT": "xml"}, [], "LOG_FORMAT:"),
    ({"SNS_MAX_AGE": "1 hour"}, [], "SNS_MAX_AGE:"),
    ({}, ["--listen", "127.0.0.1:70000"], "LISTEN: port 70000 out of range"),
    ({}, ["--no-such-flag"], "unknown option --no-such-flag"),
    ({"AWS_ACCESS_KEY_ID": "AKID"}, [], "AWS_ACCESS_KEY_ID:"),
    # lists are checked entry by entry at start, not rejected delivery by delivery
    ({"SNS_TOPIC_ARNS": "notanarn"}, [], "SNS_TOPIC_ARNS:"),
    ({"SNS_TOPIC_ARNS": "arn:aws:sns:us-east-1:123456789012:ok, arn:aws:sqs:us-east-1:1:q"},
     [], "SNS_TOPIC_ARNS:"),
    ({"SNS_TOPIC_ARNS": "arn:aws:sns:us-east-1:12345:t"}, [], "SNS_TOPIC_ARNS:"),
    ({"AWS_ACCOUNT_IDS": "12"}, [], "AWS_ACCOUNT_IDS:"),
    ({"AWS_ACCOUNT_IDS": "123456789012,12345678901x"}, [], "AWS_ACCOUNT_IDS:"),
    ({"CORS_ALLOW_ORIGINS": "http://a b"}, [], "CORS_ALLOW_ORIGINS:"),
    ({"CORS_ALLOW_ORIGINS": "https://app.example/"}, [], "CORS_ALLOW_ORIGINS:"),
    ({"CORS_ALLOW_ORIGINS": "app.example"}, [], "CORS_ALLOW_ORIGINS:"),
    ({"CORS_ALLOW_ORIGINS": "https://a.example:99999"}, [], "CORS_ALLOW_ORIGINS:"),
    # a testing knob needs the explicit testing switch
    ({"SNS_FETCH_BASE_URL": "http://127.0.0.1:1", "IVS_SYNCD_TESTING": None}, [],
     "SNS_FETCH_BASE_URL:"),
    ({"SNS_FETCH_BASE_URL": "http://127.0.0.1:1", "IVS_SYNCD_TESTING": "yes"}, [],
     "IVS_SYNCD_TESTING=1"),
])
def test_bad_config_is_one_clear_line(env, args, msg):
    r = run([*args, "serve"] if not args or args[0].startswith("--listen") else args, **env)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert msg in lines[0], r.stderr
    assert r.returncode == 2


def test_good_lists_are_accepted():
    # (an unknown command is refused after the options were all validated)
    r = run(["nocmd"], SNS_TOPIC_ARNS="arn:aws:sns:us-east-1:123456789012:a, "
            "arn:aws-cn:sns:cn-north-1:123456789012:b.fifo",
            AWS_ACCOUNT_IDS="123456789012, 210987654321",
            CORS_ALLOW_ORIGINS="https://app.example, http://localhost:3000, http://[::1]:8080")
    assert "unknown command nocmd" in r.stderr, r.stderr
    for cors in ("*", "", "https://a.example,https://b.example"):
        assert "unknown command" in run(["nocmd"], CORS_ALLOW_ORIGINS=cors).stderr, cors


def test_short_help_and_version_aliases_and_help_width():
    full = run(["--help"])
    short = run(["-h"])
    assert short.returncode == 0 and short.stdout == full.stdout
    assert run(["-V"]).returncode == 0 and run(["-V"]).stdout == run(["--version"]).stdout
    wide = [line for line in full.stdout.splitlines() if len(line) > 80]
    assert not wide, wide


def test_flag_wins_over_env(pg, db, daemon_factory):
    env = base_env(pg, db, LISTEN="127.0.0.1:1")
    d = daemon_factory(env, args=("--listen", "127.0.0.1:0"))
    assert d.port != 1


def test_routes(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db))
    st, body = d.json("GET", "/healthz")
    assert st == 200 and body == {"status": "ok"}
    st, h, _ = d.request("GET", "/readyz", headers={"X-Request-Id": "abc-123"})
    assert st == 200 and h["x-request-id"] == "abc-123"
    st, h, _ = d.request("GET", "/healthz")
    assert len(h["x-request-id"]) == 32
    st, h, data = d.request("GET", "/metrics")
    text = data.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert 'ivs_syncd_build_info{version="' in text
    assert "ivs_syncd_db_pool_in_use" in text
    assert d.metric("ivs_syncd_http_requests_total", 'route="readyz",status="200"') >= 2
    assert "ivs_syncd_http_request_seconds_bucket" in text
    st, body = d.json("GET", "/nope")
    assert st == 404 and "error" in body
    st, h, data = d.request("POST", "/healthz")
    assert st == 405 and "error" in json.loads(data) and "GET" in h["allow"]
    st, body = d.json("GET", "/sns")
    assert st == 405
    # the request id appears in the log line of the request
    d.request("GET", "/nope", headers={"X-Request-Id": "trace-me-42"})
    time.sleep(0.1)
    assert any(line.get("request_id") == "trace-me-42" and line.get("status") == 404
               for line in d.lines())


def test_oversized_body_is_413(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db, MAX_BODY="4k"))
    st, h, data = d.request("POST", "/sns", body="x" * 10000,
                            headers={"Content-Type": "text/plain"})
    # evhttp answers a body past MAX_BODY itself, before our handler runs: JSON only
    # with libevent >= 2.2 (evhttp_set_errorcb); libevent 2.1's own page is HTML
    # (README, "HTTP errors"; test_hostile.py shows every such answer)
    assert st == 413 and h["connection"] == "close"
    if LIBEVENT_ERRORCB:
        assert json.loads(data) == {"error": "request body too large"}
    else:
        assert h["content-type"] == "text/html"
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"BLAH\x00 / HTTP/1.1\r\n\r\n")
    resp = s.recv(4096)
    s.close()
    assert resp.startswith(b"HTTP/1.1 400")
    assert (b'{"error":' in resp) == LIBEVENT_ERRORCB
    st, _ = d.json("GET", "/healthz")
    assert st == 200


def test_readiness_follows_the_database():
    pg = PG()
    try:
        pg.psql("CREATE DATABASE r")
        r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=pg.url("r")),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        from conftest import Daemon
        d = Daemon(base_env(pg, "r", DB_CONNECT_TIMEOUT="2"))
        try:
            pg.stop()
            t0 = time.time()
            d.wait_ready(timeout=10, status=503)
            st, body = d.json("GET", "/readyz")
            assert st == 503 and body["reason"] == "database unavailable"
            # nothing of libpq's text (socket paths, ports, hosts, users) reaches a client;
            # the detail is in the log and in doctor
            raw = json.dumps(body)
            for secret in (pg.dir, str(pg.port), "ivs", "socket", "connection"):
                assert secret not in raw, (secret, body)
            assert set(body) <= {"status", "reason", "error"}, body
            assert time.time() - t0 < 6
            st, _ = d.json("GET", "/healthz")
            assert st == 200
            pg.start()
            d.wait_ready(timeout=15, status=200)
        finally:
            assert d.stop() == 0
    finally:
        pg.destroy()


def test_migrate_is_idempotent_and_keeps_existing_shows(pg):
    pg.psql("CREATE DATABASE legacy")
    pg.psql("CREATE TABLE shows (id uuid PRIMARY KEY, title text NOT NULL, "
            "status text DEFAULT 'scheduled', seller_id int, ivs_channel_arn text, "
            "viewer_count integer DEFAULT 0)", "legacy")
    pg.psql("INSERT INTO shows (id, title, seller_id) VALUES "
            "('11111111-1111-1111-1111-111111111111', 'keep me', 7)", "legacy")
    env = clean_env(DATABASE_URL=pg.url("legacy"))
    r1 = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True)
    assert r1.returncode == 0, r1.stderr
    assert "applied" in r1.stdout
    r2 = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True)
    assert r2.returncode == 0, r2.stderr
    assert "up to date" in r2.stdout
    assert pg.psql("SELECT title || ':' || seller_id FROM shows", "legacy") == "keep me:7"
    cols = pg.psql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM "
                   "information_schema.columns WHERE table_name = 'shows'", "legacy").split(",")
    for c in ("ivs_stream_id", "stream_state_at", "stream_health", "stream_synced_at",
              "stream_status", "is_streaming", "went_live_at", "ended_at", "actual_start",
              "actual_end", "seller_id"):
        assert c in cols
    assert pg.psql("SELECT count(*) FROM pg_indexes WHERE indexname = "
                   "'shows_ivs_channel_arn_idx'", "legacy") == "1"
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", "legacy") == "0"


def test_migrate_reports_a_bad_database():
    r = run(["migrate"], DATABASE_URL="host=127.0.0.1 port=1 dbname=x connect_timeout=2")
    assert r.returncode != 0
    assert "cannot connect" in r.stderr


class HeldLock:
    """Holds an exclusive lock on ivs_sync.events so event writes wait."""

    def __init__(self, pg, db):
        import psycopg2
        self.c = psycopg2.connect(pg.url(db))
        self.c.cursor().execute("LOCK TABLE ivs_sync.events IN ACCESS EXCLUSIVE MODE")

    def release(self):
        self.c.rollback()
        self.c.close()


def post_event_async(d, results):
    from conftest import channel_arn, ivs_event
    ev = ivs_event("Stream Start", channel_arn(1), "st-1")

    def go():
        try:
            results.append(d.json("POST", "/eventbridge", ev,
                                  {"X-Ivs-Syncd-Token": "eb-secret-token"}, timeout=20))
        except Exception as e:  # noqa: BLE001
            results.append(e)
    t = threading.Thread(target=go)
    t.start()
    return t


def test_graceful_drain_finishes_inflight_writes(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db, SHUTDOWN_TIMEOUT="10"))
    lock = HeldLock(pg, db)
    results = []
    t = post_event_async(d, results)
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.proc.poll() is None  # waiting for the in-flight write
    with pytest.raises(OSError):  # listeners are closed at once
        socket.create_connection(("127.0.0.1", d.port), timeout=1)
    lock.release()
    t.join(10)
    assert results and results[0][0] == 200 and results[0][1]["outcome"] == "ignored"
    assert d.proc.wait(10) == 0
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "1"
    assert any("drain" in line.get("msg", "") for line in d.lines())


def test_second_signal_exits_at_once(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db, SHUTDOWN_TIMEOUT="30"))
    lock = HeldLock(pg, db)
    results = []
    t = post_event_async(d, results)
    try:
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert d.proc.poll() is None
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(5)
        assert time.time() - t0 < 2
    finally:
        lock.release()
        t.join(10)


def test_shutdown_deadline(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db, SHUTDOWN_TIMEOUT="1"))
    lock = HeldLock(pg, db)
    results = []
    t = post_event_async(d, results)
    try:
        time.sleep(0.3)
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(5) == 0
        assert 0.8 < time.time() - t0 < 3
    finally:
        lock.release()
        t.join(10)


@pytest.mark.parametrize("args,msg", [
    (["serve", "--bogus"], "unknown option --bogus"),
    (["migrate", "extra"], "unexpected argument extra"),
    (["frobnicate"], "unknown command frobnicate"),
    (["reconcile"], "usage: ivs-syncd reconcile --once"),
])
def test_bad_command_lines(args, msg):
    r = run(args)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_flags_anywhere_on_the_command_line(pg):
    pg.psql("CREATE DATABASE flagpos")
    r = run(["migrate", "--database-url", pg.url("flagpos")])
    assert r.returncode == 0, r.stderr
