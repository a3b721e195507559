"""Change notifications: pg_notify('ivs_sync_show_changed', json) on commit, once per
changed show, never for a no-op (SPEC 1.5)."""
import datetime as _dt
import json
import select
import time
import uuid

import psycopg2
import pytest

from conftest import (EB, add_show, add_shows, aws_env, base_env, channel_arn,
                      ivs_event, show, sync, wait_until)


CHANNEL = "ivs_sync_show_changed"
KEYS = {"showId", "channelArn", "streamStatus", "isStreaming", "status", "streamId", "at"}


class Listener:
    """LISTEN on its own connection. collect() returns every notification that
    committed before it was called: it sends a sentinel NOTIFY from a second
    connection and reads up to it (notifications arrive in commit order), so
    "none" needs no sleep."""

    def __init__(self, pg, db):
        self.conn = psycopg2.connect(pg.url(db))
        self.conn.autocommit = True
        self.conn.cursor().execute(f"LISTEN {CHANNEL}")
        self.other = psycopg2.connect(pg.url(db))
        self.other.autocommit = True

    def collect(self, timeout=5):
        tag = "sentinel-" + uuid.uuid4().hex
        self.other.cursor().execute("SELECT pg_notify(%s, %s)", (CHANNEL, tag))
        got = []
        deadline = time.monotonic() + timeout
        while True:
            self.conn.poll()
            while self.conn.notifies:
                n = self.conn.notifies.pop(0)
                if n.payload == tag:
                    return got
                if not n.payload.startswith("sentinel-"):
                    got.append(json.loads(n.payload))
            left = deadline - time.monotonic()
            assert left > 0, "sentinel notification never came"
            select.select([self.conn], [], [], left)

    def close(self):
        self.conn.close()
        self.other.close()


@pytest.fixture
def listener(pg, db):
    ln = Listener(pg, db)
    yield ln
    ln.close()


def at(n):
    return _dt.datetime.fromisoformat(n["at"].replace("Z", "+00:00"))


def post(d, ev):
    return d.json("POST", "/eventbridge", ev, EB)


