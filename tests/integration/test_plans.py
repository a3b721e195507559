"""Plans that cannot go bad as tables grow (issue: ingest at the database's speed).

The trap: each connection's plpgsql plans turn generic after five executions and
are kept for the connection's life. If that happens while ivs_sync.events is
small and its statistics say it is empty, a sequential scan is cheapest, and it
stays the plan while the table grows. The test reproduces it: analyze an empty
events table, warm every pool connection on it, grow the table past 100k rows,
then count the rows that PostgreSQL reads per event (pg_stat_user_tables), not
the time it takes.
"""
import json
import time
import uuid

from conftest import add_show, base_env, channel_arn, ivs_event

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}
GROWTH = 120_000


def events_counters(pg, db):
    """(seq_scan, seq_tup_read, idx_scan, idx_tup_fetch) of ivs_sync.events, once
    every backend has flushed its statistics."""
    row = pg.rows("SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), "
                  "coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables "
                  "WHERE schemaname = 'ivs_sync' AND relname = 'events'", db)[0]
    return [int(x) for x in row]


def settle(pg, db):
    """Backends flush table statistics at most once a second when idle."""
    time.sleep(2.5)
    return events_counters(pg, db)


def send_pairs(d, channels, n, tag):
    """n Start/End pairs spread over channels; every answer must be 200."""
    for i in range(n):
        ch = channels[i % len(channels)]
        stream = f"st-{tag}-{i}"
        t0 = f"2026-01-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
        for name, t in (("Stream Start", t0), ("Stream End", t0.replace("T10", "T11"))):
            st, body = d.json("POST", "/eventbridge", json.dumps(ivs_event(name, ch, stream, t)), EB)
            assert st == 200, body


def test_per_event_reads_stay_flat_as_events_table_grows(pg, db, signer, daemon_factory):
    channels = [channel_arn(7000 + i) for i in range(4)]
    for ch in channels:
        add_show(pg, db, ch)
    pg.psql("ANALYZE ivs_sync.events", db)  # statistics: the table is empty
    d = daemon_factory(base_env(pg, db, signer, DB_POOL_SIZE="4"))

    # warm-up: well past five executions on every pool connection
    send_pairs(d, channels, 60, "warm")

    # grow the table as production does between analyzes (no ANALYZE after)
    pg.psql(f"""INSERT INTO ivs_sync.events (event_id, via, channel_arn, account, detail_type,
                    event_name, stream_id, event_time, outcome)
                SELECT 'grow-' || g, 'sns', 'arn:aws:ivs:us-east-1:123456789012:channel/g' || (g % 5000),
                       '123456789012', 'IVS Stream State Change',
                       CASE WHEN g % 2 = 0 THEN 'Stream End' ELSE 'Stream Start' END,
                       'st-g' || g, now(), 'applied'
                FROM generate_series(1, {GROWTH}) g""", db)

    before = settle(pg, db)
    n_pairs = 50
    send_pairs(d, channels, n_pairs, "grown")
    after = settle(pg, db)
    n_events = 2 * n_pairs
    seq_rows = after[1] - before[1]
    idx_fetch = after[3] - before[3]
    # a keyed lookup reads a handful of rows per event; one sequential scan of the
    # grown table reads 120k. Allow nothing near a scan.
    assert seq_rows / n_events < 10, (
        f"{seq_rows} rows read by sequential scans of ivs_sync.events for {n_events} events "
        f"({after[0] - before[0]} scans): a plan went generic on an empty table")
    assert idx_fetch / n_events < 50, f"{idx_fetch} index fetches for {n_events} events"
    # and the state is right: every show ended its last stream
    live = pg.psql("SELECT count(*) FROM shows WHERE is_streaming", db)
    assert live == "0"
