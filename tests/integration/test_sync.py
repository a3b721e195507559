"""The old function's API: POST /functions/v1/sync-ivs-stream-status and /v1/sync
(SPEC 1.3), with the real daemon, PostgreSQL and FakeIVS."""
import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from conftest import (AUTH, KEY, SYNC, add_show, add_shows, aws_env, base_env, by_id,
                      channel_arn, check_body_shape, fake_calls, show, sync)


JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"
UNAUTHORIZED = (401, {"error": "Unauthorized"})


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(payload, secret=JWT_SECRET, alg="HS256", sign=True):
    h = b64u(json.dumps({"alg": alg, "typ": "JWT"}))
    p = b64u(json.dumps(payload))
    if not sign:
        return f"{h}.{p}."
    dig = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    s = hmac.new(secret.encode(), f"{h}.{p}".encode(), dig).digest()
    return f"{h}.{p}.{b64u(s)}"


def bearer(tok):
    return {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}


@pytest.fixture
def d(pg, db, fake, daemon_factory):
    return daemon_factory(aws_env(pg, db, fake, JWT_SECRET=JWT_SECRET,
                                  RECONCILE_STRATEGY="list"))


# ---- auth ----

def test_auth_accepted(pg, db, fake, d):
    sid = add_show(pg, db, channel_arn(1))
    exp = int(time.time()) + 600
    good = [
        AUTH,
        {"Authorization": "bearer " + KEY},  # the scheme is case-insensitive
        bearer(make_jwt({"role": "service_role", "exp": exp})),
        bearer(make_jwt({"role": "authenticated", "app_metadata": {"role": "admin"},
                         "exp": exp, "sub": str(uuid.uuid4())})),
    ]
    for h in good:
        st, b = sync(d, {"showId": sid}, h)
        assert st == 200, (h, b)
        check_body_shape(b, single=True)


def test_auth_refused(pg, db, fake, d):
    sid = add_show(pg, db, channel_arn(2))
    now = int(time.time())
    exp = now + 600
    # (trailing blanks are not part of an HTTP header value: "Bearer KEY " is the key)
    near = [KEY + "x", KEY[:-1], KEY[:-1] + chr(ord(KEY[-1]) ^ 1), KEY.upper(), KEY + " x",
            "x" + KEY, KEY + KEY, KEY[:8], KEY + "\\0"]
    tokens = near + [
        make_jwt({"role": "service_role", "exp": now - 120}),           # expired
        make_jwt({"role": "service_role"}),                             # no exp: never expires
        make_jwt({"role": "service_role", "nbf": now - 10}),            # no exp
        make_jwt({"role": "service_role", "exp": exp}, "other-secret"),  # wrong signature
        make_jwt({"role": "service_role", "exp": exp}, alg="none", sign=False),
        make_jwt({"role": "service_role", "exp": exp}, alg="none"),
        make_jwt({"role": "service_role", "exp": exp}, alg="HS512"),
        make_jwt({"role": "authenticated", "user_metadata": {"role": "admin"}, "exp": exp}),
        make_jwt({"role": "authenticated", "exp": exp}),
        make_jwt({"role": "anon", "exp": exp}),
        make_jwt({"app_metadata": {"role": "Admin"}, "exp": exp}),
        make_jwt({"role": "service_role", "nbf": now + 300, "exp": exp}),  # beyond leeway
        make_jwt({"role": "service_role", "exp": exp})[:-2],            # truncated signature
        make_jwt({"role": "service_role", "exp": exp}).replace(".", "..", 1),
        "not.a.jwt", "....", "a",
    ]
    headers = [bearer(t) for t in tokens] + [
        {},                                         # missing
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": KEY},                     # no scheme
        {"Authorization": "Basic " + KEY},
        {"Authorization": "Token " + KEY},
        {"apikey": KEY},                            # the anon-key header is not auth
        {"x-internal-call": "true"},                # the old "internal call" bypass is gone
        {"Authorization": "Bearer " + KEY[:-1], "x-internal-call": "true"},
    ]
    calls = fake_calls(fake)
    for h in headers:
        for path in (SYNC, "/v1/sync"):
            st, _, raw = d.request("POST", path, json.dumps({"showId": sid}), h)
            assert (st, json.loads(raw)) == UNAUTHORIZED, (h, raw)
            st, _, raw = d.request("POST", path, "", h)
            assert (st, json.loads(raw)) == UNAUTHORIZED, (h, raw)
    assert fake_calls(fake) == calls  # nothing reached IVS
    assert d.metric("ivs_syncd_sync_requests_total", 'kind="any",result="unauthorized"') == \
        4 * len(headers)
    text = d.text()
    assert KEY not in text and JWT_SECRET not in text


