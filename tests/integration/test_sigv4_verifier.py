"""The stdlib SigV4 implementation (sigv4.py) reproduces the official AWS test
vectors exactly (both layouts of the suite), and verify() accepts each signed
vector and rejects it after a one-byte change."""

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sigv4  # noqa: E402

TESTDATA = Path(os.environ.get("IVS_TESTDATA")
                or Path(__file__).resolve().parents[2] / "tests" / "fixtures")
SUITE1 = TESTDATA / "sigv4-suite"
SUITE2 = TESTDATA / "sigv4-suite-v2"

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION, SERVICE = "us-east-1", "service"
AMZ_DATE = "20150830T123600Z"
NOW = dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=dt.timezone.utc)
STS_TOKEN = ("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAe"
             "MicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZ"
             "ampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVq"
             "r7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICC"
             "R/oLxBA==")


def read(p):
    return p.read_bytes().decode("utf-8")


class RawRequest:
    def __init__(self, method, target, headers, body):
        self.method, self.target, self.headers, self.body = method, target, headers, body

    @property
    def path(self):
        return self.target.partition("?")[0]

    @property
    def query(self):
        return self.target.partition("?")[2]

    def names(self):
        return sorted({n.lower() for n, _ in self.headers})

    def copy(self):
        return RawRequest(self.method, self.target, list(self.headers), self.body)


def parse_raw_request(text):
    """Parse a suite request file: request line (the target may contain spaces),
    header lines 'Name:value' (a line starting with whitespace continues the
    previous header: its text is a further value of that header), a blank line,
    then the body (LF separated, no final newline)."""
    lines = text.split("\n")
    first = lines[0]
    method, _, rest = first.partition(" ")
    target, _, version = rest.rpartition(" ")
    assert version.startswith("HTTP/"), first
    headers = []
    i = 1
    while i < len(lines) and lines[i] != "":
        line = lines[i]
        if line[0] in " \t":
            assert headers, "continuation before any header"
            headers.append((headers[-1][0], line))
        else:
            name, colon, value = line.partition(":")
            assert colon, line
            headers.append((name, value))
        i += 1
    body = "\n".join(lines[i + 1:]) if i < len(lines) else ""
    return RawRequest(method, target, headers, body.encode("utf-8"))


def suite1_cases():
    if not SUITE1.is_dir():
        return []
    return sorted(p.name for p in SUITE1.iterdir() if (p / (p.name + ".req")).is_file())


def suite2_cases():
    if not SUITE2.is_dir():
        return []
    return sorted(p.name for p in SUITE2.iterdir() if (p / "context.json").is_file())


def test_suites_present():
    assert len(suite1_cases()) >= 13, SUITE1
    assert len(suite2_cases()) >= 9, SUITE2
    assert "get-vanilla-with-session-token" in suite2_cases()


def compute(req, signed, secret=SECRET, amz_date=AMZ_DATE, region=REGION, service=SERVICE):
    creq = sigv4.canonical_request(req.method, req.path, req.query, req.headers, signed, req.body)
    sts = sigv4.string_to_sign(amz_date, region, service, creq)
    sig = sigv4.signature(sigv4.signing_key(secret, amz_date[:8], region, service), sts)
    return creq, sts, sig


def header(req, name):
    vals = [v for n, v in req.headers if n.lower() == name]
    assert len(vals) == 1, (name, req.headers)
    return vals[0]


def with_auth(req, authz):
    r = req.copy()
    r.headers.append(("Authorization", authz))
    return r


def do_verify(req, creds, now=NOW, **kw):
    return sigv4.verify(req.method, req.target, req.headers, req.body, creds, now=now, **kw)


# --- the 2015 layout ---------------------------------------------------------------------

@pytest.mark.parametrize("case", suite1_cases())
def test_suite1_vector(case):
    d = SUITE1 / case
    req = parse_raw_request(read(d / (case + ".req")))
    creq, sts, sig = compute(req, req.names())
    assert creq == read(d / (case + ".creq"))
    assert sts == read(d / (case + ".sts"))
    authz = sigv4.authorization_header(AKID, AMZ_DATE, REGION, SERVICE, req.names(), sig)
    assert authz == read(d / (case + ".authz"))


def suite1_signed(case):
    d = SUITE1 / case
    req = parse_raw_request(read(d / (case + ".req")))
    return with_auth(req, read(d / (case + ".authz")))


def suite1_creds(req):
    tok = [v for n, v in req.headers if n.lower() == "x-amz-security-token"]
    return {AKID: (SECRET, tok[0] if tok else None)}


