"""The fake IVS server behaves as specified, driven with requests signed by sigv4.py."""

import concurrent.futures
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sigv4  # noqa: E402
from fakeivs import FakeIVS  # noqa: E402

AKID, SECRET = "AKIDTEST", "test-secret"
TAKID, TSECRET, TTOKEN = "ASIATEST", "temp-secret", "temp/token+=="
ACCT = "123456789012"


def arn(cid, region="us-west-2"):
    return "arn:aws:ivs:%s:%s:channel/%s" % (region, ACCT, cid)


A1, A2, A3 = arn("aaaa1111"), arn("bbbb2222"), arn("cccc3333")
E1 = arn("dddd4444", "eu-west-1")


@pytest.fixture
def fake():
    f = FakeIVS(credentials={AKID: (SECRET, None), TAKID: (TSECRET, TTOKEN)})
    yield f
    f.close()


def call(f, op, body, akid=AKID, secret=SECRET, token=None, region="us-west-2", service="ivs",
         raw_body=None, tamper=None, when=None, sign=True):
    data = raw_body if raw_body is not None else json.dumps(body).encode()
    host = "127.0.0.1:%d" % f.port
    hdrs = [("Host", host), ("Content-Type", "application/json")]
    if sign:
        hdrs = sigv4.sign_request("POST", "/" + op, hdrs, data, akid, secret, region, service,
                                  session_token=token, when=when)
    if tamper:
        hdrs, data = tamper(hdrs, data)
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
    try:
        c.putrequest("POST", "/" + op, skip_host=True, skip_accept_encoding=True)
        for n, v in hdrs:
            c.putheader(n, v)
        c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        raw = r.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), doc
    finally:
        c.close()


