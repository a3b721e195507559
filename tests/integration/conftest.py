"""Fixtures for integration tests: a throwaway PostgreSQL cluster, the real
ivs-syncd binary on an ephemeral loopback port, a test SNS signing key and
certificate, helpers to talk HTTP to the daemon, and the helpers the test modules
share (a test module never imports another one; tests/faults/conftest.py re-exports
all of this module)."""
import base64
import datetime as _dt
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from fakeivs import FakeIVS

# helper modules whose asserts pytest should explain like a test module's
pytest.register_assert_rewrite("fault_scenarios")

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("IVS_SYNCD_BIN", str(ROOT / "build" / "ivs-syncd"))
TESTDATA = Path(os.environ.get("IVS_TESTDATA") or (ROOT / "tests" / "fixtures"))
ASAN = os.environ.get("IVS_ASAN") == "1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TOPIC = "arn:aws:sns:us-east-1:123456789012:ivs-events"
CERT_NAME = "SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
CERT_URL = "https://sns.us-east-1.amazonaws.com/" + CERT_NAME
ACCOUNT = "123456789012"
VALGRIND = os.environ.get("IVS_VALGRIND") == "1"
SLOW = 10 if VALGRIND else 1   # time budgets stretch under valgrind
CLK_TCK = os.sysconf("SC_CLK_TCK")
# the sync API and the EventBridge route as base_env/aws_env configure them
KEY = "svc-role-key-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}
SYNC = "/functions/v1/sync-ivs-stream-status"
SHOW_COLS = ["status", "stream_status", "is_streaming", "ivs_stream_id", "went_live_at",
             "actual_start", "ended_at", "actual_end", "stream_state_at", "viewer_count",
             "stream_health", "stream_synced_at"]


def _libevent_version():
    out = subprocess.run(["pkg-config", "--modversion", "libevent"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return tuple(int(x) for x in out.split("-")[0].split(".")[:2])


# libevent >= 2.2 lets the daemon write the body of the errors evhttp answers itself
# (evhttp_set_errorcb): JSON. With 2.1 (Debian 12) they keep libevent's HTML page.
LIBEVENT_ERRORCB = _libevent_version() >= (2, 2)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _pg_user():
    """initdb refuses root: run PostgreSQL as an unprivileged user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run PostgreSQL")


class PG:
    """A throwaway PostgreSQL cluster in a temp dir, on its own port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ivs-pg-")
        self.user = _pg_user()
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        if self.user:
            shutil.chown(self.dir, self.user)
        self._run([str(PG_BIN / "initdb"), "-D", self.data, "-U", "ivs", "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\nlog_min_messages = warning\n")
        self.start()

    def _run(self, argv, check=True):
        if self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        return subprocess.run(argv, check=check, capture_output=True, text=True)

    def start(self):
        self._run([str(PG_BIN / "pg_ctl"), "-D", self.data, "-l",
                   os.path.join(self.dir, "log"), "-w", "-t", "30", "start"])

    def stop(self, mode="fast"):
        self._run([str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"],
                  check=False)

    def url(self, db="postgres"):
        return f"host={self.dir} port={self.port} user=ivs dbname={db}"

    def psql(self, sql, db="postgres"):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            self.url(db), "-c", sql], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return r.stdout.strip()

    def rows(self, sql, db):
        """Rows as lists of strings (psql unaligned, | separated)."""
        out = self.psql(sql, db)
        return [line.split("|") for line in out.splitlines() if line]

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    c = PG()
    # a migrated template: each test gets its own copy of it
    c.psql("CREATE DATABASE ivs_tmpl")
    r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=c.url("ivs_tmpl")),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    yield c
    c.destroy()


_db_counter = [0]


@pytest.fixture
def db(pg):
    """A fresh migrated database; returns its name."""
    _db_counter[0] += 1
    name = f"t{os.getpid()}_{_db_counter[0]}"
    pg.psql(f"CREATE DATABASE {name} TEMPLATE ivs_tmpl")
    yield name
    try:
        pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except RuntimeError:
        pass


# Never the machine's own AWS credentials: no instance metadata (a CI runner
# on EC2 has some), no ~/.aws files. Tests that want them set these again.
HERMETIC_AWS = {"AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ivs-syncd-test/credentials",
                "AWS_CONFIG_FILE": "/nonexistent/ivs-syncd-test/config"}


def clean_env(**kw):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SNS_", "EVENTBRIDGE_", "SUPABASE_", "IVS_MAX",
                                "RECONCILE_", "SYNC_", "JWT_", "SERVICE_ROLE", "LOG_",
                                "DATABASE_URL", "LISTEN"))}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env.update(HERMETIC_AWS)
    for k, v in kw.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