def mutations(req):
    """One-byte changes of the body, a signed header, the path and the date."""
    out = {}
    r = req.copy()
    r.body = (r.body[:-1] + bytes([r.body[-1] ^ 1])) if r.body else b"x"
    out["body"] = r
    r = req.copy()
    r.headers = [(n, ("f" + v[1:]) if n.lower() == "host" else v) for n, v in r.headers]
    out["header"] = r
    r = req.copy()
    p, q, rest = r.target.partition("?")
    r.target = p + "x" + q + rest  # a changed byte elsewhere may normalize away (../..)
    out["path"] = r
    r = req.copy()
    r.headers = [(n, v.replace("T123600Z", "T123601Z") if n.lower() == "x-amz-date" else v)
                 for n, v in r.headers]
    out["date"] = r
    r = req.copy()
    r.headers = [(n, v.replace("20150830T", "20150831T") if n.lower() == "x-amz-date" else v)
                 for n, v in r.headers]
    out["date-day"] = r
    if "?" in req.target:
        r = req.copy()
        r.target = r.target[:-1] + chr(ord(r.target[-1]) ^ 1)
        out["query"] = r
    return out


@pytest.mark.parametrize("case", suite1_cases())
def test_suite1_verify_accepts_and_rejects(case):
    req = suite1_signed(case)
    creds = suite1_creds(req)
    assert do_verify(req, creds) == (True, "", REGION, SERVICE)
    for what, bad in mutations(req).items():
        ok, reason, region, service = do_verify(bad, creds)
        assert not ok, what
        assert reason.startswith("InvalidSignatureException"), (what, reason)
        assert (region, service) == (REGION, SERVICE)


@pytest.mark.parametrize("case", suite1_cases())
def test_suite1_sreq(case):
    """The .sreq files (the request as sent) verify, except post-sts-header-after
    whose token is added unsigned: a temporary credential must sign it."""
    d = SUITE1 / case
    sreq = parse_raw_request(read(d / (case + ".sreq")))
    ok, reason, _, _ = do_verify(sreq, suite1_creds(sreq))
    if case == "post-sts-header-after":
        assert not ok and "must be signed" in reason
        # and verifying it as if the credential had no token fails too
        ok, reason, _, _ = do_verify(sreq, {AKID: (SECRET, None)})
        assert not ok and reason.startswith("UnrecognizedClientException")
    else:
        assert ok, reason


# --- the newer layout --------------------------------------------------------------------

def suite2_request(case):
    """request.txt plus the headers the signer adds per context.json."""
    d = SUITE2 / case
    ctx = json.loads(read(d / "context.json"))
    req = parse_raw_request(read(d / "request.txt"))
    ts = dt.datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    amz_date = ts.strftime("%Y%m%dT%H%M%SZ")
    req.headers.append(("X-Amz-Date", amz_date))
    token = ctx["credentials"].get("token")
    if token and not ctx.get("omit_session_token", False):
        req.headers.append(("X-Amz-Security-Token", token))
    if ctx.get("sign_body"):
        req.headers.append(("x-amz-content-sha256", sigv4.hashlib.sha256(req.body).hexdigest()))
    return ctx, amz_date, req


@pytest.mark.parametrize("case", suite2_cases())
def test_suite2_vector(case):
    d = SUITE2 / case
    ctx, amz_date, req = suite2_request(case)
    assert ctx["normalize"] is True  # all present cases are non-S3
    c = ctx["credentials"]
    creq, sts, sig = compute(req, req.names(), c["secret_access_key"], amz_date, ctx["region"],
                             ctx["service"])
    assert creq == read(d / "header-canonical-request.txt")
    assert sts == read(d / "header-string-to-sign.txt")
    assert sig == read(d / "header-signature.txt").strip()
    signed = parse_raw_request(read(d / "header-signed-request.txt"))
    authz = sigv4.authorization_header(c["access_key_id"], amz_date, ctx["region"],
                                       ctx["service"], req.names(), sig)
    assert header(signed, "authorization") == authz
    assert header(signed, "x-amz-date") == amz_date


@pytest.mark.parametrize("case", suite2_cases())
def test_suite2_verify_accepts_and_rejects(case):
    d = SUITE2 / case
    ctx = json.loads(read(d / "context.json"))
    c = ctx["credentials"]
    creds = {c["access_key_id"]: (c["secret_access_key"], c.get("token"))}
    signed = parse_raw_request(read(d / "header-signed-request.txt"))
    assert do_verify(signed, creds) == (True, "", ctx["region"], ctx["service"])
    for what, bad in mutations(signed).items():
        ok, reason, _, _ = do_verify(bad, creds)
        assert not ok, what
        assert reason.startswith("InvalidSignatureException"), (what, reason)


