"""AWS credentials as the AWS SDKs find them (issue 13 section 2).

Every source of the chain against a fake on loopback that checks what it is
sent, and FakeIVS (which verifies each SigV4 signature) accepting only the keys
that source issued:

  environment -> web identity (FakeSTS) -> profile / credential_process (files)
  -> container (FakeIVS's /creds) -> instance metadata (FakeIMDS, IMDSv2 only).

Binary: $IVS_SYNCD_BIN.
"""
import datetime as _dt
import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import add_show, base_env as db_env, channel_arn  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402

BIN = os.environ.get("IVS_SYNCD_BIN", "/work/main/build/ivs-syncd")
ACCT = "123456789012"
REGION = "us-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/ivs-syncd-irsa"
KEY = "svc-role-key-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
SYNC = "/functions/v1/sync-ivs-stream-status"


def arn(cid, region=REGION):
    return "arn:aws:ivs:%s:%s:channel/%s" % (region, ACCT, cid)


def iso(t):
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Fake:
    """A loopback HTTP server whose handler is self.handle(req) -> (status, ctype, body)."""

    def __init__(self, ivs, prefix):
        self.ivs, self.prefix = ivs, prefix
        self.lock = threading.Lock()
        self.seen = []      # what the fake was sent: dicts
        self.issued = []    # access key ids issued, in order
        self.ttl = 3600.0
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, ctype, out = fake.handle(self, body)
                out = out.encode() if isinstance(out, str) else out
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_PUT = do_POST = _any

        self.srv = _Server(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def issue(self):
        """New temporary keys, accepted by FakeIVS from now on."""
        with self.lock:
            n = len(self.issued) + 1
            akid = "ASIA%s%08d" % (self.prefix, n)
            self.issued.append(akid)
        secret = secrets.token_urlsafe(30)
        token = "Fwo" + self.prefix + secrets.token_urlsafe(60)
        self.ivs.add_credentials(akid, secret, token)
        return akid, secret, token, iso(time.time() + self.ttl)

    def record(self, **kw):
        with self.lock:
            self.seen.append(kw)

    def log(self):
        with self.lock:
            return list(self.seen)


class FakeIMDS(_Fake):
    """IMDSv2 only: a GET without a token from PUT /latest/api/token is refused (401)."""
    ROLE = "ivs-syncd-instance"

    def __init__(self, ivs):
        super().__init__(ivs, "IMDS")
        self.tokens = set()

    def handle(self, h, body):
        path = h.path
        ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        tok = h.headers.get("X-aws-ec2-metadata-token")
        if h.command == "PUT" and path == "/latest/api/token":
            ok = ttl is not None and ttl.isdigit() and 1 <= int(ttl) <= 21600
            self.record(method="PUT", path=path, ttl=ttl, status=200 if ok else 400)
            if not ok:
                return 400, "text/plain", "bad ttl"
            t = secrets.token_urlsafe(32)
            with self.lock:
                self.tokens.add(t)
            return 200, "text/plain", t
        with self.lock:
            valid = tok in self.tokens
        base = "/latest/meta-data/iam/security-credentials/"
        if h.command != "GET" or not valid:
            self.record(method=h.command, path=path, token=bool(tok), status=401)
            return 401, "text/plain", "Unauthorized"
        if path == base:
            self.record(method="GET", path=path, token=True, status=200)
            return 200, "text/plain", self.ROLE
        if path == base + self.ROLE:
            self.record(method="GET", path=path, token=True, status=200)
            akid, secret, token, exp = self.issue()
            return 200, "application/json", json.dumps({
                "Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                "AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                "Expiration": exp})
        self.record(method="GET", path=path, token=True, status=404)
        return 404, "text/plain", "Not Found"


class FakeSTS(_Fake):
    """AssumeRoleWithWebIdentity: checks every form field against what it expects."""

    def __init__(self, ivs, token_file, session_name=None):
        super().__init__(ivs, "STS")
        self.token_file = Path(token_file)
        self.session_name = session_name

    def _error(self, code, msg):
        return 400, "text/xml", (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>r-1</RequestId></ErrorResponse>" % (code, msg))

    def handle(self, h, body):
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        ctype = h.headers.get("Content-Type", "")
        want_token = self.token_file.read_text().strip()
        rec = dict(method=h.command, path=h.path, ctype=ctype,
                   fields={k: (v if k != "WebIdentityToken" else "<token %s>" %
                               ("ok" if v == want_token else "WRONG"))
                           for k, v in form.items()},
                   signed="Authorization" in h.headers)
        problems = []
        if h.command != "POST" or not ctype.startswith("application/x-www-form-urlencoded"):
            problems.append("not a form POST")
        if form.get("Action") != "AssumeRoleWithWebIdentity":
            problems.append("Action")
        if form.get("Version") != "2011-06-15":
            problems.append("Version")
        if form.get("RoleArn") != ROLE_ARN:
            problems.append("RoleArn")
        if not form.get("RoleSessionName") or (
                self.session_name and form["RoleSessionName"] != self.session_name):
            problems.append("RoleSessionName")
        if form.get("WebIdentityToken") != want_token:
            rec["status"] = 400
            self.record(**rec)
            return self._error("InvalidIdentityToken", "The web identity token is not valid")
        if problems:
            rec["status"] = 400
            self.record(**rec)
            return self._error("ValidationError", "bad fields: " + ", ".join(problems))
        rec["status"] = 200
        self.record(**rec)
        akid, secret, token, exp = self.issue()
        return 200, "text/xml", (
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult>"
            "<SubjectFromWebIdentityToken>system:serviceaccount:ns:ivs-syncd"
            "</SubjectFromWebIdentityToken>"
            "<AssumedRoleUser><Arn>%s/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId>"
            "</AssumedRoleUser>"
            "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
            "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
            "<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>"
            "<ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata>"
            "</AssumeRoleWithWebIdentityResponse>" % (ROLE_ARN, akid, secret, token, exp))


# ---- fixtures and helpers ----

@pytest.fixture
def ivs():
    f = FakeIVS(credentials={})  # accepts only what a test adds
    yield f
    f.close()


@pytest.fixture
def imds(ivs):
    f = FakeIMDS(ivs)
    yield f
    f.close()


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "web-identity-token"
    p.write_text("eyJhbGciOiJSUzI1NiJ9.first-token.sig\n")
    return p


@pytest.fixture
def sts(ivs, token_file):
    f = FakeSTS(ivs, token_file)
    yield f
    f.close()


def env(ivs, **extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IVS_", "LOG_"))}
    e.update({"AWS_ENDPOINT_URL_IVS": ivs.url, "AWS_REGION": REGION, "LOG_LEVEL": "info",
              "LOG_FORMAT": "text", "AWS_EC2_METADATA_DISABLED": "true",
              "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ivs-syncd-test/credentials",
              "AWS_CONFIG_FILE": "/nonexistent/ivs-syncd-test/config"})
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


def imds_env(imds):
    return {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}


def web_env(sts, token_file, **kw):
    return dict(AWS_ROLE_ARN=ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE=token_file,
                AWS_ENDPOINT_URL_STS=sts.url, **kw)


def get_stream(e, cid="c1", timeout=30):
    t0 = time.monotonic()
    p = subprocess.run([BIN, "ivs", "get-stream", arn(cid)], env=e, capture_output=True,
                       text=True, timeout=timeout)
    p.elapsed = time.monotonic() - t0
    p.lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return p


def ivs_keys(ivs):
    return [r["access_key"] for r in ivs.stats()["requests"] if r["op"] == "GetStream"]


def ok(p, ivs, akid, source):
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.lines == [{"channelArn": p.lines[0]["channelArn"], "offline": True}]
    st = ivs.stats()
    assert st["bad_signatures"] == 0, st["last_signature_error"]
    assert ivs_keys(ivs)[-1] == akid
    assert "AWS credentials from %s" % source in p.stderr, p.stderr


def no_secret(p, *vals):
    for v in vals:
        assert v not in p.stdout and v not in p.stderr


# ---- one test per source ----

def test_environment(ivs):
    ivs.add_credentials("AKIDENV", "env-secret")
    p = get_stream(env(ivs, AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="env-secret"))
    ok(p, ivs, "AKIDENV", "environment")
    no_secret(p, "env-secret")


def test_web_identity(ivs, sts, token_file):
    sts.session_name = "sess-1"
    p = get_stream(env(ivs, **web_env(sts, token_file, AWS_ROLE_SESSION_NAME="sess-1")))
    log = sts.log()
    assert len(log) == 1 and log[0]["status"] == 200, log
    assert log[0]["method"] == "POST" and not log[0]["signed"]
    assert log[0]["fields"] == {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                "RoleArn": ROLE_ARN, "RoleSessionName": "sess-1",
                                "WebIdentityToken": "<token ok>"}
    ok(p, ivs, sts.issued[0], "web identity")
    no_secret(p, "first-token")


def test_web_identity_default_session_name_and_sts_error(ivs, sts, token_file):
    token_file.write_text("not-what-sts-wants\n")
    sts.token_file = token_file.parent / "expected"
    sts.token_file.write_text("the-real-token")
    p = get_stream(env(ivs, **web_env(sts, token_file)))
    assert p.returncode == 1
    assert "InvalidIdentityToken: The web identity token is not valid" in p.stdout + p.stderr
    assert sts.log()[0]["fields"]["RoleSessionName"].startswith("ivs-syncd-")
    assert ivs.stats()["calls"]["GetStream"] == 0
    no_secret(p, "not-what-sts-wants", "the-real-token")


def test_web_identity_needs_both_variables(ivs, token_file):
    p = get_stream(env(ivs, AWS_ROLE_ARN=ROLE_ARN))
    assert p.returncode != 0
    assert "AWS_ROLE_ARN" in p.stderr and "AWS_WEB_IDENTITY_TOKEN_FILE" in p.stderr


def write(path, text):
    path.write_text(text)
    return path


def test_profile_static_keys(ivs, tmp_path):
    ivs.add_credentials("AKIDPROF", "prof-secret", "prof-token")
    creds = write(tmp_path / "credentials",
                  "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = x\n\n"
                  "# a comment\n[work]\naws_access_key_id = AKIDPROF\n"
                  "aws_secret_access_key = prof-secret\naws_session_token = prof-token\n")
    p = get_stream(env(ivs, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PROFILE="work"))
    ok(p, ivs, "AKIDPROF", "profile work")
    req = ivs.stats()["requests"][-1]
    assert req["session_token"]
    no_secret(p, "prof-secret", "prof-token")


def test_profile_default_from_config_file(ivs, tmp_path):
    ivs.add_credentials("AKIDCFG", "cfg-secret")
    cfg = write(tmp_path / "config",
                "[profile other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n"
                "[default]\nregion = us-west-2\naws_access_key_id = AKIDCFG\n"
                "aws_secret_access_key = cfg-secret\ns3 =\n  max_concurrent_requests = 2\n")
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg))
    ok(p, ivs, "AKIDCFG", "profile default")


PROCESS = r"""#!/bin/sh
# a credential_process: counts its runs, prints new keys each time
n=$(cat "@STATE@" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "@STATE@"
echo "$@" >> "@ARGS@"
exp=$(date -u -d "+@TTL@ seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{"Version": 1, "AccessKeyId": "ASIAPROC%08d", "SecretAccessKey": "proc-secret-%d", "SessionToken": "proc-token-%d", "Expiration": "%s"}\n' $n $n $n "$exp"
"""


def make_process(tmp_path, ivs, ttl=3600, n=3):
    script = tmp_path / "creds-helper"
    script.write_text(PROCESS.replace("@STATE@", str(tmp_path / "runs"))
                      .replace("@ARGS@", str(tmp_path / "args")).replace("@TTL@", str(ttl)))
    script.chmod(0o755)
    for i in range(1, n + 1):
        ivs.add_credentials("ASIAPROC%08d" % i, "proc-secret-%d" % i, "proc-token-%d" % i)
    return script


def test_credential_process(ivs, tmp_path):
    script = make_process(tmp_path, ivs)
    cfg = write(tmp_path / "config",
                "[profile proc]\ncredential_process = %s --role \"a b\"\n" % script)
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg, AWS_PROFILE="proc"))
    ok(p, ivs, "ASIAPROC00000001", "credential_process (profile proc)")
    assert (tmp_path / "runs").read_text().strip() == "1"
    assert (tmp_path / "args").read_text().strip() == "--role a b"
    no_secret(p, "proc-secret-1", "proc-token-1")