class Daemon:
    """The real ivs-syncd on 127.0.0.1:<ephemeral>."""

    def __init__(self, env, wait_ready=True, args=()):
        self.logf = tempfile.NamedTemporaryFile("w+", prefix="ivs-syncd-log-", delete=False)
        self.log_path = self.logf.name
        self.proc = subprocess.Popen([BIN, "serve", *args], env=env, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.time() + 15
        while time.time() < deadline and self.port is None:
            for line in self.lines():
                if line.get("msg", "").startswith("listening on"):
                    self.port = line["port"]
            if self.proc.poll() is not None:
                raise RuntimeError("ivs-syncd exited at start:\n" + self.text())
            time.sleep(0.02)
        if self.port is None:
            raise RuntimeError("ivs-syncd did not start:\n" + self.text())
        if wait_ready:
            self.wait_ready()

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def lines(self):
        out = []
        for raw in self.text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"raw": raw})
        return out

    def wait_ready(self, timeout=15, status=200):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                st, _, _ = self.request("GET", "/readyz")
                if st == status:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"/readyz never answered {status}:\n" + self.text())

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = self.conn(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None, timeout=10):
        st, h, data = self.request(method, path, body, headers, timeout)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, data

    def metrics_text(self):
        st, _, data = self.request("GET", "/metrics")
        assert st == 200, f"/metrics answered {st}"
        return data.decode()

    def metric(self, name, labels="", absent_ok=False):
        """The value of one series of /metrics: name plus labels as the daemon renders
        them ('kind="single",result="fresh"'), or the sum over every series of the
        family with labels="*".  A histogram's series are name_count, name_sum.

        A series that is not there is an error, so that a renamed metric cannot make an
        `== 0` assertion pass.  absent_ok=True is for the labelled series the daemon
        only creates on first use: it returns 0 when the series is missing, but the
        family must still be declared (its # TYPE line), so a rename still fails."""
        text = self.metrics_text()
        want = name + ("{" + labels + "}" if labels and labels != "*" else "")
        families = set()
        total, found = 0.0, False
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    families.add(parts[2])
                continue
            if line.startswith("#") or not line.strip():
                continue
            key, _, val = line.rpartition(" ")
            if key == want or (labels == "*" and key.split("{")[0] == name):
                total += float(val)
                found = True
        if found:
            return total
        family = name
        for suffix in ("_count", "_sum", "_bucket"):
            if name.endswith(suffix) and name[: -len(suffix)] in families:
                family = name[: -len(suffix)]
        if family not in families:
            raise AssertionError(f"/metrics has no family {family} (renamed or not declared?)")
        if absent_ok:
            return 0.0
        have = sorted({ln.rpartition(" ")[0] for ln in text.splitlines()
                       if ln.startswith(family) and not ln.startswith("#")})
        raise AssertionError(f"/metrics has no series {want}; the family has: {have}")

    def stop(self, sig=signal.SIGTERM, timeout=25):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("ivs-syncd did not exit:\n" + self.text())
        rc = self.proc.returncode
        text = self.text()
        self.logf.close()
        os.unlink(self.log_path)
        assert "AddressSanitizer" not in text and "LeakSanitizer" not in text and \
            "runtime error" not in text, text[-6000:]
        return rc


@pytest.fixture
def daemon_factory():
    started = []

    def make(env, **kw):
        d = Daemon(env, **kw)
        started.append(d)
        return d
    yield make
    for d in started:
        if d.proc.poll() is None or not d.logf.closed:
            rc = d.stop()
            assert rc == 0, f"ivs-syncd exited with {rc}"