def test_event_notifies_once_per_changed_show(pg, db, daemon_factory, listener):
    d = daemon_factory(base_env(pg, db, None))
    ch = channel_arn(1)
    sid = add_show(pg, db, ch)
    assert listener.collect() == []
    assert post(d, ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00.250Z"))[1] == \
        {"outcome": "applied"}
    got = listener.collect()
    assert len(got) == 1, got
    n = got[0]
    assert set(n) == KEYS
    assert {k: n[k] for k in KEYS - {"at"}} == {
        "showId": sid, "channelArn": ch, "streamStatus": "live", "isStreaming": True,
        "status": "live", "streamId": "st-A"}
    assert at(n) == _dt.datetime(2026, 1, 1, 10, 0, 0, 250000, _dt.timezone.utc)
    # the end: one more, with the new state
    post(d, ivs_event("Stream End", ch, "st-A", "2026-01-01T11:00:00Z"))
    got = listener.collect()
    assert [(g["showId"], g["streamStatus"], g["isStreaming"], g["status"]) for g in got] == \
        [(sid, "offline", False, "ended")]
    # two shows on one channel: one notification each
    ch2 = channel_arn(2)
    a, b = add_show(pg, db, ch2), add_show(pg, db, ch2)
    add_show(pg, db, ch2, status="ended")  # not a target
    post(d, ivs_event("Stream Start", ch2, "st-B", "2026-01-01T12:00:00Z"))
    got = listener.collect()
    assert sorted(g["showId"] for g in got) == sorted([a, b])


def test_no_notification_for_noops(pg, db, daemon_factory, listener):
    d = daemon_factory(base_env(pg, db, None))
    ch = channel_arn(3)
    sid = add_show(pg, db, ch)
    ev = ivs_event("Stream Start", ch, "st-A", "2026-01-01T10:00:00Z")
    post(d, ev)
    assert len(listener.collect()) == 1
    assert post(d, ev)[1] == {"outcome": "duplicate"}
    # stale: older than the state
    assert post(d, ivs_event("Stream Start", ch, "st-Z", "2026-01-01T09:00:00Z"))[1] == \
        {"outcome": "stale"}
    # an End for another stream
    assert post(d, ivs_event("Stream End", ch, "st-Q", "2026-01-01T10:30:00Z"))[1] == \
        {"outcome": "stale"}
    # unknown channel, health, other event types: no stream state change
    post(d, ivs_event("Stream Start", channel_arn(99), "st-X"))
    post(d, ivs_event("Starvation Start", ch, "st-A", detail_type="IVS Stream Health Change"))
    post(d, ivs_event("Session Created", ch, "st-A"))
    assert show(pg, db, sid)["stream_health"] == "STARVING"
    assert listener.collect() == []


def test_rolled_back_transactions_notify_nothing(pg, db, daemon_factory, listener):
    d = daemon_factory(base_env(pg, db, None))
    ch = channel_arn(4)
    sid = add_show(pg, db, ch)
    # a trigger that makes the daemon's transaction fail after the show's UPDATE
    pg.psql("""
        CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.ivs_stream_id = 'st-boom' THEN RAISE EXCEPTION 'boom'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_boom AFTER UPDATE ON shows FOR EACH ROW EXECUTE FUNCTION test_boom();
    """, db)
    st, b = post(d, ivs_event("Stream Start", ch, "st-boom", "2026-01-01T10:00:00Z"))
    assert st >= 500, (st, b)
    assert show(pg, db, sid)["stream_status"] == "offline"
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"  # not recorded either
    assert listener.collect() == []
    # the same function, rolled back by hand
    pg.psql("BEGIN; SELECT ivs_sync.ingest_event('e-rb', NULL, 'test', '%s', NULL, "
            "'IVS Stream State Change', 'Stream Start', 'start', 'st-rb', "
            "'2026-01-01T10:00:00Z', NULL, 0); ROLLBACK;" % ch, db)
    assert listener.collect() == []
    # and once it can commit, exactly one
    post(d, ivs_event("Stream Start", ch, "st-ok", "2026-01-01T10:00:00Z"))
    got = listener.collect()
    assert [(g["showId"], g["streamId"]) for g in got] == [(sid, "st-ok")]


def test_pass_notifies_changed_shows_only(pg, db, fake, daemon_factory, listener):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="list"))
    chans = [channel_arn(10 + i) for i in range(5)]
    ids = add_shows(pg, db, chans[:3])
    ids += add_shows(pg, db, chans[3:], status="live", stream_status="live",
                     is_streaming="true", ivs_stream_id="st-l")
    fake.set_stream(chans[0], stream_id="st-0", viewer_count=3)  # goes live
    fake.set_stream(chans[3], stream_id="st-l", viewer_count=4)  # stays live, count changes
    # chans[4]: live in the table, offline at IVS -> ends
    st, b = sync(d)
    assert b["summary"]["changed"] == 2
    got = listener.collect()
    assert sorted((g["showId"], g["streamStatus"], g["status"]) for g in got) == \
        sorted([(ids[0], "live", "live"), (ids[4], "offline", "ended")])
    # nothing changes: no notification; a viewer count alone is not a stream state change
    fake.set_stream(chans[0], viewer_count=30)
    st, b = sync(d)
    assert b["summary"]["changed"] == 0
    assert show(pg, db, ids[0])["viewer_count"] == "30"
    assert listener.collect() == []


def test_sync_request_notifies_once(pg, db, fake, daemon_factory, listener):
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="0"))
    ch = channel_arn(20)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-s")
    st, b = sync(d, {"showId": sid})
    assert b["results"]["changed"] is True
    got = listener.collect()
    assert len(got) == 1 and got[0]["showId"] == sid and got[0]["streamId"] == "st-s"
    for _ in range(3):
        assert sync(d, {"showId": sid})[1]["results"]["changed"] is False
    assert listener.collect() == []
    fake.end_stream(ch)
    sync(d, {"showId": sid})
    got = listener.collect()
    assert [(g["streamStatus"], g["status"]) for g in got] == [("offline", "ended")]


def test_grace_expiry_notifies(pg, db, daemon_factory, listener):
    d = daemon_factory(base_env(pg, db, None, END_GRACE_SECONDS="1"))
    ch = channel_arn(30)
    sid = add_show(pg, db, ch)
    post(d, ivs_event("Stream Start", ch, "st-g", "2026-01-01T10:00:00Z"))
    post(d, ivs_event("Stream End", ch, "st-g", "2026-01-01T10:05:00Z"))
    got = listener.collect()
    assert [(g["streamStatus"], g["status"]) for g in got] == [("live", "live"),
                                                               ("offline", "live")]
    wait_until(lambda: show(pg, db, sid)["status"] == "ended", 5, 0.1, "the grace expiry")
    got = listener.collect()
    assert [(g["showId"], g["streamStatus"], g["status"]) for g in got] == \
        [(sid, "offline", "ended")]