def test_credential_process_failure_is_reported(ivs, tmp_path):
    cfg = write(tmp_path / "config", "[default]\ncredential_process = sh -c 'exit 3'\n")
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg))
    assert p.returncode == 1
    assert "credential_process (profile default): exited with status 3" in p.stdout + p.stderr


def test_container(ivs):
    p = get_stream(env(ivs, AWS_CONTAINER_CREDENTIALS_FULL_URI=ivs.url + "/creds/role"))
    st = ivs.stats()
    assert st["creds_calls"] == 1
    ok(p, ivs, "ASIAFAKE000000000001", "container")


def test_instance_metadata(ivs, imds):
    p = get_stream(env(ivs, **imds_env(imds)))
    log = imds.log()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("PUT", "/latest/api/token", 200),
        ("GET", "/latest/meta-data/iam/security-credentials/", 200),
        ("GET", "/latest/meta-data/iam/security-credentials/" + FakeIMDS.ROLE, 200)]
    assert log[0]["ttl"] == "21600" and all(r["token"] for r in log[1:])
    ok(p, ivs, imds.issued[0], "instance metadata (role %s)" % FakeIMDS.ROLE)


def test_imds_fake_refuses_imdsv1(imds):
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(imds.url + "/latest/meta-data/iam/security-credentials/", timeout=5)
    assert e.value.code == 401


