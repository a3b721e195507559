"""A least-privilege serving role under row-level security (README "Database role").

Each test builds a Supabase-like database: a `shows` table with NOT NULL columns,
row-level security on and one SELECT policy for `authenticated`; `migrate` runs as
the owner, and `serve` as a separate, non-owner role.
"""
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, base_env, channel_arn, clean_env, ivs_event  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}
KEY = "svc-role-key-0123456789abcdef"
SUPABASE_SHOWS = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
END $$;
CREATE TABLE public.shows (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text NOT NULL,
    seller_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'scheduled',
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.shows ENABLE ROW LEVEL SECURITY;
CREATE POLICY "shows are visible to signed-in users" ON public.shows
    FOR SELECT TO authenticated USING (true);
"""


def migrate(env, *args):
    r = subprocess.run([BIN, "migrate", *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture
def supa(pg):
    """(database, serving role): a Supabase-like database, migrated by the owner."""
    name = "supa_" + uuid.uuid4().hex[:10]
    role = "srv_" + uuid.uuid4().hex[:8]
    pg.psql(f"CREATE DATABASE {name}")
    pg.psql(SUPABASE_SHOWS, name)
    pg.psql(f"CREATE ROLE {role} LOGIN")
    migrate(clean_env(DATABASE_URL=pg.url(name)))
    yield name, role
    pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg.psql(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")


def role_url(pg, db, role):
    return f"host={pg.dir} port={pg.port} user={role} dbname={db}"


def add_show(pg, db, channel):
    sid = str(uuid.uuid4())
    pg.psql(f"INSERT INTO shows (id, title, seller_id, ivs_channel_arn) VALUES "
            f"('{sid}', 'a show', gen_random_uuid(), '{channel}')", db)
    return sid


def operator_grants(pg, db, role):
    """What the operator in the issue granted by hand: everything but a policy."""
    pg.psql(f"GRANT USAGE ON SCHEMA ivs_sync TO {role}; "
            f"GRANT ALL ON ALL TABLES IN SCHEMA ivs_sync TO {role}; "
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ivs_sync TO {role}; "
            f"GRANT SELECT, UPDATE ON public.shows TO {role}", db)


def wait_reason(d, text, timeout=10):
    """/readyz's reason once the role check has answered."""
    import time
    deadline = time.time() + timeout
    while True:
        st, body = d.json("GET", "/readyz")
        if text in body.get("reason", "") or time.time() > deadline:
            return st, body
        time.sleep(0.05)


def doctor(env):
    return subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=60)


def test_role_without_grant_is_not_ready_and_refuses_events(pg, supa, signer, daemon_factory):
    db, role = supa
    operator_grants(pg, db, role)
    ch = channel_arn(8801)
    sid = add_show(pg, db, ch)
    env = base_env(pg, db, signer, DATABASE_URL=role_url(pg, db, role))
    d = daemon_factory(env, wait_ready=False)
    st, body = wait_reason(d, "row-level security")
    assert st == 503
    assert "row-level security" in body["reason"] and f"--grant-to {role}" in body["reason"], body
    st, body = d.json("POST", "/eventbridge", json.dumps(ivs_event("Stream Start", ch, "st-r1")), EB)
    assert st == 503, body
    # nothing recorded (in particular nothing as "ignored"), the show unchanged
    assert pg.psql("SELECT count(*) FROM ivs_sync.events", db) == "0"
    assert pg.psql(f"SELECT status || '/' || stream_status FROM shows WHERE id = '{sid}'",
                   db) == "scheduled/offline"
    assert d.metric("ivs_syncd_ready") == 0
    assert d.metric("ivs_syncd_db_role_ok") == 0


def test_missing_privileges_name_the_fix(pg, supa, signer, daemon_factory):
    db, role = supa
    pg.psql(f"GRANT USAGE ON SCHEMA ivs_sync TO {role}", db)  # and nothing else
    env = base_env(pg, db, signer, DATABASE_URL=role_url(pg, db, role))
    d = daemon_factory(env, wait_ready=False)
    st, body = wait_reason(d, "lacks")
    assert st == 503
    assert "UPDATE (status, stream_status" in body["reason"], body
    assert f"migrate --grant-to {role}" in body["reason"], body