# --- session tokens ----------------------------------------------------------------------

def test_session_token_vector_rules():
    d = SUITE2 / "get-vanilla-with-session-token"
    ctx = json.loads(read(d / "context.json"))
    token = ctx["credentials"]["token"]
    signed = parse_raw_request(read(d / "header-signed-request.txt"))
    assert header(signed, "x-amz-security-token") == token
    good = {AKID: (SECRET, token)}
    assert do_verify(signed, good)[0]
    # the credential has a different token
    ok, reason, _, _ = do_verify(signed, {AKID: (SECRET, token[:-1] + "0")})
    assert not ok and reason.startswith("UnrecognizedClientException")
    # credential without token, request with one
    ok, reason, _, _ = do_verify(signed, {AKID: (SECRET, None)})
    assert not ok and reason.startswith("UnrecognizedClientException")
    # token header removed although signed
    r = signed.copy()
    r.headers = [(n, v) for n, v in r.headers if n.lower() != "x-amz-security-token"]
    ok, reason, _, _ = do_verify(r, good)
    assert not ok and "x-amz-security-token" in reason
    # a request correctly signed without any token, for a temporary credential
    hdrs = sigv4.sign_request("GET", "/", [("Host", "example.amazonaws.com")], b"", AKID,
                              SECRET, REGION, SERVICE, when=NOW)
    ok, reason, _, _ = do_verify(RawRequest("GET", "/", hdrs, b""), good)
    assert not ok and reason.startswith("MissingAuthenticationTokenException")
    assert do_verify(RawRequest("GET", "/", hdrs, b""), {AKID: (SECRET, None)})[0]
    # sign_request with the token reproduces the vector's Authorization header
    hdrs = sigv4.sign_request("GET", "/", [("Host", "example.amazonaws.com")], b"", AKID,
                              SECRET, REGION, SERVICE, session_token=token, when=NOW)
    assert dict(hdrs)["Authorization"] == header(signed, "authorization")
    # token header changed by one byte
    r = signed.copy()
    r.headers = [(n, (v[:-1] + "0") if n.lower() == "x-amz-security-token" else v)
                 for n, v in r.headers]
    assert not do_verify(r, good)[0]


def test_sign_request_with_session_token_roundtrip():
    hdrs = sigv4.sign_request("POST", "/GetStream", [("Host", "ivs.test"),
                                                     ("Content-Type", "application/json")],
                              b'{"a":1}', "ASIAX", "s3cr3t", "eu-west-1", "ivs",
                              session_token="tok/en+=", when=NOW)
    creds = {"ASIAX": ("s3cr3t", "tok/en+=")}
    r = RawRequest("POST", "/GetStream", hdrs, b'{"a":1}')
    assert do_verify(r, creds) == (True, "", "eu-west-1", "ivs")
    # the same request signed but with the token added after signing is refused
    hdrs2 = sigv4.sign_request("POST", "/GetStream", [("Host", "ivs.test")], b"{}", "ASIAX",
                               "s3cr3t", "eu-west-1", "ivs", session_token="tok/en+=",
                               when=NOW, sign_token=False)
    ok, reason, _, _ = do_verify(RawRequest("POST", "/GetStream", hdrs2, b"{}"), creds)
    assert not ok and "must be signed" in reason


# --- other verify() checks -----------------------------------------------------------------

def vanilla():
    return suite1_signed("get-vanilla")


def test_verify_unknown_key_and_missing_auth():
    req = vanilla()
    ok, reason, region, service = do_verify(req, {"OTHER": (SECRET, None)})
    assert not ok and reason.startswith("UnrecognizedClientException")
    assert (region, service) == (REGION, SERVICE)
    r = req.copy()
    r.headers = [(n, v) for n, v in r.headers if n.lower() != "authorization"]
    ok, reason, region, service = do_verify(r, suite1_creds(r))
    assert not ok and reason.startswith("MissingAuthenticationTokenException")
    assert region is None
    # callable lookup
    assert do_verify(req, lambda k: (SECRET, None) if k == AKID else None)[0]


def test_verify_wrong_secret():
    ok, reason, _, _ = do_verify(vanilla(), {AKID: (SECRET + "x", None)})
    assert not ok and reason.startswith("InvalidSignatureException")


def test_verify_clock_skew():
    req = vanilla()
    creds = suite1_creds(req)
    assert do_verify(req, creds, now=NOW + dt.timedelta(seconds=899))[0]
    ok, reason, _, _ = do_verify(req, creds, now=NOW + dt.timedelta(seconds=901))
    assert not ok and "expired" in reason
    ok, _, _, _ = do_verify(req, creds, now=NOW.timestamp() - 901)
    assert not ok
    assert do_verify(req, creds, now=0, max_skew=None)[0]