def test_imds_disabled(ivs, imds):
    p = get_stream(env(ivs, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
                       AWS_EC2_METADATA_DISABLED="true"))
    assert p.returncode == 1
    assert "AWS credentials not configured" in p.stdout + p.stderr
    assert imds.log() == []


# ---- precedence ----

def test_precedence(ivs, sts, token_file, imds, tmp_path):
    ivs.add_credentials("AKIDENV", "env-secret")
    ivs.add_credentials("AKIDPROF", "prof-secret")
    creds = write(tmp_path / "credentials",
                  "[default]\naws_access_key_id = AKIDPROF\naws_secret_access_key = prof-secret\n")
    layers = [
        ("environment", dict(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="env-secret")),
        ("web identity", web_env(sts, token_file)),
        ("profile default", dict(AWS_SHARED_CREDENTIALS_FILE=creds)),
        ("container", dict(AWS_CONTAINER_CREDENTIALS_FULL_URI=ivs.url + "/creds/role")),
        ("instance metadata (role %s)" % FakeIMDS.ROLE, imds_env(imds)),
    ]
    for i, (source, _) in enumerate(layers):
        e = {}
        for _, extra in layers[i:]:
            e.update({k: str(v) for k, v in extra.items()})
        before = (len(sts.log()), ivs.stats()["creds_calls"], len(imds.log()))
        p = get_stream(env(ivs, **e), cid="p%d" % i)
        assert p.returncode == 0, (source, p.stdout + p.stderr)
        assert "AWS credentials from %s" % source in p.stderr, (source, p.stderr)
        after = (len(sts.log()), ivs.stats()["creds_calls"], len(imds.log()))
        # only the winner was asked
        asked = [name for name, b, a in zip(("sts", "container", "imds"), before, after) if a > b]
        want = {"web identity": ["sts"], "container": ["container"]}.get(source, [])
        if source.startswith("instance"):
            want = ["imds"]
        assert asked == want, (source, asked)
    assert ivs.stats()["bad_signatures"] == 0


