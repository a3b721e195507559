#!/usr/bin/env python3
"""Differential check of group commit (infra/sql/003_batch.sql): random event
sequences applied one per transaction with ivs_sync.ingest_event() and, on a
copy of the same database, in random chunks with ivs_sync.ingest_events()
must give the same outcome for every event and the same final state (shows,
events, pending_ends, pending_checks; columns set from now() excepted).

Usage: tests/bench/ingest_batch_check.py [--bin build/ivs-syncd] [--seeds 20]
(make bench-ingest runs it first). Exit status 0 = identical."""
import argparse
import json
import random
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
try:
    import pytest  # noqa: F401
except ImportError:
    sys.modules["pytest"] = types.SimpleNamespace(fixture=lambda *a, **k: (
        a[0] if a and callable(a[0]) else (lambda f: f)),
        register_assert_rewrite=lambda *names: None)
from conftest import PG, clean_env  # noqa: E402

ACCT = "123456789012"
KINDS = [("start", "IVS Stream State Change", "Stream Start"),
         ("end", "IVS Stream State Change", "Stream End"),
         ("health", "IVS Stream Health Change", "Starvation Start"),
         ("health", "IVS Stream Health Change", "Starvation End"),
         ("check", "IVS Stream State Change", "Stream Failure"),
         ("other", "IVS Stream State Change", "Session Created")]


def q(s):
    return "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"


def gen_events(rng, n, channels):
    evs = []
    for i in range(n):
        if evs and rng.random() < 0.12:
            evs.append(dict(rng.choice(evs)))  # redelivery: same id, same content
            continue
        kind, dt, en = rng.choice(KINDS[:2] * 4 + KINDS[2:])
        ch = rng.choice(channels)
        e = {"id": f"ev-{i}", "mid": rng.choice([None, f"m-{i}"]), "via": rng.choice(["sns", "eventbridge"]),
             "c": ch, "acct": ACCT, "dt": dt, "en": en, "k": kind,
             "s": rng.choice([None] if kind in ("check", "other") and rng.random() < 0.5
                             else [f"st-{rng.randrange(4)}"]),
             "t": f"2026-01-01T10:00:{min(59, i * 40 // n + rng.randrange(4)):02d}Z",
             "h": ({"Starvation Start": "STARVING", "Starvation End": "HEALTHY"}.get(en))}
        evs.append(e)
    return evs


def setup_sql(rng, channels):
    rows = []
    for i, ch in enumerate(channels):
        for k in range(rng.choice([1, 1, 2])):
            status = rng.choice(["scheduled", "scheduled", "live", "ended"])
            rows.append(f"('{i}-{k}', {q(status)}, {q(ch)})")
    rows.append("('nochannel', 'scheduled', NULL)")
    return ("INSERT INTO public.shows (title, status, ivs_channel_arn) VALUES " + ",".join(rows) + ";")


def single_sql(e, grace):
    return (f"SELECT ivs_sync.ingest_event({q(e['id'])}, {q(e['mid'])}, {q(e['via'])}, {q(e['c'])}, "
            f"{q(e['acct'])}, {q(e['dt'])}, {q(e['en'])}, {q(e['k'])}, {q(e['s'])}, "
            f"{q(e['t'])}::timestamptz, {q(e['h'])}, {grace});")


def batch_sql(chunk, grace):
    return (f"SELECT outcome FROM ivs_sync.ingest_events({q(json.dumps(chunk))}::jsonb, {grace}) "
            f"ORDER BY ord;")


STATE = [
    "SELECT title, status, ivs_channel_arn, stream_status, is_streaming, went_live_at, ended_at, "
    "actual_start, actual_end, viewer_count, ivs_stream_id, stream_state_at, stream_health "
    "FROM public.shows ORDER BY title",
    "SELECT event_id, sns_message_id, via, channel_arn, account, detail_type, event_name, "
    "stream_id, event_time, outcome, shows_changed FROM ivs_sync.events ORDER BY event_id",
    "SELECT s.title, pe.channel_arn, pe.ended_at FROM ivs_sync.pending_ends pe "
    "JOIN public.shows s ON s.id = pe.show_id ORDER BY 1",
    "SELECT channel_arn, reason FROM ivs_sync.pending_checks ORDER BY 1",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "ivs-syncd"))
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--events", type=int, default=250)
    args = ap.parse_args()
    pg = PG()
    bad = 0
    try:
        pg.psql("CREATE DATABASE tmpl")
        r = subprocess.run([args.bin, "migrate"], env=clean_env(DATABASE_URL=pg.url("tmpl")),
                           capture_output=True, text=True, cwd=str(ROOT))
        if r.returncode:
            raise RuntimeError(r.stderr)
        for seed in range(args.seeds):
            rng = random.Random(seed)
            channels = [f"arn:aws:ivs:us-east-1:{ACCT}:channel/c{i}" for i in range(rng.choice([1, 3, 6]))]
            grace = rng.choice([0, 0, 30])
            evs = gen_events(rng, args.events, channels)
            setup = setup_sql(rng, channels)
            for db in ("one", "batch"):
                pg.psql(f"DROP DATABASE IF EXISTS {db}")
                pg.psql(f"CREATE DATABASE {db} TEMPLATE tmpl")
                pg.psql(setup, db)
            one = pg.psql("\n".join(single_sql(e, grace) for e in evs), "one").splitlines()
            stmts, i = [], 0
            while i < len(evs):
                n = rng.choice([1, 2, 5, 16, 64])
                stmts.append(batch_sql(evs[i:i + n], grace))
                i += n
            batch = pg.psql("\n".join(stmts), "batch").splitlines()
            diffs = []
            if one != batch:
                k = next((j for j, (x, y) in enumerate(zip(one, batch)) if x != y), min(len(one), len(batch)))
                diffs.append(f"outcome of event {k}: one-by-one {one[k:k + 1]}, batched {batch[k:k + 1]}")
            for s in STATE:
                a, b = pg.psql(s, "one"), pg.psql(s, "batch")
                if a != b:
                    diffs.append(f"state differs: {s[:60]}...")
            outcomes = {o: one.count(o) for o in set(one)}
            print(f"seed {seed}: {len(evs)} events, {len(channels)} channels, grace {grace}, "
                  f"{len(stmts)} batches: {'identical' if not diffs else 'DIFFERENT'} {outcomes}")
            for d in diffs:
                print("  " + d)
            bad += bool(diffs)
    finally:
        pg.destroy()
    print(f"batch check: {args.seeds - bad} of {args.seeds} sequences identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