def test_jwt_exp_required_with_leeway(pg, db, fake, d):
    """A JWT must carry exp (SPEC 1.3 "unexpired"); 60 s of clock skew is allowed
    on exp and nbf, no more."""
    sid = add_show(pg, db, channel_arn(40))
    now = int(time.time())
    assert sync(d, {"showId": sid}, bearer(make_jwt({"role": "service_role"}))) == UNAUTHORIZED
    assert sync(d, {"showId": sid},
                bearer(make_jwt({"role": "service_role", "exp": now - 120}))) == UNAUTHORIZED
    assert sync(d, {"showId": sid},
                bearer(make_jwt({"role": "service_role", "exp": now + 600,
                                 "nbf": now + 300}))) == UNAUTHORIZED
    for p in ({"role": "service_role", "exp": now - 10},
              {"role": "service_role", "exp": now + 600, "nbf": now + 20}):
        st, b = sync(d, {"showId": sid}, bearer(make_jwt(p)))
        assert st == 200, (p, b)


def test_jwt_refused_without_jwt_secret_and_key_without_service_key(pg, db, fake,
                                                                    daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, SERVICE_ROLE_KEY=None))
    sid = add_show(pg, db, channel_arn(3))
    tok = make_jwt({"role": "service_role", "exp": int(time.time()) + 60})
    assert sync(d, {"showId": sid}, bearer(tok)) == UNAUTHORIZED
    assert sync(d, {"showId": sid}, AUTH) == UNAUTHORIZED


def test_supabase_env_names(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, SERVICE_ROLE_KEY=None,
                               SUPABASE_SERVICE_ROLE_KEY="sb-key-1",
                               SUPABASE_JWT_SECRET="sb-jwt-secret"))
    sid = add_show(pg, db, channel_arn(4))
    assert sync(d, {"showId": sid}, bearer("sb-key-1"))[0] == 200
    tok = make_jwt({"role": "service_role", "exp": int(time.time()) + 60}, "sb-jwt-secret")
    assert sync(d, {"showId": sid}, bearer(tok))[0] == 200


# ---- shapes ----

def test_single_show_shape(pg, db, fake, d):
    ch = channel_arn(10)
    sid = add_show(pg, db, ch)
    fake.set_stream(ch, stream_id="st-1", viewer_count=42)
    for path in (SYNC, "/v1/sync"):
        st, h, raw = d.request("POST", path, json.dumps({"showId": sid}), AUTH)
        assert st == 200 and h["content-type"].startswith("application/json")
        b = json.loads(raw)
        check_body_shape(b, single=True)
        assert list(b) == ["success", "summary", "results"]
        assert list(b["summary"]) == ["total", "changed", "errors", "live", "offline"]
        assert list(b["results"]) == ["showId", "previousStatus", "newStatus", "changed",
                                      "viewerCount"]
    st, b = sync(d, {"showId": sid}, path=SYNC)
    # (the first call changed it: offline -> live; later ones report no change)
    assert b == {"success": True,
                 "summary": {"total": 1, "changed": 0, "errors": 0, "live": 1, "offline": 0},
                 "results": {"showId": sid, "previousStatus": "live", "newStatus": "live",
                             "changed": False, "viewerCount": 42}}


