"""The HTTP edge (issues 17 and 21): request ids echoed whole, ambiguous request
framing refused, the keep-alive idle timeout apart from the request deadline,
MAX_CONNECTIONS, MAX_BUFFERED_BODY and descriptor exhaustion.  Everything goes to
127.0.0.1 and is bounded in count and time."""
import os
import socket
import stat
import subprocess
import time

import pytest

import conftest
from conftest import BIN, SLOW, alive, base_env, clean_env, cpu_seconds, healthz_time


def read_answer(s, timeout=3.0):
    """Bytes until the server closes or goes quiet for `timeout` seconds."""
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        out += chunk
    return out


def closed_within(s, timeout):
    """Seconds until the peer closed s (EOF or reset), or None if it stays open."""
    t0 = time.monotonic()
    s.settimeout(0.05)
    while time.monotonic() - t0 < timeout:
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def get_on(s):
    """One GET /healthz on an open keep-alive socket: its status line, or None if cut."""
    try:
        s.sendall(GET)
        s.settimeout(5)
        data = s.recv(65536)
    except OSError:
        return None
    return data.split(b"\r\n", 1)[0] if data else None


# ---- X-Request-Id (issue 17 item 8) ----

def test_request_id_echoed_whole_or_replaced(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    for n in (1, 63, 64, 100, 128):
        rid = ("r" * n)[:n]
        st, h, _ = d.request("GET", "/healthz", headers={"X-Request-Id": rid})
        assert st == 200 and h["x-request-id"] == rid, (n, h.get("x-request-id"))
    # over-long: a generated id instead, never a cut one
    st, h, _ = d.request("GET", "/healthz", headers={"X-Request-Id": "q" * 129})
    assert st == 200 and len(h["x-request-id"]) == 32 and "q" not in h["x-request-id"]


# ---- request smuggling (issue 17 item 3) ----

SMUGGLE = b"{}GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("headers", [
    b"Content-Length: 2\r\nContent-Length: 37\r\n",
    b"Content-Length: 36\r\nContent-Length: 36\r\n",
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
], ids=["two-lengths", "same-length-twice", "length-then-chunked", "chunked-then-length"])
def test_ambiguous_framing_is_400_and_close(pg, db, signer, daemon_factory, headers):
    d = daemon_factory(base_env(pg, db, signer))
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        body = SMUGGLE if b"chunked" not in headers else b"2\r\n{}\r\n0\r\n\r\n" + SMUGGLE[2:]
        s.sendall(b"POST /sns HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" + headers +
                  b"\r\n" + body)
        out = read_answer(s)
    finally:
        s.close()
    assert out.count(b"HTTP/1.1 ") == 1, out            # one answer, no smuggled /metrics
    assert out.startswith(b"HTTP/1.1 400"), out
    assert b"ivs_syncd_" not in out
    head = out.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in head
    alive(d)


def test_one_content_length_still_keeps_alive(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer))
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert get_on(s) == b"HTTP/1.1 200 OK"
    finally:
        s.close()


# ---- keep-alive idle timeout (issue 21 item 2) ----

def test_keepalive_default_is_75_seconds():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True,
                         env=clean_env()).stdout
    lines = out.splitlines()
    i = next(i for i, ln in enumerate(lines) if "KEEPALIVE_TIMEOUT" in ln)
    # the option's help block runs to the next option line (help is wrapped at 80 columns)
    block = []
    for ln in lines[i + 1:]:
        if not ln.startswith("      "):
            break
        block.append(ln)
    assert "[default: 75]" in " ".join(block), lines[i:i + 4]


def test_idle_keepalive_outlives_read_timeout(pg, db, signer, daemon_factory):
    """An idle kept-alive connection stays usable past READ_TIMEOUT, up to
    KEEPALIVE_TIMEOUT (here 5 s; 75 s by default, above a load balancer's 60 s)."""
    d = daemon_factory(base_env(pg, db, signer, READ_TIMEOUT="1", KEEPALIVE_TIMEOUT="5"))
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        assert get_on(s) == b"HTTP/1.1 200 OK"
        time.sleep(3)                                   # 3x READ_TIMEOUT, idle
        assert get_on(s) == b"HTTP/1.1 200 OK"
        time.sleep(3.2)
        assert get_on(s) == b"HTTP/1.1 200 OK"          # the idle time starts again
        t = closed_within(s, 5 + 3 * SLOW)
        assert t is not None and 4 < t < 5 + 2 * SLOW, t  # then cut at KEEPALIVE_TIMEOUT
    finally:
        s.close()