def test_verify_requires_host_and_date_signed():
    req = parse_raw_request(read(SUITE1 / "get-vanilla" / "get-vanilla.req"))
    for signed in (["x-amz-date"], ["host"]):
        creq, sts, sig = compute(req, signed)
        r = with_auth(req, sigv4.authorization_header(AKID, AMZ_DATE, REGION, SERVICE, signed,
                                                      sig))
        ok, reason, _, _ = do_verify(r, suite1_creds(r))
        assert not ok and "must be a signed header" in reason, reason


def test_verify_scope_and_malformed_authorization():
    req = vanilla()
    creds = suite1_creds(req)
    auth = header(req, "authorization")
    cases = {
        "scope date": auth.replace("/20150830/", "/20150831/"),
        "terminator": auth.replace("aws4_request", "aws5_request"),
        "algorithm": auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        "no signature": auth.split(", Signature=")[0],
        "short credential": auth.replace("AKIDEXAMPLE/20150830/", "AKIDEXAMPLE/"),
        "uppercase signature": auth[:-64] + auth[-64:].upper(),
        "unsorted signed": auth.replace("host;x-amz-date", "x-amz-date;host"),
        "region": auth.replace("/us-east-1/", "/us-west-2/"),
        "service": auth.replace("/service/", "/ivs/"),
    }
    for what, a in cases.items():
        r = req.copy()
        r.headers = [(n, a if n.lower() == "authorization" else v) for n, v in r.headers]
        ok, reason, _, _ = do_verify(r, creds)
        assert not ok, what
    # authorization without spaces after commas is still parsed
    r = req.copy()
    r.headers = [(n, auth.replace(", ", ",") if n.lower() == "authorization" else v)
                 for n, v in r.headers]
    assert do_verify(r, creds)[0]


def test_verify_content_sha256_mismatch():
    d = SUITE2 / "post-x-www-form-urlencoded"
    ctx = json.loads(read(d / "context.json"))
    c = ctx["credentials"]
    creds = {c["access_key_id"]: (c["secret_access_key"], None)}
    signed = parse_raw_request(read(d / "header-signed-request.txt"))
    assert do_verify(signed, creds)[0]
    r = signed.copy()
    r.body = b"Param1=value2"
    ok, reason, _, _ = do_verify(r, creds)
    assert not ok and "x-amz-content-sha256" in reason


def test_multivalue_and_continuation_headers():
    """Duplicate header lines and obs-fold continuations are joined with ','
    (the original suite's get-header-key-duplicate / get-header-value-multiline)."""
    text = ("GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\n"
            "My-Header1:value2\nMy-Header1:value1\nMy-Header2:value1\n  value2\n     value3\n"
            "X-Amz-Date:20150830T123600Z")
    req = parse_raw_request(text)
    creq, _, _ = compute(req, req.names())
    assert creq.split("\n")[3:8] == [
        "host:example.amazonaws.com",
        "my-header1:value2,value2,value1",
        "my-header2:value1,value2,value3",
        "x-amz-date:20150830T123600Z",
        "",
    ]
    # the same as http.server hands it over (fold inside the value)
    hdrs = [("Host", "example.amazonaws.com"), ("My-Header2", "value1\r\n  value2\r\n value3"),
            ("X-Amz-Date", AMZ_DATE)]
    block, _ = sigv4.canonical_headers(hdrs, ["host", "my-header2", "x-amz-date"])
    assert "my-header2:value1 value2 value3\n" in block


def test_canonical_pieces():
    assert sigv4.canonical_uri("/a//b/./c/../d/") == "/a/b/d/"
    assert sigv4.canonical_uri("/example space/") == "/example%20space/"
    # a path that is already encoded on the wire is encoded again (non-S3)
    assert sigv4.canonical_uri("/example%20space/") == "/example%2520space/"
    # S3 style: no normalization, single encoding
    assert sigv4.canonical_uri("/my-object//example//photo.user", False) == \
        "/my-object//example//photo.user"
    assert sigv4.canonical_uri("/a%20b/c d", False) == "/a%20b/c%20d"
    assert sigv4.canonical_query("b=2&a=&c&a=1") == "a=&a=1&b=2&c="
    assert sigv4.canonical_query("k=a%2Fb&k=a b") == "k=a%20b&k=a%2Fb"
    assert sigv4.canonical_query("%7E=~") == "~=~"
    assert sigv4.trim_value('  "a   b   c"  ') == '"a b c"'