# ---- unsupported profiles ----

@pytest.mark.parametrize("body,key", [
    ("role_arn = arn:aws:iam::1:role/r\nsource_profile = base\n", "role_arn"),
    ("sso_session = corp\nsso_account_id = 1\nsso_role_name = r\n", "sso_session"),
    ("credential_source = Ec2InstanceMetadata\n", "credential_source"),
])
def test_unsupported_profile_is_a_clear_error(ivs, imds, tmp_path, body, key):
    cfg = write(tmp_path / "config", "[profile corp]\n" + body)
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg, AWS_PROFILE="corp", **imds_env(imds)))
    assert p.returncode != 0
    assert "profile corp: %s" % key in p.stderr and "not supported" in p.stderr, p.stderr
    assert imds.log() == []  # never silently skipped to the next source


def test_profile_naming_nothing_is_skipped(ivs, imds, tmp_path):
    cfg = write(tmp_path / "config", "[default]\nregion = us-west-2\n")
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg, **imds_env(imds)))
    ok(p, ivs, imds.issued[0], "instance metadata (role %s)" % FakeIMDS.ROLE)


def test_missing_named_profile_is_an_error(ivs, tmp_path):
    cfg = write(tmp_path / "config", "[default]\nregion = us-west-2\n")
    p = get_stream(env(ivs, AWS_CONFIG_FILE=cfg, AWS_PROFILE="nope"))
    assert p.returncode != 0 and "AWS_PROFILE: profile nope" in p.stderr