class Signer:
    """A test SNS signing key and a certificate with CN sns.amazonaws.com."""

    def __init__(self, d):
        self.dir = d
        self.key = os.path.join(d, "key.pem")
        self.certdir = os.path.join(d, "certs")
        os.makedirs(self.certdir)
        self.cert = os.path.join(self.certdir, CERT_NAME)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", self.key, "-out", self.cert, "-days", "30",
                        "-subj", "/CN=sns.amazonaws.com"], check=True, capture_output=True)

    def sign(self, data, version=2):
        r = subprocess.run(["openssl", "dgst", "-sha256" if version == 2 else "-sha1",
                            "-sign", self.key], input=data.encode(), capture_output=True,
                           check=True)
        return base64.b64encode(r.stdout).decode()

    def envelope(self, message, type_="Notification", topic=TOPIC, version=2,
                 subject=None, timestamp=None, message_id=None, cert_url=CERT_URL,
                 subscribe_url=None, token=None):
        ts = timestamp or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        m = {"Type": type_, "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic,
             "Message": message, "Timestamp": ts, "SignatureVersion": str(version),
             "SigningCertURL": cert_url}
        if type_ == "Notification":
            if subject is not None:
                m["Subject"] = subject
            keys = ["Message", "MessageId"] + (["Subject"] if subject is not None else []) + \
                ["Timestamp", "TopicArn", "Type"]
            m["UnsubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
        else:
            m["SubscribeURL"] = subscribe_url or \
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
            m["Token"] = token or "abc"
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                    "Type"]
        sts = "".join(f"{k}\n{m[k]}\n" for k in keys)
        m["Signature"] = self.sign(sts, version)
        return m


@pytest.fixture(scope="session")
def signer(tmp_path_factory):
    return Signer(str(tmp_path_factory.mktemp("sns")))


def channel_arn(n, region="us-east-1"):
    return f"arn:aws:ivs:{region}:{ACCOUNT}:channel/ch{n:08d}"


def ivs_event(name, channel, stream_id=None, t="2026-01-01T10:00:00Z", eid=None,
              detail_type="IVS Stream State Change"):
    detail = {"event_name": name, "channel_name": "test"}
    if stream_id:
        detail["stream_id"] = stream_id
    return {"version": "0", "id": eid or str(uuid.uuid4()), "detail-type": detail_type,
            "source": "aws.ivs", "account": ACCOUNT, "time": t, "region": channel.split(":")[3],
            "resources": [channel], "detail": detail}


def base_env(pg, db, signer=None, **kw):
    env = dict(DATABASE_URL=pg.url(db), LISTEN="127.0.0.1:0", LOG_LEVEL="info",
               SNS_TOPIC_ARNS=TOPIC, EVENTBRIDGE_TOKEN="eb-secret-token", DB_POOL_SIZE="4",
               RECONCILE_INTERVAL="0")
    if signer:
        env["SNS_CERT_DIR"] = signer.certdir
    env.update({k: v for k, v in kw.items()})
    return clean_env(**env)


# ---- helpers shared by the test modules ----

@pytest.fixture
def fake():
    f = FakeIVS(credentials={"AKIDFAKE": ("fake-secret", None)})
    yield f
    f.close()


def aws_env(pg, db, fake, signer=None, **kw):
    """base_env with AWS credentials pointing at fake and the service key set."""
    env = dict(AWS_ACCESS_KEY_ID="AKIDFAKE", AWS_SECRET_ACCESS_KEY="fake-secret",
               AWS_ENDPOINT_URL_IVS=fake.url, SERVICE_ROLE_KEY=KEY, IVS_MAX_RPS="50",
               IVS_MAX_INFLIGHT="16")
    env.update(kw)
    return base_env(pg, db, signer, **env)