def test_slowloris_on_kept_alive_connection_cut_at_read_timeout(pg, db, signer,
                                                                daemon_factory):
    """KEEPALIVE_TIMEOUT does not lengthen the request deadline: once the first byte
    of the next request arrived, the request must be complete within READ_TIMEOUT."""
    d = daemon_factory(base_env(pg, db, signer, READ_TIMEOUT="2", KEEPALIVE_TIMEOUT="30"))
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        assert get_on(s) == b"HTTP/1.1 200 OK"
        time.sleep(1)
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
        t0 = time.monotonic()
        cut = None
        for i in range(len(req)):
            try:
                s.sendall(req[i:i + 1])
            except OSError:
                cut = time.monotonic() - t0
                break
            c = closed_within(s, 0.2)
            if c is not None:
                cut = time.monotonic() - t0
                break
            if time.monotonic() - t0 > 10 * SLOW:
                break
        assert cut is not None and 1.5 < cut < 2 + 2 * SLOW, cut
    finally:
        s.close()
    alive(d)


# ---- MAX_CONNECTIONS (issue 17 item 1) ----

def test_max_connections_closes_extra_at_once(pg, db, signer, daemon_factory):
    d = daemon_factory(base_env(pg, db, signer, MAX_CONNECTIONS="8", READ_TIMEOUT="30"))
    socks = [socket.create_connection(("127.0.0.1", d.port), timeout=5) for _ in range(8)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        t = closed_within(extra, 2)
        extra.close()
        assert t is not None and t < 1, t
        # the first eight still work
        assert get_on(socks[0]) == b"HTTP/1.1 200 OK"
    finally:
        for s in socks:
            s.close()
    time.sleep(0.6)                                     # the sweep notices the closes
    assert d.metric("ivs_syncd_http_rejected_connections_total",
                    'reason="max_connections"') >= 1
    alive(d)


def test_max_connections_default_from_rlimit(pg, db, signer, daemon_factory, tmp_path,
                                             monkeypatch):
    """RLIMIT_NOFILE=200, MAX_CONNECTIONS unset: 136 (200 - 64) are kept, the rest are
    closed at once; the daemon never runs out of descriptors."""
    wrap = wrapper(tmp_path, 200)
    monkeypatch.setattr(conftest, "BIN", wrap)
    d = daemon_factory(base_env(pg, db, signer, READ_TIMEOUT="30"))
    socks = []
    try:
        for _ in range(160):
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        time.sleep(0.5)
        open_ = [s for s in socks if closed_within(s, 0.01) is None]
        assert len(open_) == 136, len(open_)
        for s in socks[:10]:
            s.close()
        time.sleep(0.3)
        alive(d)
        assert d.metric("ivs_syncd_http_accept_errors_total") == 0
        assert d.metric("ivs_syncd_http_rejected_connections_total",
                        'reason="max_connections"') == 24
    finally:
        for s in socks:
            s.close()


# ---- descriptor exhaustion (issue 17 item 1) ----

def wrapper(tmp_path, nofile):
    """A launcher that runs the daemon with RLIMIT_NOFILE = nofile (prlimit execs it:
    the pid stays the daemon's)."""
    p = tmp_path / "ivs-syncd-limited"
    p.write_text(f"#!/bin/sh\nexec prlimit --nofile={nofile} {BIN} \"$@\"\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def test_descriptor_exhaustion_does_not_spin(pg, db, signer, daemon_factory, tmp_path,
                                            monkeypatch):
    """RLIMIT_NOFILE=200 and 230 idle connections with MAX_CONNECTIONS above it: accept()
    fails with EMFILE. The loop must not spin on it (it burned 2.9 CPU-s in 3 s and wrote
    millions of libevent lines), the log stays short, /healthz keeps answering."""
    monkeypatch.setattr(conftest, "BIN", wrapper(tmp_path, 200))
    d = daemon_factory(base_env(pg, db, signer, MAX_CONNECTIONS="100000", READ_TIMEOUT="30"))
    socks = []
    try:
        for _ in range(230):
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        time.sleep(0.5)
        lines0 = len(d.text().splitlines())
        c0 = cpu_seconds(d.proc.pid)
        time.sleep(3)
        cpu = cpu_seconds(d.proc.pid) - c0
        lines = len(d.text().splitlines()) - lines0
        print(f"EMFILE: {cpu:.2f} CPU-s in 3 s, {lines} log lines")
        assert cpu < 0.5 * SLOW, cpu
        assert lines < 20, d.text()[-3000:]
        assert "Too many open files" not in "".join(
            ln for ln in d.text().splitlines() if not ln.startswith("{"))
        # free some descriptors: /healthz answers again
        for s in socks[:60]:
            s.close()
        time.sleep(1.2)
        assert healthz_time(d) < 1.5 * SLOW
        assert d.metric("ivs_syncd_http_accept_errors_total") >= 1
    finally:
        for s in socks:
            s.close()


# ---- MAX_BUFFERED_BODY (issue 17 item 1) ----

def test_buffered_body_budget(pg, db, signer, daemon_factory):
    """Stalled bodies count against one budget across all connections: the connection
    whose bytes pass it is cut, the others and new requests go on."""
    d = daemon_factory(base_env(pg, db, signer, MAX_BUFFERED_BODY="256k", MAX_BODY="200k",
                                READ_TIMEOUT="30"))
    head = (b"POST /sns HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 200000\r\n\r\n")
    socks = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            s.sendall(head + b"x" * 80000)              # part of a body, then stall
            socks.append(s)
            time.sleep(0.2)
        cut = [closed_within(s, 1.0) is not None for s in socks]
        assert cut == [False, False, False, True], cut  # the 4th passes 256k
        assert d.metric("ivs_syncd_http_rejected_connections_total",
                        'reason="buffered_body"') == 1
        alive(d)
        # closed connections leave the budget; a stalled one then completes: answered
        socks[1].close()
        socks[2].close()
        time.sleep(0.6)
        socks[0].sendall(b"x" * 120000)
        assert read_answer(socks[0], 3).startswith(b"HTTP/1.1 4")
        time.sleep(0.6)
        assert d.metric("ivs_syncd_http_buffered_request_bytes") < 1000
    finally:
        for s in socks:
            s.close()


# ---- TRUSTED_PROXIES (issue 21 item 3) ----

def access_line(d, rid):
    return next(ln for ln in d.lines() if ln.get("request_id") == rid and ln.get("msg") == "request")


@pytest.mark.parametrize("trusted,xff,client", [
    (None, "203.0.113.7", "127.0.0.1"),                       # no proxies trusted: the peer
    ("10.0.0.0/8", "203.0.113.7", "127.0.0.1"),               # the peer is not one of them
    ("127.0.0.1/32", "203.0.113.7", "203.0.113.7"),
    ("127.0.0.0/8, 10.0.0.0/8", "198.51.100.1, 203.0.113.7, 10.1.1.1", "203.0.113.7"),
])
def test_x_forwarded_for_only_from_trusted_proxies(pg, db, signer, daemon_factory, trusted, xff,
                                                   client):
    d = daemon_factory(base_env(pg, db, signer, TRUSTED_PROXIES=trusted))
    rid = "xff-test-" + str(abs(hash((trusted, xff))))
    st, _, _ = d.request("GET", "/no-such-route", headers={"X-Forwarded-For": xff,
                                                            "X-Request-Id": rid})
    assert st == 404
    assert access_line(d, rid)["client"] == client


def test_trusted_proxies_validated():
    r = subprocess.run([BIN, "serve"], env=clean_env(TRUSTED_PROXIES="10.0.0.0/8,proxy.local"),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "TRUSTED_PROXIES" in r.stderr, (r.returncode, r.stderr)
