#!/usr/bin/env python3
"""Fake Amazon IVS (REST-JSON GetStream / ListStreams) on 127.0.0.1 that checks
the SigV4 signature of every request with sigv4.py (independent of libcurl),
plus a fake container-credentials endpoint (GET /creds/...).

In process:
    fake = FakeIVS(credentials={"AKID": ("secret", None)})
    fake.set_stream("arn:aws:ivs:us-west-2:123456789012:channel/abc", viewer_count=3)
    ... fake.url ... fake.stats() ... fake.close()

As a script:
    python3 fakeivs.py --port 0 --port-file /tmp/port --cred AKID:SECRET[:TOKEN]
prints the port on stdout (one line) and serves until SIGTERM/SIGINT.

Control API (no signature): PUT /_fake/streams, POST /_fake/config,
GET /_fake/stats, GET /_fake/streams, POST /_fake/reset.
"""

import argparse
import base64
import collections
import datetime as _dt
import hashlib
import http.server
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sigv4  # noqa: E402

IVS_FAULT = "http://internal.amazon.com/coral/com.amazonaws.ivs/"
CORAL_FAULT = "http://internal.amazon.com/coral/com.amazon.coral.service/"
ARN_RE = re.compile(r"^arn:(aws[a-z-]*):ivs:([a-z0-9-]+):(\d{12}):channel/([A-Za-z0-9]+)$")
HEALTHS = ("HEALTHY", "STARVING", "UNKNOWN")
MAX_RECORDS = 200
MAX_PER_SECOND = 300
MAX_BODY = 1 << 20
OPS = ("GetStream", "ListStreams")

DEFAULT_CONFIG = {
    "latency_ms": 0,
    "rps_limit": 0,            # 0 = unlimited
    "deny_list_streams": False,
    "not_found": [],
    "page_size": 0,            # 0 = maxResults
    "region": None,            # if set, the signing region must be this one
    "max_skew": 900,
    "creds_token": None,       # Authorization value the /creds endpoint requires
    "creds_ttl": 3600,
    "creds_rotate": False,
    "creds_grace": 60,
}


def iso8601(t):
    """2024-09-09T16:17:26.000Z"""
    d = _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def parse_time(v):
    if v is None:
        return time.time()
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip().replace("Z", "+00:00")
    d = _dt.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


class _Error(Exception):
    def __init__(self, status, etype, message, fault=IVS_FAULT, extra=None):
        super().__init__(message)
        self.status, self.etype, self.message, self.fault = status, etype, message, fault
        self.extra = extra or {}