def add_show(pg, db, channel, status="scheduled", **cols):
    """Insert a show on channel (None: no channel; a None column: NULL); returns its id."""
    sid = str(uuid.uuid4())
    names = "".join(f", {k}" for k in cols)
    vals = "".join(", NULL" if v is None else f", '{v}'" for v in cols.values())
    ch = "NULL" if channel is None else f"'{channel}'"
    pg.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn{names}) VALUES "
            f"('{sid}', 't', '{status}', {ch}{vals})", db)
    return sid


def add_shows(pg, db, channels, status="scheduled", **cols):
    """Many shows in one statement; returns their ids in order."""
    ids = [str(uuid.uuid4()) for _ in channels]
    names = "".join(f", {k}" for k in cols)
    vals = "".join(f", '{v}'" for v in cols.values())
    rows = ",".join(f"('{i}', 't', '{status}', '{c}'{vals})" for i, c in zip(ids, channels))
    pg.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn{names}) VALUES {rows}", db)
    return ids


def show(pg, db, sid):
    r = pg.rows("SELECT " + ", ".join(f"coalesce({c}::text, '')" for c in SHOW_COLS) +
                f" FROM shows WHERE id = '{sid}'", db)[0]
    return dict(zip(SHOW_COLS, r))


def ts_of(pg, db, sql_time):
    """A timestamptz text as epoch seconds (float), via PostgreSQL."""
    return float(pg.psql(f"SELECT extract(epoch FROM '{sql_time}'::timestamptz)", db))


def iso_now(offset=0.0):
    d = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def sync(d, body=None, headers=AUTH, path=SYNC, timeout=30):
    if body is None:
        return d.json("POST", path, "", headers, timeout=timeout)
    return d.json("POST", path, body, headers, timeout=timeout)


def wait_until(fn, timeout=10.0, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def in_background(fn, *args, **kw):
    """Run fn in a thread; returns a callable that joins it and returns its result."""
    box = {}

    def run():
        try:
            box["v"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - re-raised in the joiner
            box["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=60):
        t.join(timeout)
        assert not t.is_alive(), "background call did not finish"
        if "e" in box:
            raise box["e"]
        return box["v"]
    return join


def fake_calls(fake, op=None):
    c = fake.stats()["calls"]
    return c[op] if op else sum(c.values())


def row_versions(pg, db):
    """xmin and ctid of every show: an UPDATE (even to the same values) changes them."""
    return pg.rows("SELECT id, xmin::text, ctid::text FROM shows ORDER BY id", db)


def by_id(results):
    return {r["showId"]: r for r in results}


def check_result_shape(r):
    assert set(r) <= {"showId", "previousStatus", "newStatus", "changed", "viewerCount",
                      "error"}, r
    assert {"showId", "previousStatus", "newStatus", "changed"} <= set(r), r
    assert isinstance(r["changed"], bool)
    assert r["newStatus"] in ("live", "offline"), r
    if "viewerCount" in r:
        assert isinstance(r["viewerCount"], int)
    if "error" in r:
        assert isinstance(r["error"], str) and r["error"]


def check_body_shape(b, single):
    assert set(b) == {"success", "summary", "results"}, b
    assert b["success"] is True
    assert set(b["summary"]) == {"total", "changed", "errors", "live", "offline"}
    res = [b["results"]] if single else b["results"]
    assert isinstance(b["results"], dict if single else list)
    for r in res:
        check_result_shape(r)
    s = b["summary"]
    assert s["total"] == len(res)
    assert s["changed"] == sum(r["changed"] for r in res)
    assert s["errors"] == sum("error" in r for r in res)
    assert s["live"] == sum("error" not in r and r["newStatus"] == "live" for r in res)
    assert s["offline"] == sum("error" not in r and r["newStatus"] == "offline" for r in res)
    assert s["live"] + s["offline"] + s["errors"] == s["total"]


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def healthz_time(d):
    t = time.monotonic()
    st, _, _ = d.request("GET", "/healthz", timeout=5 * SLOW)
    assert st == 200
    return time.monotonic() - t


def alive(d):
    assert d.proc.poll() is None, d.text()[-4000:]
    assert healthz_time(d) < 1.0 * SLOW
