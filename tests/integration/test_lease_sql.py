"""The leader lease in SQL (infra/sql/005_lease.sql, issue 14): two holders,
expiry, renewal, release, fencing of a stale generation, and many acquirers at
once. Plain psql / psycopg2 against the test PostgreSQL, no daemon."""
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, clean_env  # noqa: E402


def acquire(pg, db, holder, ttl_ms, name=None):
    extra = f", '{name}'" if name else ""
    r = pg.rows(f"SELECT held, generation, extract(epoch FROM expires_at - clock_timestamp()), "
                f"coalesce(holder, '') FROM ivs_sync.lease_acquire('{holder}', {ttl_ms}{extra})",
                db)
    assert len(r) == 1
    held, gen, left, who = r[0]
    return held == "t", int(gen), float(left), who


def check(pg, db, gen):
    """None when generation gen may write, else (sqlstate, message)."""
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-v", "VERBOSITY=verbose", pg.url(db),
                        "-c", "\\set VERBOSITY verbose",
                        "-c", f"SELECT ivs_sync.lease_check({gen})"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return None
    return r.stderr


TTL = 2000  # ms: long enough for a psql round trip on a loaded machine


def test_two_holders_renewal_expiry_fencing(pg, db):
    held, g1, left, who = acquire(pg, db, "a", TTL)
    assert held and who == "a" and 0.5 * TTL / 1000 < left <= TTL / 1000
    # b cannot take it while a holds it; it learns who does
    held, g, _, who = acquire(pg, db, "b", TTL)
    assert not held and g == g1 and who == "a"
    assert check(pg, db, g1) is None
    # renewal by a: same generation, later expiry
    time.sleep(0.1)
    held, g, left, who = acquire(pg, db, "a", TTL)
    assert held and g == g1 and who == "a" and left > 0.75 * TTL / 1000
    # a stops renewing: expired, b takes it with a new generation
    time.sleep(TTL / 1000 + 0.2)
    err = check(pg, db, g1)
    assert err and "IVSL1" in err and "expired" in err, err
    held, g2, _, who = acquire(pg, db, "b", TTL)
    assert held and g2 == g1 + 1 and who == "b"
    # a's old generation is refused now, b's accepted
    err = check(pg, db, g1)
    assert err and "IVSL1" in err and "not current" in err, err
    assert check(pg, db, g2) is None
    assert check(pg, db, g2 + 1) is not None
    # a comes back: not the holder
    held, g, _, who = acquire(pg, db, "a", TTL)
    assert not held and g == g2 and who == "b"
    # b releases: a takes it at once, next generation
    assert pg.psql("SELECT ivs_sync.lease_release('a')", db) == "f"
    assert pg.psql("SELECT ivs_sync.lease_release('b')", db) == "t"
    assert "IVSL1" in check(pg, db, g2)
    held, g3, _, who = acquire(pg, db, "a", TTL)
    assert held and g3 == g2 + 1 and who == "a"
    # the same holder after its own lease expired: a new generation too
    time.sleep(TTL / 1000 + 0.2)
    held, g4, _, who = acquire(pg, db, "a", 10000)
    assert held and g4 == g3 + 1
    # another lease name is independent
    held, gm, _, who = acquire(pg, db, "b", TTL, name="other")
    assert held and gm == 1 and who == "b"
    assert check(pg, db, g4) is None


def test_bad_arguments(pg, db):
    for args in ("'', 100", "NULL, 100", "'a', 0", "'a', NULL", "'a', -5"):
        with pytest.raises(RuntimeError):
            pg.psql(f"SELECT * FROM ivs_sync.lease_acquire({args})", db)
    assert "IVSL1" in check(pg, db, "NULL")
    assert "IVSL1" in check(pg, db, 1)  # nobody ever held it


def test_concurrent_acquirers_one_holder_per_generation(pg, db):
    """16 connections race for the lease, round after round, each round after
    the previous holder released it: every generation has exactly one holder."""
    dsn = pg.url(db)
    n = 16
    rounds = 15
    results = []  # (round, holder, held, generation)
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def worker(i):
        c = psycopg2.connect(dsn)
        c.autocommit = True
        cur = c.cursor()
        for rnd in range(rounds):
            barrier.wait()
            cur.execute("SELECT held, generation FROM ivs_sync.lease_acquire(%s, 60000)",
                        (f"h{i}",))
            held, gen = cur.fetchone()
            with lock:
                results.append((rnd, i, held, gen))
            barrier.wait()
            if held:
                cur.execute("SELECT ivs_sync.lease_release(%s)", (f"h{i}",))
                assert cur.fetchone()[0] is True
            barrier.wait()
        c.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == n * rounds
    gens = []
    for rnd in range(rounds):
        row = [r for r in results if r[0] == rnd]
        winners = [r for r in row if r[2]]
        assert len(winners) == 1, row
        gens.append(winners[0][3])
        # the losers saw the winner's generation
        assert all(r[3] == winners[0][3] for r in row)
    assert gens == list(range(gens[0], gens[0] + rounds))


def test_check_orders_takeover_after_a_fenced_write(pg, db):
    """A write transaction that passed lease_check holds the row: a takeover
    waits for it, so no write of an old generation commits after a new
    generation exists."""
    dsn = pg.url(db)
    held, g1, _, _ = acquire(pg, db, "a", 300)
    assert held
    w = psycopg2.connect(dsn)
    cur = w.cursor()  # one transaction, left open on purpose
    cur.execute("SELECT ivs_sync.lease_check(%s)", (g1,))
    time.sleep(0.4)  # a's lease has expired meanwhile
    got = {}

    def take():
        got["r"] = acquire(pg, db, "b", 5000)
        got["t"] = time.time()

    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.3)
    assert "r" not in got  # the takeover waits for the write transaction
    committed = time.time()
    w.commit()
    t.join(10)
    w.close()
    held, g2, _, who = got["r"]
    assert held and who == "b" and g2 == g1 + 1 and got["t"] >= committed


def test_migrate_is_repeatable_and_keeps_the_lease(pg, db):
    held, g1, _, _ = acquire(pg, db, "a", 60000)
    env = clean_env(DATABASE_URL=pg.url(db))
    for _ in range(2):
        r = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    held, g, _, who = acquire(pg, db, "a", 60000)
    assert held and g == g1 and who == "a"


def test_upgrade_grants_the_lease_to_an_existing_serving_role(pg, db):
    """A serving role granted before 005 existed can use the lease after
    `migrate` (no second --grant-to needed), and a fresh grant covers it too."""
    role = f"srv{db}"
    pg.psql(f"DROP TABLE ivs_sync.leader_lease CASCADE; "
            f"DELETE FROM ivs_sync.migrations WHERE name = '005_lease.sql'; "
            f"CREATE ROLE {role} LOGIN", db)
    try:
        pg.psql(f"SELECT count(*) FROM ivs_sync.grant_serving_role('{role}')", db)
        r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=pg.url(db)),
                           capture_output=True, text=True)
        assert r.returncode == 0 and "applied 005_lease.sql" in r.stdout, r.stderr
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             f"host={pg.dir} port={pg.port} user={role} dbname={db}", "-c",
             "SELECT count(*) FROM ivs_sync.serving_role_problems() WHERE severity = 'error'",
             "-c", "SELECT held FROM ivs_sync.lease_acquire('x', 1000)"],
            capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["0", "t"]
    finally:
        pg.psql(f"DROP OWNED BY {role}", db)
        pg.psql(f"DROP ROLE {role}")
