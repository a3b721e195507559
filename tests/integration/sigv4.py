"""AWS Signature Version 4 (header form), pure stdlib.

An implementation independent of libcurl, used by the fake IVS server to
check every request the daemon sends, and by the tests to sign requests.

Rules (AWS "Create a canonical request"):
  * method as given;
  * canonical URI: for non-S3 services the path is normalized (RFC 3986 dot
    segments removed, empty segments collapsed, trailing slash kept) and each
    segment is URI-encoded (unreserved = A-Z a-z 0-9 - . _ ~, UTF-8, upper hex).
    The path is taken exactly as it appears in the request line, so a path that
    is already percent-encoded on the wire ends up encoded twice ("double
    encoding", as botocore does).  normalize_path=False (S3) keeps the segments
    as they are and encodes them once (decode, then encode);
  * canonical query: split on '&' and the first '=', decode, re-encode, sort by
    encoded key then encoded value, empty value -> "key=";
  * canonical headers: lowercase names, values trimmed with runs of spaces
    collapsed to one, several values of one name joined with ',' in request
    order, sorted by name, each line "name:value\\n";
  * signed headers: the lowercase names joined with ';';
  * payload hash: hex SHA-256 of the body (or an explicit payload_hash).
"""

import datetime as _dt
import hashlib
import hmac
import re
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = "-_.~"  # plus ALPHA / DIGIT, which quote() never encodes
_SPACES = re.compile(r"[ \t]+")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def uri_encode(s, safe=""):
    """URI-encode per SigV4: everything but unreserved characters (and `safe`)."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return urllib.parse.quote(s, safe=_UNRESERVED + safe)


def normalize_path_segments(path):
    """RFC 3986 remove_dot_segments plus collapsing of empty segments."""
    if path == "":
        return "/"
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    out = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    res = "/" + "/".join(out)
    if trailing and out:
        res += "/"
    return res


def canonical_uri(path, normalize_path=True):
    if not path:
        path = "/"
    if normalize_path:
        path = normalize_path_segments(path)
        return "/".join(uri_encode(seg) for seg in path.split("/"))
    return "/".join(uri_encode(urllib.parse.unquote_to_bytes(seg)) for seg in path.split("/"))


def canonical_query(query):
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        k = uri_encode(urllib.parse.unquote_to_bytes(k))
        v = uri_encode(urllib.parse.unquote_to_bytes(v))
        pairs.append((k, v))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def trim_value(value):
    # obs-fold continuation lines arrive as embedded CR/LF: treat as spaces
    value = value.replace("\r", " ").replace("\n", " ")
    return _SPACES.sub(" ", value.strip(" \t"))


def _signed_list(signed_headers):
    if isinstance(signed_headers, str):
        return [h for h in signed_headers.split(";") if h]
    return [h.lower() for h in signed_headers]


def canonical_headers(headers, signed_headers):
    """Returns (canonical header block incl. final blank line terminator, signed string)."""
    names = _signed_list(signed_headers)
    values = {}
    for name, value in headers:
        lname = name.strip().lower()
        if lname in names:
            values.setdefault(lname, []).append(trim_value(value))
    lines = []
    for name in sorted(names):
        if name not in values:
            raise KeyError(name)
        lines.append("%s:%s\n" % (name, ",".join(values[name])))
    return "".join(lines), ";".join(sorted(names))


def canonical_request(method, path, query, headers, signed_headers, payload_bytes,
                      normalize_path=True, payload_hash=None):
    """The SigV4 canonical request as a str.

    path: the path as it appears in the request line (no query); query: the raw
    query string without '?'; headers: list of (name, value) (duplicates allowed);
    signed_headers: list of names or a ';' string; payload_bytes: the body.
    """
    if payload_hash is None:
        if isinstance(payload_bytes, str):
            payload_bytes = payload_bytes.encode("utf-8")
        payload_hash = hashlib.sha256(payload_bytes or b"").hexdigest()
    block, signed = canonical_headers(headers, signed_headers)
    return "\n".join([method, canonical_uri(path, normalize_path), canonical_query(query),
                      block, signed, payload_hash])


def credential_scope(date, region, service):
    return "%s/%s/%s/aws4_request" % (date, region, service)


def string_to_sign(amz_date, region, service, creq):
    return "\n".join([ALGORITHM, amz_date, credential_scope(amz_date[:8], region, service),
                      hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def signature(key, sts):
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(access_key, amz_date, region, service, signed_headers, sig):
    return "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, credential_scope(amz_date[:8], region, service),
        ";".join(_signed_list(signed_headers)), sig)


def amz_date_of(when=None):
    """'YYYYMMDDTHHMMSSZ' for a datetime / epoch seconds / None (now)."""
    if when is None:
        when = time.time()
    if isinstance(when, (int, float)):
        when = _dt.datetime.fromtimestamp(when, _dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_amz_date(s):
    d = _dt.datetime.strptime(s, "%Y%m%dT%H%M%SZ")
    return d.replace(tzinfo=_dt.timezone.utc).timestamp()


def sign_request(method, path_with_query, headers, body, access_key, secret, region, service,
                 session_token=None, when=None, content_sha256=False, sign_token=True,
                 normalize_path=True):
    """Sign a request: returns a new header list = headers + X-Amz-Date
    [+ X-Amz-Security-Token] [+ x-amz-content-sha256] + Authorization.
    Every header passed in (and Host, which must be among them) is signed."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    amz_date = amz_date_of(when)
    hdrs = [(n, v) for n, v in headers if n.lower() != "authorization"]
    hdrs.append(("X-Amz-Date", amz_date))
    unsigned = []
    if session_token is not None:
        (hdrs if sign_token else unsigned).append(("X-Amz-Security-Token", session_token))
    if content_sha256:
        hdrs.append(("x-amz-content-sha256", hashlib.sha256(body).hexdigest()))
    names = sorted({n.lower() for n, _ in hdrs})
    path, _, query = path_with_query.partition("?")
    creq = canonical_request(method, path, query, hdrs, names, body, normalize_path)
    sts = string_to_sign(amz_date, region, service, creq)
    sig = signature(signing_key(secret, amz_date[:8], region, service), sts)
    return hdrs + unsigned + [
        ("Authorization", authorization_header(access_key, amz_date, region, service, names, sig))]


