"""Native TLS (issue 21): a test CA made with openssl, a server certificate for
localhost/127.0.0.1, the daemon on loopback speaking HTTPS.  TLS 1.2 and 1.3 only,
ALPN http/1.1, SIGHUP reload (a bad pair keeps the old one), the expiry metric and
the doctor line."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BIN, SLOW, base_env, channel_arn, ivs_event, show, add_show, wait_until


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class CA:
    """A throwaway CA and server certificates it signs (serials chosen by the test)."""

    def __init__(self, d):
        self.dir = str(d)
        self.cert = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=ivs-syncd test CA", cwd=self.dir)

    def issue(self, name, serial, days=30):
        """name.pem (leaf + CA: a full chain) and name.key; returns their paths."""
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=localhost",
                cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", str(days), "-extfile", ext,
                "-out", name + ".leaf", cwd=self.dir)
        with open(os.path.join(self.dir, name + ".pem"), "w") as out:
            for part in (name + ".leaf", "ca.pem"):
                with open(os.path.join(self.dir, part)) as f:
                    out.write(f.read())
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("tlsca"))


@pytest.fixture
def tls_files(ca, tmp_path):
    """The files the daemon is pointed at (replaced in place by the reload tests)."""
    cert, key = ca.issue("srv1", 1001)
    live_cert, live_key = str(tmp_path / "tls.pem"), str(tmp_path / "tls.key")
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    return live_cert, live_key


def client_ctx(ca, min_v=None, max_v=None, alpn=None):
    ctx = ssl.create_default_context(cafile=ca.cert)
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def https(d, ca, method="GET", path="/healthz", body=None, headers=None, ctx=None):
    c = http.client.HTTPSConnection("localhost", d.port, timeout=10,
                                    context=ctx or client_ctx(ca))
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def serial_seen(d, ca):
    ctx = client_ctx(ca)
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                       capture_output=True, check=True)
    return int(r.stdout.decode().strip().split("=")[1], 16)


def tls_daemon(pg, db, signer, daemon_factory, tls_files, **kw):
    cert, key = tls_files
    return daemon_factory(base_env(pg, db, signer, TLS_CERT_FILE=cert, TLS_KEY_FILE=key, **kw),
                          wait_ready=False)


def wait_https_ready(d, ca):
    wait_until(lambda: https(d, ca, path="/readyz")[0] == 200, timeout=15, what="readyz")


def test_https_verified_with_test_ca(pg, db, signer, daemon_factory, tls_files, ca):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    wait_https_ready(d, ca)
    st, body = https(d, ca)
    assert st == 200 and json.loads(body)["status"] == "ok"
    r = subprocess.run(["curl", "-sS", "--cacert", ca.cert, f"https://localhost:{d.port}/healthz"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and '"ok"' in r.stdout, r.stderr
    # plain HTTP on the TLS port gets no answer
    with pytest.raises((http.client.HTTPException, OSError)):
        d.request("GET", "/healthz", timeout=3)
    na = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", tls_files[0]],
                        capture_output=True, text=True, check=True).stdout.strip()
    want = time.mktime(time.strptime(na.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")) - time.timezone
    st, text = https(d, ca, path="/metrics")
    line = next(ln for ln in text.decode().splitlines()
                if ln.startswith("ivs_syncd_tls_cert_expiry_timestamp_seconds "))
    got = float(line.split()[1])
    assert abs(got - want) < 2, (got, want)


@pytest.mark.parametrize("version,ok", [
    (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True)])
def test_tls12_and_13_accepted(pg, db, signer, daemon_factory, tls_files, ca, version, ok):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    ctx = client_ctx(ca, version, version, ["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            assert s.selected_alpn_protocol() == "http/1.1"
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_tls_refused(pg, db, signer, daemon_factory, tls_files, ca, flag):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    # SECLEVEL=0 so that the refusal is the server's, not the client library's
    r = subprocess.run(["openssl", "s_client", flag, "-cipher", "DEFAULT:@SECLEVEL=0",
                        "-connect", f"127.0.0.1:{d.port}", "-CAfile", ca.cert],
                       input=b"", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert "protocol version" in out or "unsupported protocol" in out, out
    # TLS 1.2 with the same client works
    r = subprocess.run(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{d.port}",
                        "-CAfile", ca.cert], input=b"", capture_output=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr


def test_sighup_reloads_cert_keeps_open_connections(pg, db, signer, daemon_factory, tls_files,
                                                    ca):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    wait_https_ready(d, ca)
    assert serial_seen(d, ca) == 1001
    kept = http.client.HTTPSConnection("localhost", d.port, timeout=10, context=client_ctx(ca))
    kept.request("GET", "/healthz")
    assert kept.getresponse().read()
    kept_sock = kept.sock
    cert, key = ca.issue("srv2", 2002)
    shutil.copy(cert, tls_files[0])
    shutil.copy(key, tls_files[1])
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "TLS certificate reloaded" in d.text(), timeout=5, what="reload logged")
    assert serial_seen(d, ca) == 2002                   # a new connection: the new one
    kept.request("GET", "/healthz")                     # the open one keeps working
    assert kept.getresponse().status == 200
    assert kept.sock is kept_sock                        # on the same connection
    kept.close()


def test_sighup_with_bad_key_keeps_old_pair(pg, db, signer, daemon_factory, tls_files, ca):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    wait_https_ready(d, ca)
    # a new certificate with someone else's key
    cert, _ = ca.issue("srv3", 3003)
    _, other_key = ca.issue("srv4", 4004)
    shutil.copy(cert, tls_files[0])
    shutil.copy(other_key, tls_files[1])
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "not reloaded" in d.text(), timeout=5, what="reload error logged")
    line = next(ln for ln in d.lines() if "not reloaded" in ln.get("msg", ""))
    assert line["level"] == "error"
    assert serial_seen(d, ca) == 1001
    assert https(d, ca)[0] == 200
    # garbage instead of a key: same
    with open(tls_files[1], "w") as f:
        f.write("not a key\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: d.text().count("not reloaded") >= 2, timeout=5, what="second error")
    assert serial_seen(d, ca) == 1001


def test_bad_pair_at_start_exits(pg, db, signer, tls_files, ca, tmp_path):
    _, other_key = ca.issue("srv5", 5005)
    env = base_env(pg, db, signer, TLS_CERT_FILE=tls_files[0], TLS_KEY_FILE=other_key)
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "TLS_KEY_FILE" in r.stdout + r.stderr
    env = base_env(pg, db, signer, TLS_CERT_FILE=tls_files[0])
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "TLS_KEY_FILE" in r.stderr, r.stderr


def test_sns_notification_over_https(pg, db, signer, daemon_factory, tls_files, ca):
    d = tls_daemon(pg, db, signer, daemon_factory, tls_files)
    wait_https_ready(d, ca)
    ch = channel_arn(21)
    sid = add_show(pg, db, ch)
    env = signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-tls",
                                               "2026-01-01T10:00:00Z")))
    st, body = https(d, ca, "POST", "/sns", json.dumps(env), {"Content-Type": "text/plain"})
    assert (st, json.loads(body)) == (200, {"outcome": "applied"})
    assert show(pg, db, sid)["status"] == "live"


def test_doctor_shows_certificate(pg, db, signer, tls_files, ca):
    env = base_env(pg, db, signer, TLS_CERT_FILE=tls_files[0], TLS_KEY_FILE=tls_files[1],
                   LISTEN="127.0.0.1:0")
    r = subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in r.stdout.splitlines() if " tls" in ln or ln.startswith("tls"))
    assert "CN=localhost" in line and "DNS:localhost,IP:127.0.0.1" in line, line
    assert "expires" in line, line
    assert line.split()[0].lower() == "ok", line
    cert, key = ca.issue("short", 6006, days=5)
    env = base_env(pg, db, signer, TLS_CERT_FILE=cert, TLS_KEY_FILE=key, LISTEN="127.0.0.1:0")
    r = subprocess.run([BIN, "doctor"], env=env, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in r.stdout.splitlines() if " tls" in ln or ln.startswith("tls"))
    assert line.split()[0].lower() == "warn" and "14 days" in line, line


def test_nginx_snippet_proxies(pg, db, signer, daemon_factory, ca, tmp_path):
    """infra/nginx/ivs-syncd.conf (the README's snippet) in front of the daemon: HTTPS
    at nginx, the client address from X-Forwarded-For (TRUSTED_PROXIES), an SNS
    delivery applied through it."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is missing: install the Debian package nginx-light"
    from conftest import ROOT, free_port
    snippet = (ROOT / "infra" / "nginx" / "ivs-syncd.conf").read_text()
    assert snippet.strip() in (ROOT / "README.md").read_text(), \
        "README's nginx snippet differs from infra/nginx/ivs-syncd.conf"
    d = daemon_factory(base_env(pg, db, signer, TRUSTED_PROXIES="127.0.0.1/32"))
    cert, key = ca.issue("nginx", 7007)
    port = free_port()
    conf = (snippet.replace("127.0.0.1:8080", f"127.0.0.1:{d.port}")
            .replace("listen 443 ssl", f"listen 127.0.0.1:{port} ssl")
            .replace("/etc/letsencrypt/live/ivs-syncd.example.com/fullchain.pem", cert)
            .replace("/etc/letsencrypt/live/ivs-syncd.example.com/privkey.pem", key))
    (tmp_path / "ivs-syncd.conf").write_text(conf)
    for sub in ("tmp", "logs"):
        (tmp_path / sub).mkdir()
    t = tmp_path
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; pid {t}/nginx.pid; error_log {t}/logs/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; client_body_temp_path {t}/tmp/b; proxy_temp_path {t}/tmp/p;\n"
        f"  fastcgi_temp_path {t}/tmp/f; uwsgi_temp_path {t}/tmp/u; scgi_temp_path {t}/tmp/s;\n"
        f"  include {t}/ivs-syncd.conf; }}\n")
    if os.geteuid() == 0:
        os.chmod(key, 0o644)  # workers run as nobody; the master reads the key anyway
    p = subprocess.Popen([nginx, "-p", str(t), "-c", str(t / "nginx.conf"), "-e",
                          str(t / "logs" / "error.log")], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, timeout=10, what="nginx listening")

        class Via:
            pass
        via = Via()
        via.port = port
        st, body = https(via, ca, headers={"X-Forwarded-For": "203.0.113.9",
                                           "X-Request-Id": "via-nginx-1"}, path="/nope")
        assert st == 404, body
        line = next(ln for ln in d.lines() if ln.get("request_id") == "via-nginx-1")
        assert line["client"] == "203.0.113.9"
        ch = channel_arn(22)
        sid = add_show(pg, db, ch)
        env = signer.envelope(json.dumps(ivs_event("Stream Start", ch, "st-nginx",
                                                   "2026-01-01T10:00:00Z")))
        st, body = https(via, ca, "POST", "/sns", json.dumps(env),
                         {"Content-Type": "text/plain"})
        assert (st, json.loads(body)) == (200, {"outcome": "applied"})
        assert show(pg, db, sid)["status"] == "live"
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
