"""Secrets from files (<NAME>_FILE, $CREDENTIALS_DIRECTORY/<NAME>), one place per secret."""
import json
import os
import subprocess

from conftest import BIN, base_env, channel_arn, add_show, ivs_event, clean_env

EB_HDR = "X-Ivs-Syncd-Token"


def start_fails(env, *args):
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", *args], env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_token_and_database_url_from_files(pg, db, tmp_path, daemon_factory):
    tok = tmp_path / "token"
    tok.write_text("file-token-123\n")  # one trailing newline is stripped
    url = tmp_path / "dburl"
    url.write_text(pg.url(db) + "\r\n")
    env = base_env(pg, db, DATABASE_URL=None, EVENTBRIDGE_TOKEN=None,
                   EVENTBRIDGE_TOKEN_FILE=str(tok), DATABASE_URL_FILE=str(url))
    d = daemon_factory(env)  # ready: the database URL came from the file
    ch = channel_arn(9101)
    add_show(pg, db, ch)
    ev = json.dumps(ivs_event("Stream Start", ch, "st-file"))
    assert d.json("POST", "/eventbridge", ev, {EB_HDR: "file-token-12"})[0] == 401
    st, body = d.json("POST", "/eventbridge", ev, {EB_HDR: "file-token-123",
                                                   "Content-Type": "application/json"})
    assert st == 200 and body == {"outcome": "applied"}, body


def test_credentials_directory(pg, db, tmp_path, daemon_factory):
    (tmp_path / "EVENTBRIDGE_TOKEN").write_text("cred-dir-token")
    env = base_env(pg, db, EVENTBRIDGE_TOKEN=None, CREDENTIALS_DIRECTORY=str(tmp_path))
    d = daemon_factory(env)
    ev = json.dumps(ivs_event("Stream Start", channel_arn(9102), "st-cd"))
    st, _ = d.json("POST", "/eventbridge", ev, {EB_HDR: "cred-dir-token",
                                                "Content-Type": "application/json"})
    assert st == 200


def test_one_place_per_secret(pg, db, tmp_path):
    f = tmp_path / "jwt"
    f.write_text("s3cret")
    line = start_fails(base_env(pg, db, JWT_SECRET="a", JWT_SECRET_FILE=str(f)))
    assert line.startswith("JWT_SECRET:") and "JWT_SECRET_FILE" in line and "one place" in line
    (tmp_path / "JWT_SECRET").write_text("x")
    line = start_fails(base_env(pg, db, JWT_SECRET_FILE=str(f), CREDENTIALS_DIRECTORY=str(tmp_path)))
    assert "JWT_SECRET_FILE" in line and "CREDENTIALS_DIRECTORY" in line
    line = start_fails(base_env(pg, db, SERVICE_ROLE_KEY="k"), "--service-role-key", "k2")
    assert line.startswith("SERVICE_ROLE_KEY:") and "--service-role-key" in line
    # the Supabase alias counts as the environment too
    line = start_fails(base_env(pg, db, SUPABASE_JWT_SECRET="a", JWT_SECRET_FILE=str(f)))
    assert "SUPABASE_JWT_SECRET" in line and "JWT_SECRET_FILE" in line


def test_unreadable_or_empty_secret_stops_start(pg, db, tmp_path):
    line = start_fails(base_env(pg, db, JWT_SECRET_FILE=str(tmp_path / "missing")))
    assert line.startswith("JWT_SECRET:") and "cannot read" in line
    empty = tmp_path / "empty"
    empty.write_text("\n")
    line = start_fails(base_env(pg, db, SERVICE_ROLE_KEY_FILE=str(empty)))
    assert line.startswith("SERVICE_ROLE_KEY:") and "empty" in line
    os.chmod(tmp_path, 0o700)
    cd = tmp_path / "creds"
    cd.mkdir()
    (cd / "AWS_SECRET_ACCESS_KEY").write_text("")
    line = start_fails(base_env(pg, db, AWS_ACCESS_KEY_ID="AKID", CREDENTIALS_DIRECTORY=str(cd)))
    assert line.startswith("AWS_SECRET_ACCESS_KEY:") and "empty" in line


def test_secret_on_command_line_warns(pg, db, daemon_factory):
    env = base_env(pg, db, EVENTBRIDGE_TOKEN=None)
    d = daemon_factory(env, args=("--eventbridge-token", "cli-token"))
    assert "visible to other users in the process list" in d.text()
    assert "cli-token" not in d.text()


def test_help_names_file_options():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, env=clean_env())
    for name in ("SERVICE_ROLE_KEY", "JWT_SECRET", "EVENTBRIDGE_TOKEN", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "DATABASE_URL"):
        assert f"{name}_FILE" in r.stdout, name