def ctl(f, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def etype(h):
    return h.get("x-amzn-errortype", "").split(":")[0]


# --- GetStream ---------------------------------------------------------------------------

def test_get_stream_live(fake):
    fake.set_stream(A1, stream_id="st-abc", start_time="2024-09-09T16:17:26Z", viewer_count=7,
                    health="STARVING")
    st, h, doc = call(fake, "GetStream", {"channelArn": A1})
    assert st == 200, doc
    s = doc["stream"]
    assert s["channelArn"] == A1 and s["streamId"] == "st-abc"
    assert s["startTime"] == "2024-09-09T16:17:26.000Z"
    assert s["state"] == "LIVE" and s["health"] == "STARVING" and s["viewerCount"] == 7
    assert s["playbackUrl"].startswith("https://") and s["playbackUrl"].endswith(".m3u8")
    assert h["content-type"] == "application/json" and "x-amzn-requestid" in h
    # update keeps the stream id, a new id restarts it
    fake.set_stream(A1, viewer_count=9)
    assert call(fake, "GetStream", {"channelArn": A1})[2]["stream"]["streamId"] == "st-abc"
    st = fake.stats()
    assert st["calls"]["GetStream"] == 2 and st["bad_signatures"] == 0
    r = st["requests"][-1]
    assert r["op"] == "GetStream" and r["region"] == "us-west-2" and r["channelArn"] == A1
    assert r["status"] == 200 and r["session_token"] is False
    assert r["signed_headers"] == "content-type;host;x-amz-date"


def test_get_stream_not_broadcasting_and_not_found(fake):
    st, h, doc = call(fake, "GetStream", {"channelArn": A2})
    assert st == 404
    assert h["x-amzn-errortype"] == \
        "ChannelNotBroadcasting:http://internal.amazon.com/coral/com.amazonaws.ivs/"
    assert doc == {"exceptionMessage": "Channel is not broadcasting"}
    fake.set_stream(A2)
    assert call(fake, "GetStream", {"channelArn": A2})[0] == 200
    fake.end_stream(A2)
    assert etype(call(fake, "GetStream", {"channelArn": A2})[1]) == "ChannelNotBroadcasting"
    fake.configure(not_found=[A3])
    st, h, doc = call(fake, "GetStream", {"channelArn": A3})
    assert st == 404 and etype(h) == "ResourceNotFoundException"


def test_get_stream_validation(fake):
    st, h, _ = call(fake, "GetStream", None, raw_body=b"{not json")
    assert st == 400 and etype(h) == "ValidationException"
    st, h, _ = call(fake, "GetStream", {})
    assert st == 400 and etype(h) == "ValidationException"
    st, h, _ = call(fake, "GetStream", {"channelArn": "arn:aws:ivs:bogus"})
    assert st == 400 and etype(h) == "ValidationException"
    st, h, _ = call(fake, "NoSuchOp", {})
    assert st == 404 and etype(h) == "UnknownOperationException"


def test_wrong_region(fake):
    fake.set_stream(A1)
    st, h, _ = call(fake, "GetStream", {"channelArn": A1}, region="us-east-1")
    assert st == 400 and etype(h) == "ValidationException"
    s = fake.stats()
    assert s["region_mismatches"] == 1 and s["requests"][-1]["region"] == "us-east-1"
    # signed for another service
    st, h, _ = call(fake, "GetStream", {"channelArn": A1}, service="s3")
    assert st == 403 and etype(h) == "InvalidSignatureException"
    # a regional endpoint: the signing region must be that one
    fake.configure(region="eu-west-1")
    st, h, _ = call(fake, "GetStream", {"channelArn": A1})
    assert st == 403 and etype(h) == "InvalidSignatureException"


# --- signatures --------------------------------------------------------------------------

def _replace_header(name, fn):
    def t(hdrs, data):
        return [(n, fn(v) if n.lower() == name else v) for n, v in hdrs], data
    return t


def test_bad_signatures(fake):
    fake.set_stream(A1)
    body = {"channelArn": A1}
    cases = [
        ("wrong secret", dict(secret="nope"), 403, "InvalidSignatureException"),
        ("unknown key", dict(akid="AKIDUNKNOWN"), 403, "UnrecognizedClientException"),
        ("unsigned", dict(sign=False), 403, "MissingAuthenticationTokenException"),
        ("body changed", dict(tamper=lambda h, d: (h, d.replace(b"aaaa", b"aaab"))), 403,
         "InvalidSignatureException"),
        ("host changed", dict(tamper=_replace_header("host", lambda v: "localhost:1")), 403,
         "InvalidSignatureException"),
        ("old date", dict(when=time.time() - 3600), 403, "InvalidSignatureException"),
        ("bad auth header", dict(tamper=_replace_header("authorization", lambda v: v[:40])),
         400, "IncompleteSignatureException"),
        ("temp creds without token", dict(akid=TAKID, secret=TSECRET), 403,
         "MissingAuthenticationTokenException"),
        ("temp creds wrong token", dict(akid=TAKID, secret=TSECRET, token="other"), 403,
         "UnrecognizedClientException"),
    ]
    for i, (what, kw, status, et) in enumerate(cases, 1):
        st, h, doc = call(fake, "GetStream", body, **kw)
        assert (st, etype(h)) == (status, et), (what, doc)
        assert "message" in doc
        assert fake.stats()["bad_signatures"] == i, what
    st = fake.stats()
    assert st["calls"]["GetStream"] == len(cases)
    assert [r["status"] for r in st["requests"]] == [c[2] for c in cases]


def test_session_token_accepted(fake):
    fake.set_stream(A1)
    st, _, doc = call(fake, "GetStream", {"channelArn": A1}, akid=TAKID, secret=TSECRET,
                      token=TTOKEN)
    assert st == 200, doc
    r = fake.stats()["requests"][-1]
    assert r["session_token"] is True and "x-amz-security-token" in r["signed_headers"]


# --- ListStreams -------------------------------------------------------------------------

def test_list_streams_paging(fake):
    arns = [arn("ch%04d" % i) for i in range(7)]
    for a in reversed(arns):
        fake.set_stream(a, viewer_count=1)
    fake.set_stream(E1)
    fake.set_stream(arns[3], health="STARVING")
    seen, token, pages = [], None, 0
    while True:
        body = {"maxResults": 3}
        if token:
            body["nextToken"] = token
        st, _, doc = call(fake, "ListStreams", body)
        assert st == 200, doc
        assert len(doc["streams"]) <= 3
        for s in doc["streams"]:
            assert set(s) == {"channelArn", "streamId", "startTime", "state", "health",
                              "viewerCount"}
        seen += [s["channelArn"] for s in doc["streams"]]
        pages += 1
        token = doc.get("nextToken")
        if not token:
            break
    assert seen == sorted(arns) and pages == 3
    # the other region
    st, _, doc = call(fake, "ListStreams", {}, region="eu-west-1")
    assert [s["channelArn"] for s in doc["streams"]] == [E1] and "nextToken" not in doc
    assert fake.stats()["requests"][-1]["region"] == "eu-west-1"
    # configured page size wins when smaller; default maxResults 50
    fake.configure(page_size=2)
    st, _, doc = call(fake, "ListStreams", {})
    assert len(doc["streams"]) == 2 and doc["nextToken"]
    # filter
    st, _, doc = call(fake, "ListStreams", {"filterBy": {"health": "STARVING"}})
    assert [s["channelArn"] for s in doc["streams"]] == [arns[3]]
    # validation
    for bad in ({"maxResults": 0}, {"maxResults": 101}, {"nextToken": "garbage!"}):
        st, h, _ = call(fake, "ListStreams", bad)
        assert st == 400 and etype(h) == "ValidationException", bad
    assert fake.stats()["calls"]["ListStreams"] == 9


def test_list_streams_denied(fake):
    fake.configure(deny_list_streams=True)
    st, h, _ = call(fake, "ListStreams", {})
    assert st == 403 and etype(h) == "AccessDeniedException"
    assert fake.stats()["bad_signatures"] == 0


# --- throttling, latency, script ---------------------------------------------------------

def test_throttle(fake):
    fake.set_stream(A1)
    # start right after a second boundary so the burst stays inside one window
    time.sleep(1.0 - (time.time() % 1.0) + 0.01)
    fake.configure(rps_limit=3)
    res = [call(fake, "GetStream", {"channelArn": A1}) for _ in range(5)]
    assert [r[0] for r in res] == [200, 200, 200, 429, 429]
    assert etype(res[3][1]) == "ThrottlingException"
    s = fake.stats()
    assert s["throttled"] == 2 and s["max_calls_in_any_second"] == 5
    assert s["per_second"][-1]["count"] == 5


def test_latency_and_concurrency(fake):
    fake.set_stream(A1)
    fake.configure(latency_ms=200)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        res = list(ex.map(lambda _: call(fake, "GetStream", {"channelArn": A1}), range(4)))
    took = time.time() - t0
    assert all(r[0] == 200 for r in res)
    assert took >= 0.2, took  # concurrency is shown by max_concurrent below
    s = fake.stats()
    assert s["max_concurrent"] == 4 and s["in_flight"] == 0


def test_script(fake):
    fake.set_stream(A1)
    fake.configure(script=[
        {"op": "GetStream", "status": 500},
        {"op": "ListStreams", "status": 429},
        {"op": "*", "status": 503, "body": "oops"},
        {"op": "GetStream", "raw": "garbage\r\n"},
        {"op": "GetStream", "delay_ms": 150},
    ])
    st, h, _ = call(fake, "GetStream", {"channelArn": A1})
    assert st == 500 and etype(h) == "InternalServerException"
    st, h, _ = call(fake, "ListStreams", {})
    assert st == 429 and etype(h) == "ThrottlingException"
    st, h, doc = call(fake, "GetStream", {"channelArn": A1})
    assert st == 503 and doc == b"oops"
    with pytest.raises((http.client.HTTPException, OSError)):
        call(fake, "GetStream", {"channelArn": A1})
    t0 = time.time()
    assert call(fake, "GetStream", {"channelArn": A1})[0] == 200
    assert time.time() - t0 >= 0.15
    assert fake.stats()["script_pending"] == 0
    assert call(fake, "GetStream", {"channelArn": A1})[0] == 200
    # scripts are not consumed by badly signed requests
    fake.configure(script=[{"op": "GetStream", "status": 500}])
    assert call(fake, "GetStream", {"channelArn": A1}, secret="x")[0] == 403
    assert fake.stats()["script_pending"] == 1


# --- control API over HTTP ---------------------------------------------------------------

def test_control_http(fake):
    st, doc = ctl(fake, "PUT", "/_fake/streams",
                  {A1: {"streamId": "st-1", "startTime": "2024-09-09T16:17:26.000Z",
                        "viewerCount": 4, "health": "HEALTHY"}, A2: {}})
    assert st == 200 and set(doc["streams"]) == {A1, A2}
    assert ctl(fake, "PUT", "/_fake/streams", {A2: None})[0] == 200
    assert set(fake.live_streams()) == {A1}
    st, _ = ctl(fake, "POST", "/_fake/config", {"latency_ms": 1, "not_found": [A3],
                                                "page_size": 5, "script": []})
    assert st == 200 and fake.config["page_size"] == 5
    assert ctl(fake, "POST", "/_fake/config", {"nope": 1})[0] == 400
    assert ctl(fake, "PUT", "/_fake/streams", {"not-an-arn": {}})[0] == 400
    call(fake, "GetStream", {"channelArn": A1})
    st, stats = ctl(fake, "GET", "/_fake/stats")
    assert st == 200 and stats["calls"] == {"GetStream": 1, "ListStreams": 0}
    for k in ("bad_signatures", "max_calls_in_any_second", "max_concurrent", "per_second",
              "requests", "creds_calls"):
        assert k in stats
    assert ctl(fake, "POST", "/_fake/reset")[0] == 200
    s = fake.stats()
    assert s["calls"]["GetStream"] == 0 and s["live"] == 0 and fake.config["page_size"] == 0


# --- container credentials ---------------------------------------------------------------

def creds_get(f, path="/creds/v2/task", auth=None):
    c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
    try:
        c.request("GET", path, headers={"Authorization": auth} if auth else {})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()


def test_container_credentials(fake):
    fake.set_stream(A1)
    fake.configure(creds_token="Bearer s3cr3t", creds_ttl=120)
    assert creds_get(fake)[0] == 401
    assert creds_get(fake, auth="Bearer wrong")[0] == 401
    st, c1 = creds_get(fake, auth="Bearer s3cr3t")
    assert st == 200 and set(c1) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    exp = dt.datetime.strptime(c1["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc).timestamp()
    assert 100 < exp - time.time() <= 121
    # no rotation: the same pair again
    assert creds_get(fake, auth="Bearer s3cr3t")[1]["AccessKeyId"] == c1["AccessKeyId"]
    # the issued credentials work for IVS (token required)
    kw = dict(akid=c1["AccessKeyId"], secret=c1["SecretAccessKey"])
    assert call(fake, "GetStream", {"channelArn": A1}, token=c1["Token"], **kw)[0] == 200
    assert call(fake, "GetStream", {"channelArn": A1}, **kw)[0] == 403
    # rotation: each call a new pair, old ones still valid
    fake.configure(creds_rotate=True)
    c2 = creds_get(fake, auth="Bearer s3cr3t")[1]
    c3 = creds_get(fake, auth="Bearer s3cr3t")[1]
    assert len({c1["AccessKeyId"], c2["AccessKeyId"], c3["AccessKeyId"]}) == 3
    for c in (c1, c2, c3):
        assert call(fake, "GetStream", {"channelArn": A1}, akid=c["AccessKeyId"],
                    secret=c["SecretAccessKey"], token=c["Token"])[0] == 200
    s = fake.stats()
    assert s["creds_calls"] == 6 and s["creds_denied"] == 2


def test_container_credentials_expire(fake):
    fake.set_stream(A1)
    fake.configure(creds_ttl=0, creds_grace=0.3)
    c = creds_get(fake)[1]
    kw = dict(akid=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["Token"])
    assert call(fake, "GetStream", {"channelArn": A1}, **kw)[0] == 200
    time.sleep(0.4)
    st, h, _ = call(fake, "GetStream", {"channelArn": A1}, **kw)
    assert st == 403 and etype(h) == "ExpiredTokenException"
    # a scripted failure of the endpoint
    fake.configure(script=[{"op": "creds", "status": 500}])
    assert creds_get(fake)[0] == 500
    assert creds_get(fake)[0] == 200


# --- as a script -------------------------------------------------------------------------

def test_cli():
    with tempfile.TemporaryDirectory() as d:
        pf = os.path.join(d, "port")
        p = subprocess.Popen([sys.executable, str(HERE / "fakeivs.py"), "--port", "0",
                              "--port-file", pf, "--cred", "%s:%s" % (AKID, SECRET),
                              "--page-size", "1"],
                             stdout=subprocess.PIPE, text=True)
        try:
            port = int(p.stdout.readline())
            assert int(Path(pf).read_text()) == port

            class Remote:
                pass
            r = Remote()
            r.port = port
            assert ctl(r, "PUT", "/_fake/streams", {A1: {}, A2: {}})[0] == 200
            st, _, doc = call(r, "ListStreams", {})
            assert st == 200 and len(doc["streams"]) == 1 and doc["nextToken"]
            st, stats = ctl(r, "GET", "/_fake/stats")
            assert stats["calls"]["ListStreams"] == 1
        finally:
            p.terminate()
            assert p.wait(5) == 0