def test_single_show_transitions(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, SYNC_FRESHNESS="0"))
    ch = channel_arn(11)
    sid = add_show(pg, db, ch, stream_status=None)  # a legacy row: stream_status NULL
    fake.set_stream(ch, stream_id="st-2", viewer_count=5, start_time="2026-02-01T12:00:00Z")
    st, b = sync(d, {"showId": sid.upper()})  # any case
    assert st == 200
    assert b["results"] == {"showId": sid, "previousStatus": None, "newStatus": "live",
                            "changed": True, "viewerCount": 5}
    assert b["summary"] == {"total": 1, "changed": 1, "errors": 0, "live": 1, "offline": 0}
    s = show(pg, db, sid)
    assert s["status"] == "live" and s["went_live_at"].startswith("2026-02-01 12:00:00")
    fake.end_stream(ch)
    st, b = sync(d, {"showId": sid})
    assert b["results"] == {"showId": sid, "previousStatus": "live", "newStatus": "offline",
                            "changed": True, "viewerCount": 5}
    assert b["summary"] == {"total": 1, "changed": 1, "errors": 0, "live": 0, "offline": 1}
    assert show(pg, db, sid)["status"] == "ended"
    # an ended show: nothing to change, answered as it is
    fake.set_stream(ch, stream_id="st-3")
    st, b = sync(d, {"showId": sid})
    assert st == 200 and b["results"]["newStatus"] == "offline" and not b["results"]["changed"]
    assert show(pg, db, sid)["stream_status"] == "offline"


def test_batch_covers_every_active_show(pg, db, fake, d):
    chans = [channel_arn(1000 + i) for i in range(150)]
    ids = add_shows(pg, db, chans[:100]) + add_shows(pg, db, chans[100:], status="live",
                                                     stream_status="live", is_streaming="true",
                                                     ivs_stream_id="st-old")
    live = {i for i in range(150) if i % 3 == 0}
    for i in live:
        fake.set_stream(chans[i], stream_id=f"st-{i}", viewer_count=i)
    # not part of a batch: ended/cancelled shows, shows without a channel
    add_show(pg, db, channel_arn(2000), status="ended")
    add_show(pg, db, channel_arn(2001), status="cancelled")
    add_show(pg, db, None)
    add_show(pg, db, "")
    active = set(ids)
    for n, body in enumerate((None, {}, {"showId": None})):
        st, b = sync(d, body)
        assert st == 200, b
        check_body_shape(b, single=False)
        res = by_id(b["results"])
        assert len(b["results"]) == len(res) == len(active)
        assert set(res) == active
        for i, sid in enumerate(ids):
            if sid not in active:
                continue
            assert res[sid]["newStatus"] == ("live" if i in live else "offline"), (i, res[sid])
            assert res[sid]["changed"] == (n == 0 and ((i < 100) == (i in live)))
            if i in live:
                assert res[sid]["viewerCount"] == i
        assert b["summary"]["live"] == len(live)
        assert b["summary"]["offline"] == len(active) - len(live)
        # the live shows that went offline ended: no longer active
        active = {sid for i, sid in enumerate(ids) if i < 100 or i in live}
    assert len(active) < 150
    got = dict(pg.rows("SELECT id, stream_status FROM shows", db))
    assert [got[sid] for sid in ids] == ["live" if i in live else "offline" for i in range(150)]


def test_batch_with_get_strategy(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake, RECONCILE_STRATEGY="get", IVS_MAX_RPS="200",
                               IVS_MAX_INFLIGHT="32"))
    chans = [channel_arn(3000 + i) for i in range(120)]
    ids = add_shows(pg, db, chans)
    for i in range(0, 120, 4):
        fake.set_stream(chans[i])
    st, b = sync(d, {})
    assert st == 200
    check_body_shape(b, single=False)
    assert set(by_id(b["results"])) == set(ids)
    assert b["summary"] == {"total": 120, "changed": 30, "errors": 0, "live": 30, "offline": 90}
    assert fake_calls(fake, "GetStream") == 120


def test_batch_with_no_active_show(pg, db, fake, d):
    st, b = sync(d)
    assert (st, b) == (200, {"success": True, "summary": {"total": 0, "changed": 0,
                                                          "errors": 0, "live": 0,
                                                          "offline": 0}, "results": []})