def parse_authorization(value):
    """Parse 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'.
    Returns dict(access_key, date, region, service, terminator, signed_headers, signature)
    or raises ValueError."""
    value = value.strip()
    algo, _, rest = value.partition(" ")
    if algo != ALGORITHM:
        raise ValueError("unsupported algorithm %r" % algo)
    fields = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        k, eq, v = part.partition("=")
        if not eq or k in fields:
            raise ValueError("bad authorization component %r" % part)
        fields[k] = v
    for k in ("Credential", "SignedHeaders", "Signature"):
        if k not in fields:
            raise ValueError("authorization header requires '%s'" % k)
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or not all(cred):
        raise ValueError("malformed credential %r" % fields["Credential"])
    return {"access_key": cred[0], "date": cred[1], "region": cred[2], "service": cred[3],
            "terminator": cred[4], "signed_headers": fields["SignedHeaders"].split(";"),
            "signature": fields["Signature"]}


def _lookup(credentials_lookup, akid):
    if callable(credentials_lookup):
        return credentials_lookup(akid)
    return credentials_lookup.get(akid)


def verify(method, raw_path_with_query, headers, body, credentials_lookup, now=None,
           max_skew=900, normalize_path=True):
    """Check the SigV4 signature of a request.

    headers: list of (name, value) as received; body: bytes;
    credentials_lookup: callable(akid) or dict akid -> (secret, session_token|None)
    or None if unknown (a callable may raise LookupError("ExpiredTokenException: ...")
    to reject with a specific reason); now: epoch seconds / datetime / None;
    max_skew: seconds allowed between now and X-Amz-Date (None = unchecked).

    Returns (ok, reason, region, service).  reason is "" when ok, otherwise
    "<AwsErrorCode>: text" where the code is one of MissingAuthenticationTokenException,
    IncompleteSignatureException, UnrecognizedClientException, InvalidSignatureException,
    ExpiredTokenException.  region/service come from the credential scope (None when
    the Authorization header could not be parsed).
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    hmap = {}
    for name, value in headers:
        hmap.setdefault(name.strip().lower(), []).append(value)

    auths = hmap.get("authorization")
    if not auths:
        return False, "MissingAuthenticationTokenException: missing Authentication Token", None, None
    if len(auths) != 1:
        return False, "IncompleteSignatureException: several Authorization headers", None, None
    try:
        a = parse_authorization(auths[0])
    except ValueError as e:
        return False, "IncompleteSignatureException: %s" % e, None, None
    region, service = a["region"], a["service"]

    def fail(reason):
        return False, reason, region, service

    if a["terminator"] != "aws4_request":
        return fail("IncompleteSignatureException: credential must end with aws4_request")
    try:
        cred = _lookup(credentials_lookup, a["access_key"])
    except LookupError as e:
        return fail(str(e.args[0]) if e.args else "UnrecognizedClientException: invalid key")
    if cred is None:
        return fail("UnrecognizedClientException: The security token included in the request "
                    "is invalid (unknown access key %s)" % a["access_key"])
    secret, token = cred[0], (cred[1] if len(cred) > 1 else None)

    signed = a["signed_headers"]
    if any(h != h.lower() or not h for h in signed) or signed != sorted(set(signed)):
        return fail("IncompleteSignatureException: SignedHeaders must be lowercase, sorted, unique")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return fail("InvalidSignatureException: '%s' must be a signed header" % required)
    for h in signed:
        if h not in hmap:
            return fail("InvalidSignatureException: signed header '%s' is missing" % h)

    dates = hmap["x-amz-date"]
    amz_date = dates[0].strip()
    if len(dates) != 1 or not _AMZ_DATE.match(amz_date):
        return fail("IncompleteSignatureException: bad X-Amz-Date %r" % ",".join(dates))
    if a["date"] != amz_date[:8]:
        return fail("InvalidSignatureException: credential date %s does not match X-Amz-Date %s"
                    % (a["date"], amz_date))
    try:
        t_req = parse_amz_date(amz_date)
    except ValueError:
        return fail("IncompleteSignatureException: bad X-Amz-Date %r" % amz_date)
    if max_skew is not None:
        if now is None:
            now_s = time.time()
        elif isinstance(now, _dt.datetime):
            now_s = (now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)).timestamp()
        else:
            now_s = float(now)
        if abs(now_s - t_req) > max_skew:
            return fail("InvalidSignatureException: Signature expired: %s is more than %ss "
                        "away from now (%s)" % (amz_date, max_skew, amz_date_of(now_s)))

    tokens = hmap.get("x-amz-security-token")
    if token:
        if not tokens:
            return fail("MissingAuthenticationTokenException: X-Amz-Security-Token required for "
                        "temporary credentials")
        if "x-amz-security-token" not in signed:
            return fail("InvalidSignatureException: X-Amz-Security-Token must be signed")
        if len(tokens) != 1 or not hmac.compare_digest(tokens[0].strip().encode(),
                                                        token.encode()):
            return fail("UnrecognizedClientException: The security token included in the "
                        "request is invalid")
    elif tokens:
        return fail("UnrecognizedClientException: The security token included in the request "
                    "is invalid (credential has no session token)")

    body_hash = hashlib.sha256(body).hexdigest()
    shas = hmap.get("x-amz-content-sha256")
    if shas is not None:
        if len(shas) != 1 or shas[0].strip() != body_hash:
            return fail("InvalidSignatureException: x-amz-content-sha256 does not match the body")

    path, _, query = raw_path_with_query.partition("?")
    try:
        creq = canonical_request(method, path, query, headers, signed, body, normalize_path,
                                 payload_hash=body_hash)
    except KeyError as e:
        return fail("InvalidSignatureException: signed header %s is missing" % e)
    sts = string_to_sign(amz_date, region, service, creq)
    expect = signature(signing_key(secret, a["date"], region, service), sts)
    if not _HEX64.match(a["signature"]) or not hmac.compare_digest(expect, a["signature"]):
        return fail("InvalidSignatureException: The request signature we calculated does not "
                    "match the signature you provided.\nThe Canonical String for this request "
                    "should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n"
                    % (creq, sts))
    return True, "", region, service
