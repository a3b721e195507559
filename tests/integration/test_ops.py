"""Operations: doctor, the README's option table, metrics after a scripted scenario."""
import json
import re
import socket
import subprocess
import uuid

from conftest import BIN, ROOT, TOPIC, base_env, channel_arn, clean_env, ivs_event
from fakeivs import FakeIVS

EB = {"X-Ivs-Syncd-Token": "eb-secret-token"}


def test_every_option_is_in_the_readme():
    help_text = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    names = re.findall(r"^  ([A-Z][A-Z0-9_]+) +--", help_text, re.M)
    assert len(names) > 40
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in names if f"`{n}`" not in readme]
    assert not missing, f"options missing from README.md: {missing}"


def doctor(env):
    return subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=90)


def test_doctor(pg, db, signer):
    with FakeIVS() as fake:
        env = base_env(pg, db, signer, AWS_ACCESS_KEY_ID="AKIDFAKE",
                       AWS_SECRET_ACCESS_KEY="fake-secret", AWS_ENDPOINT_URL_IVS=fake.url,
                       LISTEN="127.0.0.1:0")
        r = doctor(env)
        assert r.returncode == 0, r.stdout + r.stderr
        for what in ("database", "migrations", "sns", "certificates", "listen", "aws",
                     "ivs:GetStream", "ivs:ListStreams"):
            assert re.search(rf"^ok +{re.escape(what)} ", r.stdout, re.M), (what, r.stdout)
        fake.configure(deny_list_streams=True)
        r = doctor(env)
        assert r.returncode == 0 and re.search(r"^warn +ivs:ListStreams +denied", r.stdout, re.M)
        env["AWS_SECRET_ACCESS_KEY"] = "wrong"
        r = doctor(env)
        assert r.returncode == 1 and re.search(r"^FAIL +ivs:GetStream", r.stdout, re.M)
    pg.psql("CREATE DATABASE unmigrated")
    r = doctor(base_env(pg, "unmigrated", signer, SNS_TOPIC_ARNS=""))
    assert r.returncode == 1
    assert re.search(r"^FAIL +migrations .*run ivs-syncd migrate", r.stdout, re.M), r.stdout
    assert re.search(r"^FAIL +sns ", r.stdout, re.M)
    r = doctor(clean_env(DATABASE_URL="host=127.0.0.1 port=1 dbname=x"))
    assert r.returncode == 1 and re.search(r"^FAIL +database +cannot connect", r.stdout, re.M)
    # no secret in doctor's output
    assert "fake-secret" not in r.stdout