def test_show_not_found_and_bad_ids(pg, db, fake, d):
    assert sync(d, {"showId": str(uuid.uuid4())}) == (404, {"error": "Show not found"})
    for bad in ("nope", "1234", str(uuid.uuid4())[:-1], str(uuid.uuid4()) + "0",
                "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", " " + str(uuid.uuid4()),
                "'; DROP TABLE shows; --", 42, True, [], {}):
        st, b = sync(d, {"showId": bad})
        assert st == 400 and set(b) == {"error"} and "showId" in b["error"], (bad, b)
    for raw in ("{", "[]", "null", "\"x\"", "{\"showId\": \"a\"} trailing", "\x00"):
        st, _, body = d.request("POST", SYNC, raw, AUTH)
        assert st == 400 and set(json.loads(body)) == {"error"}, raw
    assert pg.psql("SELECT count(*) FROM shows", db) == "0"
    assert fake_calls(fake) == 0


def test_no_channel_is_a_result_error(pg, db, fake, d):
    for ch in (None, ""):
        sid = add_show(pg, db, ch)
        st, b = sync(d, {"showId": sid})
        assert st == 200
        check_body_shape(b, single=True)
        assert b["results"] == {"showId": sid, "previousStatus": "offline",
                                "newStatus": "offline", "changed": False,
                                "error": "No IVS channel configured"}
        assert b["summary"] == {"total": 1, "changed": 0, "errors": 1, "live": 0, "offline": 0}
    assert fake_calls(fake) == 0


def test_without_aws_credentials(pg, db, daemon_factory):
    d = daemon_factory(base_env(pg, db, None, SERVICE_ROLE_KEY=KEY))
    sid = add_show(pg, db, channel_arn(20))
    for body in ({"showId": sid}, {}, None):
        for path in (SYNC, "/v1/sync"):
            assert sync(d, body, path=path) == (500, {"error": "AWS credentials not configured"})
    # auth still comes first
    assert sync(d, {"showId": sid}, {}) == UNAUTHORIZED


def test_cors_default(pg, db, fake, d):
    for path in (SYNC, "/v1/sync"):
        st, h, body = d.request("OPTIONS", path, None, {
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-client-info, apikey, "
                                              "content-type"})
        assert st in (200, 204)
        assert h["access-control-allow-origin"] == "*"
        allowed = {x.strip() for x in h["access-control-allow-headers"].split(",")}
        assert {"authorization", "x-client-info", "apikey", "content-type"} <= allowed
        assert "POST" in h["access-control-allow-methods"]
        # the answers themselves carry it too (errors included, or browsers hide them)
        st, h, _ = d.request("POST", path, "", {"Origin": "https://app.example"})
        assert st == 401 and h["access-control-allow-origin"] == "*"
        st, h, _ = d.request("POST", path, "", AUTH)
        assert st == 200 and h["access-control-allow-origin"] == "*"


def test_cors_allow_list(pg, db, fake, daemon_factory):
    d = daemon_factory(aws_env(pg, db, fake,
                               CORS_ALLOW_ORIGINS="https://a.example,https://b.example"))
    for origin in ("https://a.example", "https://b.example"):
        st, h, _ = d.request("OPTIONS", SYNC, None, {"Origin": origin})
        assert st in (200, 204) and h["access-control-allow-origin"] == origin
        assert "origin" in h.get("vary", "").lower()
    for origin in ("https://evil.example", "https://a.example.evil", "null"):
        st, h, _ = d.request("OPTIONS", SYNC, None, {"Origin": origin})
        assert "access-control-allow-origin" not in h, (origin, h)
    st, h, _ = d.request("POST", SYNC, "", dict(AUTH, Origin="https://b.example"))
    assert st == 200 and h["access-control-allow-origin"] == "https://b.example"


def test_other_methods(pg, db, fake, d):
    for m in ("GET", "PUT", "DELETE"):
        st, _, body = d.request(m, SYNC, None, AUTH)
        assert st == 405 and set(json.loads(body)) == {"error"}