class FakeIVS:
    """See the module docstring.  All state is guarded by one lock."""

    def __init__(self, credentials=None, host="127.0.0.1", port=0, latency_ms=0, rps_limit=0,
                 page_size=0, region=None, creds_token=None, creds_ttl=3600,
                 creds_rotate=False, creds_grace=60, max_skew=900, verbose=False):
        if credentials is None:
            credentials = {"AKIDFAKE": ("fake-secret", None)}
        self._base_credentials = {k: (v[0], v[1] if len(v) > 1 else None)
                                  for k, v in credentials.items()}
        self._init_config = dict(DEFAULT_CONFIG, latency_ms=latency_ms, rps_limit=rps_limit,
                                 page_size=page_size, region=region, creds_token=creds_token,
                                 creds_ttl=creds_ttl, creds_rotate=creds_rotate,
                                 creds_grace=creds_grace, max_skew=max_skew)
        self.verbose = verbose
        self.lock = threading.Lock()
        self._reset_locked()
        self._conns = set()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self.host = host
        self.port = self._server.server_address[1]
        self.url = "http://%s:%d" % (host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="fakeivs")
        self._thread.start()
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------
    def close(self):
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- state -------------------------------------------------------------------------
    def _reset_locked(self):
        self.config = dict(self._init_config)
        self.config["not_found"] = set()
        self.streams = {}                     # arn -> dict
        self.script = []
        self.credentials = dict(self._base_credentials)  # akid -> (secret, token)
        self.cred_expiry = {}                 # issued akid -> expiry epoch
        self._container_cred = None
        self.calls = collections.Counter()
        self.bad_signatures = 0
        self.throttled = 0
        self.region_mismatches = 0
        self.creds_calls = 0
        self.creds_denied = 0
        self.per_second = collections.OrderedDict()
        self.max_per_second = 0
        self.concurrent = 0
        self.max_concurrent = 0
        self.requests = collections.deque(maxlen=MAX_RECORDS)
        self.last_signature_error = None

    def reset(self):
        """Back to the constructor state (streams, config, script, stats, issued creds)."""
        with self.lock:
            self._reset_locked()

    def set_stream(self, arn, stream_id=None, start_time=None, viewer_count=None, health=None):
        """Make arn live (or update its live stream).  Unspecified fields keep their
        value when the stream is already live, else default to a derived stream id,
        now, 0 and HEALTHY."""
        m = ARN_RE.match(arn)
        if not m:
            raise ValueError("bad channel ARN %r" % arn)
        if health is not None and health not in HEALTHS:
            raise ValueError("bad health %r" % health)
        with self.lock:
            cur = self.streams.get(arn)
            if cur is None or (stream_id is not None and stream_id != cur["streamId"]):
                sid = stream_id or "st-" + hashlib.sha256(
                    ("%s/%f" % (arn, time.time())).encode()).hexdigest()[:24]
                cur = {"streamId": sid, "startTime": time.time(), "viewerCount": 0,
                       "health": "HEALTHY"}
            if start_time is not None:
                cur["startTime"] = parse_time(start_time)
            if viewer_count is not None:
                cur["viewerCount"] = int(viewer_count)
            if health is not None:
                cur["health"] = health
            self.streams[arn] = cur
            return dict(cur)

    def end_stream(self, arn):
        with self.lock:
            self.streams.pop(arn, None)

    def set_streams(self, mapping):
        """{arn: {"streamId","startTime","viewerCount","health"} | None}"""
        for arn, v in mapping.items():
            if v is None:
                self.end_stream(arn)
            else:
                self.set_stream(arn, stream_id=v.get("streamId"), start_time=v.get("startTime"),
                                viewer_count=v.get("viewerCount"), health=v.get("health"))

    def live_streams(self):
        with self.lock:
            return {a: self._stream_json(a, s) for a, s in self.streams.items()}

    def configure(self, **kw):
        """latency_ms, rps_limit, deny_list_streams, not_found (list), page_size, script
        (list, replaces the pending one), append_script (list), region, max_skew,
        creds_token, creds_ttl, creds_rotate, creds_grace, credentials (dict to add)."""
        with self.lock:
            for k, v in kw.items():
                if k == "script":
                    self.script = [dict(e) for e in (v or [])]
                elif k == "append_script":
                    self.script.extend(dict(e) for e in (v or []))
                elif k == "not_found":
                    self.config["not_found"] = set(v or [])
                elif k == "credentials":
                    for akid, c in (v or {}).items():
                        c = list(c) if not isinstance(c, str) else [c]
                        self.credentials[akid] = (c[0], c[1] if len(c) > 1 else None)
                elif k in DEFAULT_CONFIG:
                    self.config[k] = v
                else:
                    raise ValueError("unknown config key %r" % k)

    def add_credentials(self, akid, secret, token=None):
        with self.lock:
            self.credentials[akid] = (secret, token)

    def stats(self):
        with self.lock:
            return {
                "calls": {op: self.calls.get(op, 0) for op in OPS},
                "other_calls": sum(n for op, n in self.calls.items() if op not in OPS),
                "bad_signatures": self.bad_signatures,
                "last_signature_error": self.last_signature_error,
                "throttled": self.throttled,
                "region_mismatches": self.region_mismatches,
                "max_calls_in_any_second": self.max_per_second,
                "max_concurrent": self.max_concurrent,
                "in_flight": self.concurrent,
                "per_second": [{"second": s, "count": n} for s, n in self.per_second.items()],
                "requests": [dict(r) for r in self.requests],
                "creds_calls": self.creds_calls,
                "creds_denied": self.creds_denied,
                "script_pending": len(self.script),
                "live": len(self.streams),
            }

    # --- helpers -----------------------------------------------------------------------
    def _lookup(self, akid):
        """credentials_lookup for sigv4.verify (called with the lock held)."""
        c = self.credentials.get(akid)
        if c is None:
            return None
        exp = self.cred_expiry.get(akid)
        if exp is not None and time.time() > exp + self.config["creds_grace"]:
            raise LookupError("ExpiredTokenException: The security token included in the "
                              "request is expired")
        return c

    def _stream_json(self, arn, s, summary=False):
        m = ARN_RE.match(arn)
        region, acct, cid = m.group(2), m.group(3), m.group(4)
        d = {"channelArn": arn, "streamId": s["streamId"], "startTime": iso8601(s["startTime"]),
             "state": "LIVE", "health": s["health"], "viewerCount": s["viewerCount"]}
        if not summary:
            d["playbackUrl"] = ("https://%s.%s.playback.live-video.net/api/video/v1/"
                                "%s.%s.channel.%s.m3u8" % (cid, region, region, acct, cid))
        return d

    def _issue_creds(self):
        """Called with the lock held."""
        now = time.time()
        ttl = float(self.config["creds_ttl"])
        if self.config["creds_rotate"] or self._container_cred is None:
            n = len(self.cred_expiry) + 1
            akid = "ASIAFAKE%012d" % n
            secret = secrets.token_urlsafe(30)
            token = "FwoFAKE" + base64.b64encode(secrets.token_bytes(48)).decode()
            self.credentials[akid] = (secret, token)
            self._container_cred = akid
        akid = self._container_cred
        self.cred_expiry[akid] = now + ttl
        secret, token = self.credentials[akid]
        return {"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                "Expiration": _dt.datetime.fromtimestamp(now + ttl, _dt.timezone.utc)
                .strftime("%Y-%m-%dT%H:%M:%SZ"),
                "RoleArn": "arn:aws:iam::123456789012:role/fake-ivs-syncd"}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections

    def version_string(self):
        return "FakeIVS/1.0"

    @property
    def fake(self):
        return self.server.fake

    def setup(self):
        super().setup()
        with self.fake.lock:
            self.fake._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.fake.lock:
                self.fake._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.fake.verbose:
            sys.stderr.write("fakeivs: %s\n" % (fmt % args))

    # --- plumbing ----------------------------------------------------------------------
    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                line = self.rfile.readline(100)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1000).strip():
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline(10)
                if len(out) > MAX_BODY:
                    raise _Error(413, "ValidationException", "body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise _Error(413, "ValidationException", "body too large")
        return self.rfile.read(n) if n else b""

    def _send(self, status, obj=None, headers=None, raw_body=None):
        body = raw_body if raw_body is not None else (
            b"" if obj is None else json.dumps(obj).encode())
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, e):
        body = {"exceptionMessage": e.message} if e.fault == IVS_FAULT else {"message": e.message}
        body.update(e.extra)
        self._send(e.status, body, {"x-amzn-ErrorType": "%s:%s" % (e.etype, e.fault)})

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        try:
            body = self._read_body()
        except _Error as e:
            return self._send_error(e)
        except (ValueError, OSError):
            self.close_connection = True
            return self._send_error(_Error(400, "ValidationException", "bad body framing"))
        path = self.path.partition("?")[0]
        try:
            if path.startswith("/_fake/"):
                return self._control(path, body)
            if path.startswith("/creds"):
                return self._creds()
        except _Error as e:
            return self._send_error(e)
        self._ivs(path, body)

    # --- control -----------------------------------------------------------------------
    def _json(self, body):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise _Error(400, "ValidationException", "malformed JSON")

    def _control(self, path, body):
        f = self.fake
        m = self.command
        try:
            if path == "/_fake/streams" and m in ("PUT", "POST"):
                f.set_streams(self._json(body))
                return self._send(200, {"streams": f.live_streams()})
            if path == "/_fake/streams" and m == "GET":
                return self._send(200, {"streams": f.live_streams()})
            if path == "/_fake/config" and m in ("PUT", "POST"):
                f.configure(**self._json(body))
                return self._send(200, {"ok": True})
            if path == "/_fake/stats" and m == "GET":
                return self._send(200, f.stats())
            if path == "/_fake/reset" and m == "POST":
                f.reset()
                return self._send(200, {"ok": True})
        except (ValueError, TypeError) as e:
            raise _Error(400, "ValidationException", str(e))
        raise _Error(404, "UnknownOperationException", "no control endpoint %s %s" % (m, path))

    # --- container credentials ---------------------------------------------------------
    def _creds(self):
        f = self.fake
        if self.command != "GET":
            raise _Error(405, "MethodNotAllowed", "GET only")
        with f.lock:
            f.creds_calls += 1
            want = f.config["creds_token"]
            if want is not None and self.headers.get("Authorization") != want:
                f.creds_denied += 1
                entry = {"status": 401, "error_type": "",
                         "body": json.dumps({"message": "unauthorized"})}
            else:
                entry = f_pop_script(f, "creds")
            doc = None if entry else f._issue_creds()
        if entry:
            return self._scripted(entry)
        self._send(200, doc)

    # --- IVS ---------------------------------------------------------------------------
    def _record(self, rec, status):
        rec["status"] = status
        with self.fake.lock:
            self.fake.requests.append(rec)

    def _scripted(self, entry, rec=None):
        if entry.get("delay_ms"):
            time.sleep(float(entry["delay_ms"]) / 1000)
        if entry.get("close"):
            self.close_connection = True
            if rec is not None:
                self._record(rec, 0)
            return True
        if "raw" in entry:
            self.close_connection = True
            if rec is not None:
                self._record(rec, 0)
            self.wfile.write(entry["raw"].encode() if isinstance(entry["raw"], str)
                             else entry["raw"])
            self.wfile.flush()
            return True
        if "status" not in entry and "body" not in entry:
            return False  # delay only: continue with the normal answer
        status = int(entry.get("status", 200))
        etype = entry.get("error_type") or {
            400: "ValidationException", 403: "AccessDeniedException",
            404: "ResourceNotFoundException", 429: "ThrottlingException",
            500: "InternalServerException", 503: "ServiceUnavailableException"}.get(status)
        headers = dict(entry.get("headers") or {})
        if status >= 300 and etype and "x-amzn-ErrorType" not in headers:
            headers["x-amzn-ErrorType"] = "%s:%s" % (etype, IVS_FAULT)
        body = entry.get("body")
        if body is None:
            body = {"exceptionMessage": "scripted %s" % (etype or status)}
        raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
        if rec is not None:
            self._record(rec, status)
        self._send(status, headers=headers, raw_body=raw)
        return True

    def _ivs(self, path, body):
        f = self.fake
        op = path.strip("/") or "?"
        now = time.time()
        sec = int(now)
        rec = {"op": op, "t": round(now, 6), "region": None, "channelArn": None,
               "status": None, "signed_headers": None, "session_token": False,
               "access_key": None}
        with f.lock:
            f.calls[op] += 1
            f.per_second[sec] = f.per_second.get(sec, 0) + 1
            while len(f.per_second) > MAX_PER_SECOND:
                f.per_second.popitem(last=False)
            n_this_second = f.per_second[sec]
            f.max_per_second = max(f.max_per_second, n_this_second)
            f.concurrent += 1
            f.max_concurrent = max(f.max_concurrent, f.concurrent)
            latency = float(f.config["latency_ms"] or 0)
            rps = f.config["rps_limit"] or 0
        try:
            if latency:
                time.sleep(latency / 1000)
            self._ivs_inner(op, body, rec, rps and n_this_second > rps)
        finally:
            with f.lock:
                f.concurrent -= 1

    def _ivs_inner(self, op, body, rec, throttled):
        f = self.fake
        hdrs = list(self.headers.items())
        rec["session_token"] = any(n.lower() == "x-amz-security-token" for n, _ in hdrs)
        try:
            a = sigv4.parse_authorization(self.headers.get("Authorization") or "")
            rec["signed_headers"] = ";".join(a["signed_headers"])
            rec["access_key"] = a["access_key"]
        except ValueError:
            pass
        with f.lock:
            ok, reason, region, service = sigv4.verify(
                self.command, self.path, hdrs, body, f._lookup, max_skew=f.config["max_skew"])
            want_region = f.config["region"]
            if ok and service != "ivs":
                ok, reason = False, ("InvalidSignatureException: Credential should be scoped to "
                                     "correct service: 'ivs'")
            if ok and want_region and region != want_region:
                ok, reason = False, ("InvalidSignatureException: Credential should be scoped to "
                                     "a valid region, not '%s'" % region)
            rec["region"] = region
            if not ok:
                f.bad_signatures += 1
                f.last_signature_error = reason
        if not ok:
            etype, _, msg = reason.partition(": ")
            status = 400 if etype == "IncompleteSignatureException" else 403
            self._record(rec, status)
            return self._send_error(_Error(status, etype, msg, CORAL_FAULT))

        try:
            req = json.loads(body or b"{}")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            req = None
        if req is not None and isinstance(req.get("channelArn"), str):
            rec["channelArn"] = req["channelArn"]

        with f.lock:
            entry = f_pop_script(f, op)
            if entry is None and throttled:
                f.throttled += 1
        if entry is not None and self._scripted(entry, rec):
            return
        try:
            if throttled and entry is None:
                raise _Error(429, "ThrottlingException", "Rate exceeded")
            if self.command != "POST" or op not in OPS:
                raise _Error(404, "UnknownOperationException", "unknown operation %s %s"
                             % (self.command, self.path))
            if req is None:
                raise _Error(400, "ValidationException", "Malformed JSON request body")
            status, doc = (self._get_stream if op == "GetStream" else self._list_streams)(
                req, region)
        except _Error as e:
            self._record(rec, e.status)
            return self._send_error(e)
        self._record(rec, status)
        self._send(status, doc)

    def _get_stream(self, req, region):
        f = self.fake
        arn = req.get("channelArn")
        if not isinstance(arn, str) or not arn:
            raise _Error(400, "ValidationException", "channelArn is required")
        m = ARN_RE.match(arn)
        if not m:
            raise _Error(400, "ValidationException", "Invalid channel ARN: %s" % arn)
        with f.lock:
            if m.group(2) != region:
                f.region_mismatches += 1
                raise _Error(400, "ValidationException",
                             "channelArn region %s does not match the request region %s"
                             % (m.group(2), region))
            if arn in f.config["not_found"]:
                raise _Error(404, "ResourceNotFoundException",
                             "Channel %s not found" % arn, extra={"resourceName": arn})
            s = f.streams.get(arn)
            if s is None:
                raise _Error(404, "ChannelNotBroadcasting", "Channel is not broadcasting")
            return 200, {"stream": f._stream_json(arn, s)}

    def _list_streams(self, req, region):
        f = self.fake
        mr = req.get("maxResults", 50)
        if not isinstance(mr, int) or isinstance(mr, bool) or not 1 <= mr <= 100:
            raise _Error(400, "ValidationException", "maxResults must be 1..100")
        token = req.get("nextToken")
        after = ""
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
                if not after.startswith("arn:"):
                    raise ValueError
            except (ValueError, AttributeError):
                raise _Error(400, "ValidationException", "Invalid nextToken")
        flt = req.get("filterBy") or {}
        if not isinstance(flt, dict):
            raise _Error(400, "ValidationException", "filterBy must be an object")
        health = flt.get("health")
        if health is not None and health not in HEALTHS:
            raise _Error(400, "ValidationException", "bad filterBy.health")
        with f.lock:
            if f.config["deny_list_streams"]:
                raise _Error(403, "AccessDeniedException",
                             "User is not authorized to perform: ivs:ListStreams")
            size = mr if not f.config["page_size"] else min(mr, int(f.config["page_size"]))
            arns = sorted(a for a, s in f.streams.items()
                          if ARN_RE.match(a).group(2) == region and a > after
                          and (health is None or s["health"] == health))
            page = arns[:size]
            doc = {"streams": [f._stream_json(a, f.streams[a], summary=True) for a in page]}
            if len(arns) > size:
                doc["nextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
            return 200, doc


def f_pop_script(f, op):
    """First pending script entry for op (or '*'); lock held."""
    for i, e in enumerate(f.script):
        if e.get("op", "*") in (op, "*") and not (op == "creds" and e.get("op", "*") == "*"):
            return f.script.pop(i)
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here (atomically) once listening")
    ap.add_argument("--cred", action="append", default=[], metavar="AKID:SECRET[:TOKEN]",
                    help="valid credentials (repeatable); default AKIDFAKE:fake-secret")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--rps-limit", type=int, default=0)
    ap.add_argument("--page-size", type=int, default=0)
    ap.add_argument("--region", help="require this signing region (default: any)")
    ap.add_argument("--max-skew", type=int, default=900)
    ap.add_argument("--creds-token", help="Authorization value required on /creds/")
    ap.add_argument("--creds-ttl", type=float, default=3600)
    ap.add_argument("--creds-rotate", action="store_true")
    ap.add_argument("--streams", help="JSON file {arn: {...}} of streams live at start")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    creds = {}
    for c in a.cred:
        parts = c.split(":", 2)
        if len(parts) < 2:
            ap.error("--cred needs AKID:SECRET[:TOKEN]")
        creds[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None)
    fake = FakeIVS(credentials=creds or None, host=a.host, port=a.port, latency_ms=a.latency_ms,
                   rps_limit=a.rps_limit, page_size=a.page_size, region=a.region,
                   creds_token=a.creds_token, creds_ttl=a.creds_ttl,
                   creds_rotate=a.creds_rotate, max_skew=a.max_skew, verbose=a.verbose)
    if a.streams:
        fake.set_streams(json.loads(Path(a.streams).read_text()))
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % fake.port)
        os.replace(tmp, a.port_file)
    print(fake.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