def test_metrics_after_a_scenario(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    ch = channel_arn(1)
    pg.psql(f"INSERT INTO shows (title, ivs_channel_arn) VALUES ('m', '{ch}')", db)
    # labelled counters are created on first use: before the scenario they are absent
    before = {(k, l): d.metric(k, l, absent_ok=True) for k, l in [
        ("ivs_syncd_events_total", 'outcome="applied",via="sns"'),
        ("ivs_syncd_events_total", 'outcome="duplicate",via="sns"'),
        ("ivs_syncd_events_total", 'outcome="ignored",via="eventbridge"'),
        ("ivs_syncd_sns_rejected_total", 'reason="signature"'),
        ("ivs_syncd_sns_rejected_total", 'reason="topic"'),
        ("ivs_syncd_http_requests_total", 'route="sns",status="200"'),
        ("ivs_syncd_http_requests_total", 'route="sns",status="403"'),
    ]}
    assert all(v == 0 for v in before.values()), before
    start = json.dumps(signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-1"))))
    assert d.json("POST", "/sns", start)[1]["outcome"] == "applied"
    assert d.json("POST", "/sns", start)[1]["outcome"] == "duplicate"
    bad = json.loads(start)
    bad["Message"] = bad["Message"].replace("st-1", "st-2")
    assert d.json("POST", "/sns", json.dumps(bad))[0] == 403
    other = signer.envelope("{}", topic="arn:aws:sns:us-east-1:999999999999:x")
    assert d.json("POST", "/sns", json.dumps(other))[0] == 403
    ev = ivs_event("Session Created", ch, "st-1")
    assert d.json("POST", "/eventbridge", ev, EB)[1]["outcome"] == "ignored"
    assert d.metric("ivs_syncd_events_total", 'outcome="applied",via="sns"') == 1
    assert d.metric("ivs_syncd_events_total", 'outcome="duplicate",via="sns"') == 1
    assert d.metric("ivs_syncd_events_total", 'outcome="ignored",via="eventbridge"') == 1
    assert d.metric("ivs_syncd_sns_rejected_total", 'reason="signature"') == 1
    assert d.metric("ivs_syncd_sns_signature_failures_total", 'reason="signature"') == 1
    assert d.metric("ivs_syncd_sns_rejected_total", 'reason="topic"') == 1
    assert d.metric("ivs_syncd_http_requests_total", 'route="sns",status="200"') == 2
    assert d.metric("ivs_syncd_http_requests_total", 'route="sns",status="403"') == 2
    assert d.metric("ivs_syncd_http_requests_total", 'route="eventbridge",status="200"') == 1
    assert d.metric("ivs_syncd_http_request_seconds_count", 'route="sns"') == 4
    assert d.metric("ivs_syncd_sns_cert_cache_total", 'result="file"') == 1
    assert d.metric("ivs_syncd_sns_cert_cache_total", 'result="hit"') == 2  # the stranger's topic is refused before any lookup
    assert d.metric("ivs_syncd_db_pool_connections_up", 'pool="main"') == 4
    _, _, text = d.request("GET", "/metrics")
    for secret in ("eb-secret-token",):
        assert secret not in text.decode()
    # no secret in any log line
    assert "eb-secret-token" not in d.text()


def test_sighup_reopens_the_log_file(pg, db, tmp_path):
    import http.client
    import os
    import signal
    import time
    log = tmp_path / "ivs.log"
    p = subprocess.Popen([BIN, "serve"], env=base_env(pg, db, LOG_FILE=str(log)))
    try:
        port = None
        deadline = time.time() + 10
        while port is None and time.time() < deadline:
            if log.exists():
                for line in log.read_text().splitlines():
                    m = json.loads(line)
                    if m["msg"].startswith("listening on"):
                        port = m["port"]
            time.sleep(0.05)
        assert port

        def get(path, rid):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path, headers={"X-Request-Id": rid})
            c.getresponse().read()
            c.close()
        get("/nope", "before-hup")
        os.rename(log, tmp_path / "ivs.log.1")
        p.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and not log.exists():
            time.sleep(0.05)
        get("/nope", "after-hup")
        time.sleep(0.2)
        new = [json.loads(line) for line in log.read_text().splitlines()]
        old = (tmp_path / "ivs.log.1").read_text()
        assert any(line.get("request_id") == "after-hup" for line in new)
        assert "after-hup" not in old and "before-hup" in old
        for line in new:
            assert {"time", "level", "msg"} <= set(line)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0


def test_make_install_honours_prefix_and_destdir(tmp_path):
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={tmp_path}", "PREFIX=/opt/ivs"],
                       cwd=ROOT, capture_output=True, text=True,
                       env=dict(clean_env(), BUILD=str(__import__("pathlib").Path(BIN).parent)))
    assert r.returncode == 0, r.stderr
    root = tmp_path / "opt" / "ivs"
    assert (root / "bin" / "ivs-syncd").exists()
    assert (root / "share" / "ivs-syncd" / "sql" / "002_state.sql").exists()
    assert (root / "share" / "man" / "man8" / "ivs-syncd.8").exists()
    unit = (root / "lib" / "systemd" / "system" / "ivs-syncd.service").read_text()
    assert "ExecStart=/opt/ivs/bin/ivs-syncd" in unit


def test_doctor_listen_held_by_our_own_daemon(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    env = base_env(pg, db, signer, LISTEN=f"127.0.0.1:{d.port}")
    r = doctor(env)
    assert re.search(rf"^ok +listen +127.0.0.1:{d.port} is in use by a running ivs-syncd",
                     r.stdout, re.M), r.stdout
    # a port held by something else is still a failure
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = doctor(base_env(pg, db, signer, LISTEN=f"127.0.0.1:{port}"))
        assert re.search(rf"^FAIL +listen +127.0.0.1:{port} cannot be bound", r.stdout, re.M), \
            r.stdout
    finally:
        s.close()


def test_credentials_state_gauge(pg, db, signer, daemon_factory):
    """ivs_syncd_aws_credentials: one series per state, 1 for the current one."""
    d = daemon_factory(base_env(pg, db, signer))  # no source configured
    assert d.metric("ivs_syncd_aws_credentials", 'state="none"') == 1
    assert d.metric("ivs_syncd_aws_credentials", 'state="ready"') == 0
    d.stop()
    with FakeIVS() as fake:
        d = daemon_factory(base_env(pg, db, signer, AWS_ACCESS_KEY_ID="AKIDFAKE",
                                    AWS_SECRET_ACCESS_KEY="fake-secret",
                                    AWS_ENDPOINT_URL_IVS=fake.url))
        assert d.metric("ivs_syncd_aws_credentials", 'state="ready"') == 1
        assert d.metric("ivs_syncd_aws_credentials", 'state="none"') == 0