# ---- a missing instance metadata service does not delay start ----

def test_missing_imds_does_not_delay_start(pg, db, daemon_factory):
    # A black hole: accepts nothing, answers nothing (the 1 s connect timeout applies).
    e = db_env(pg, db, AWS_EC2_METADATA_DISABLED="false",
               AWS_EC2_METADATA_SERVICE_ENDPOINT="http://192.0.2.1")
    t0 = time.monotonic()
    d = daemon_factory(e)  # waits for /readyz
    assert time.monotonic() - t0 < 3.0
    code, _ = d.json("GET", "/healthz")
    assert code == 200
    assert d.stop() == 0


def test_missing_imds_cli_fails_fast(ivs):
    p = get_stream(env(ivs, AWS_EC2_METADATA_DISABLED="false",
                       AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9"))
    assert p.returncode == 1
    assert "AWS credentials not configured" in p.stdout + p.stderr
    assert p.elapsed < 3.0


# ---- refresh before expiry, in a running daemon ----

def sync_show(d, sid):
    code, body = d.json("POST", SYNC, {"showId": sid}, AUTH, timeout=30)
    assert code == 200, body
    return body


def wait_for(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def refresh_case(pg, db, daemon_factory, ivs, fake_src, extra, source):
    fake_src.ttl = 24  # refreshed at half the remaining lifetime, ~12 s
    ch = arn("r1")
    sid = add_show(pg, db, ch)
    e = db_env(pg, db, AWS_ENDPOINT_URL_IVS=ivs.url, AWS_REGION=REGION, SERVICE_ROLE_KEY=KEY,
               SYNC_FRESHNESS="0", **extra)
    t0 = time.monotonic()
    d = daemon_factory(e)
    sync_show(d, sid)
    assert ivs_keys(ivs)[-1] == fake_src.issued[0]
    wait_for(lambda: len(fake_src.issued) >= 2, 25, "a second fetch")
    elapsed = time.monotonic() - t0
    assert 8 <= elapsed < 24, elapsed  # before expiry, not at once
    # the answer is on its way to the daemon: a later IVS call uses the new keys
    def new_keys_used():
        sync_show(d, sid)
        return ivs_keys(ivs)[-1] == fake_src.issued[1]
    wait_for(new_keys_used, 3, "an IVS call with the new keys")
    assert time.monotonic() - t0 < 24  # the old ones had not expired yet
    assert ivs.stats()["bad_signatures"] == 0
    assert any("AWS credentials from %s" % source in line for line in d.text().splitlines())
    assert d.stop() == 0


def test_refresh_instance_metadata(pg, db, daemon_factory, ivs, imds):
    refresh_case(pg, db, daemon_factory, ivs, imds, imds_env(imds),
                 "instance metadata (role %s)" % FakeIMDS.ROLE)
    # each refresh is a full IMDSv2 exchange with a fresh session token
    assert [r["method"] for r in imds.log()][:6] == ["PUT", "GET", "GET"] * 2


def test_refresh_web_identity_rereads_the_token(pg, db, daemon_factory, ivs, sts, token_file):
    def rotate():
        # the token file is rotated (as kubelet does) before the refresh
        time.sleep(2)
        token_file.write_text("eyJhbGciOiJSUzI1NiJ9.second-token.sig\n")
    threading.Thread(target=rotate, daemon=True).start()
    refresh_case(pg, db, daemon_factory, ivs, sts, web_env(sts, token_file), "web identity")
    assert [r["fields"]["WebIdentityToken"] for r in sts.log()][:2] == ["<token ok>"] * 2
    assert all(r["status"] == 200 for r in sts.log())


# ---- doctor names the source ----

def doctor(e):
    return subprocess.run([BIN, "doctor"], env=e, capture_output=True, text=True, timeout=90)


def test_doctor_names_the_source(pg, db, ivs, imds, tmp_path):
    e = db_env(pg, db, AWS_ENDPOINT_URL_IVS=ivs.url, AWS_REGION=REGION, LISTEN="127.0.0.1:0",
               **imds_env(imds))
    outs = []
    r = doctor(e)
    outs.append(r.stdout + r.stderr)
    assert re.search(r"^ok +aws +credentials from instance metadata \(role %s\)$"
                     % FakeIMDS.ROLE, r.stdout, re.M), r.stdout
    assert re.search(r"^ok +ivs:GetStream ", r.stdout, re.M), r.stdout
    script = make_process(tmp_path, ivs)
    cfg = write(tmp_path / "config", "[profile p]\ncredential_process = %s\n" % script)
    r = doctor(dict(e, AWS_CONFIG_FILE=str(cfg), AWS_PROFILE="p"))
    outs.append(r.stdout + r.stderr)
    assert re.search(r"^ok +aws +credentials from credential_process \(profile p\)$",
                     r.stdout, re.M), r.stdout
    # nothing anywhere: a warning, not a failure, and no delay
    r = doctor(dict(e, AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9"))
    assert re.search(r"^warn +aws +no AWS credentials \(environment, web identity, profile, "
                     r"container, instance metadata: instance metadata unreachable", r.stdout,
                     re.M), r.stdout
    for s in ("proc-secret", "proc-token", "FwoIMDS"):
        assert all(s not in o for o in outs)


class _ProcSource:
    """refresh_case's view of a credential_process: the keys it printed, in order."""

    def __init__(self, runs):
        self.runs, self.ttl = runs, None

    @property
    def issued(self):
        n = int(self.runs.read_text()) if self.runs.exists() else 0
        return ["ASIAPROC%08d" % i for i in range(1, n + 1)]


def test_refresh_credential_process(pg, db, daemon_factory, ivs, tmp_path):
    script = make_process(tmp_path, ivs, ttl=24)
    cfg = write(tmp_path / "config", "[default]\ncredential_process = %s\n" % script)
    refresh_case(pg, db, daemon_factory, ivs, _ProcSource(tmp_path / "runs"),
                 dict(AWS_CONFIG_FILE=cfg), "credential_process (profile default)")