def test_grant_to_makes_the_role_serve(pg, supa, signer, daemon_factory):
    db, role = supa
    out = migrate(clean_env(DATABASE_URL=pg.url(db)), "--grant-to", role)
    assert f"CREATE POLICY ivs_syncd_{role}_select" in out and f"role {role} can serve" in out, out
    # idempotent
    migrate(clean_env(DATABASE_URL=pg.url(db)), f"--grant-to={role}")
    assert pg.psql("SELECT count(*) FROM pg_policies WHERE tablename = 'shows' "
                   f"AND policyname LIKE 'ivs_syncd_{role}_%'", db) == "2"
    ch = channel_arn(8802)
    sid = add_show(pg, db, ch)
    fake = FakeIVS(credentials={"AKIDFAKE": ("fake-secret", None)})
    try:
        env = base_env(pg, db, signer, DATABASE_URL=role_url(pg, db, role),
                       AWS_ACCESS_KEY_ID="AKIDFAKE", AWS_SECRET_ACCESS_KEY="fake-secret",
                       AWS_ENDPOINT_URL_IVS=fake.url, SERVICE_ROLE_KEY=KEY, IVS_MAX_RPS="50",
                       SYNC_FRESHNESS="0")
        d = daemon_factory(env)
        st, body = d.json("POST", "/eventbridge",
                          json.dumps(ivs_event("Stream Start", ch, "st-g1")), EB)
        assert (st, body) == (200, {"outcome": "applied"})
        assert pg.psql(f"SELECT stream_status FROM shows WHERE id = '{sid}'", db) == "live"
        # the sync API as that role: IVS says a new stream is live
        fake.set_stream(ch, "st-g2")
        st, body = d.json("POST", "/functions/v1/sync-ivs-stream-status",
                          json.dumps({"showId": sid}),
                          {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        assert st == 200 and body["results"]["newStatus"] == "live", body
        assert pg.psql(f"SELECT ivs_stream_id FROM shows WHERE id = '{sid}'", db) == "st-g2"
        # reconcile as that role: IVS says the stream is gone -> offline
        fake.end_stream(ch)
        r = subprocess.run([BIN, "reconcile", "--once"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert pg.psql(f"SELECT stream_status FROM shows WHERE id = '{sid}'", db) == "offline"
    finally:
        fake.close()


def test_restrictive_policy_warns_and_doctor_fails(pg, supa, signer, daemon_factory):
    db, role = supa
    migrate(clean_env(DATABASE_URL=pg.url(db)), "--grant-to", role)
    pg.psql("CREATE POLICY own_rows ON public.shows AS RESTRICTIVE FOR SELECT TO PUBLIC "
            "USING (seller_id IS NOT NULL)", db)
    env = base_env(pg, db, signer, DATABASE_URL=role_url(pg, db, role))
    d = daemon_factory(env)  # still ready: the effect cannot be judged
    assert any("cannot be judged" in l.get("msg", "") and l.get("level") == "warn"
               for l in d.lines()), d.text()


def test_owner_keeps_working(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    st, body = d.json("GET", "/readyz")
    assert (st, body.get("status")) == (200, "ready")
    assert d.metric("ivs_syncd_db_role_ok") == 1


def test_doctor_reports_the_role(pg, supa, tmp_path):
    db, role = supa
    operator_grants(pg, db, role)
    env = clean_env(DATABASE_URL=role_url(pg, db, role), AWS_EC2_METADATA_DISABLED="true")
    r = doctor(env)
    out = r.stdout
    assert r.returncode == 1, out
    assert f"ok   role         {role}; public.shows is owned by" in out, out
    assert "row-level security on public.shows: on" in out, out
    assert "shows are visible to signed-in users" not in out  # applies to authenticated only
    fail = [l for l in out.splitlines() if l.startswith("FAIL") and "privileges" in l]
    assert fail and "row-level security" in fail[0] and f"--grant-to {role}" in fail[0], out
    assert "15." in out and "150" not in out.split("PostgreSQL")[1].split(",")[0], out

    migrate(clean_env(DATABASE_URL=pg.url(db)), "--grant-to", role)
    out = doctor(env).stdout
    assert "ok   privileges   this role can see and update every row" in out, out
    assert f"ivs_syncd_{role}_select (permissive SELECT USING (true))" in out, out

    pg.psql("CREATE POLICY own_rows ON public.shows AS RESTRICTIVE FOR SELECT TO PUBLIC "
            "USING (seller_id IS NOT NULL)", db)
    r = doctor(env)
    assert r.returncode == 1
    assert any(l.startswith("FAIL") and "cannot be judged" in l for l in r.stdout.splitlines()), \
        r.stdout

    # owner: all well
    out = doctor(clean_env(DATABASE_URL=pg.url(db), AWS_EC2_METADATA_DISABLED="true")).stdout
    assert "this role can see and update every row" in out and "(this role)" in out, out


def test_doctor_says_where_it_looked_for_the_sql(pg, db, tmp_path):
    r = subprocess.run([BIN, "doctor"], env=clean_env(DATABASE_URL=pg.url(db),
                                                        SQL_DIR=str(tmp_path / "nowhere"),
                                                        AWS_EC2_METADATA_DISABLED="true"),
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    line = [l for l in r.stdout.splitlines() if "migrations" in l][0]
    assert line.startswith("FAIL") and "no migration SQL files found" in line, r.stdout
    assert str(tmp_path / "nowhere") in line and "-1 migrations" not in line, line


def test_readme_role_sql_makes_a_role_serve(pg, supa, signer, daemon_factory):
    """The README's "Database role" SQL, run by hand as the owner, is enough to serve."""
    db, role = supa
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Database role", 1)[1].split("\n## ", 1)[0]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0]
    assert "CREATE POLICY" in sql and "GRANT UPDATE" in sql
    import re
    sql = re.sub(r"\bivs_syncd\b", role, sql).replace("ivs_syncd_ivs_syncd_", f"ivs_syncd_{role}_")
    pg.psql(sql, db)
    ch = channel_arn(8803)
    sid = add_show(pg, db, ch)
    d = daemon_factory(base_env(pg, db, signer, DATABASE_URL=role_url(pg, db, role)))
    st, body = d.json("POST", "/eventbridge", json.dumps(ivs_event("Stream Start", ch, "st-rd")), EB)
    assert (st, body) == (200, {"outcome": "applied"})
    assert pg.psql(f"SELECT stream_status FROM shows WHERE id = '{sid}'", db) == "live"
    # and it is exactly what migrate --grant-to would run
    out = migrate(clean_env(DATABASE_URL=pg.url(db)), "--grant-to", role)
    ran = [l[len("migrate: "):] for l in out.splitlines()
           if l.startswith(("migrate: GRANT", "migrate: REVOKE", "migrate: DROP", "migrate: CREATE"))]
    norm = lambda x: " ".join(x.replace(";", " ").split())
    assert norm(" ".join(ran)) == norm(sql), (ran, sql)
