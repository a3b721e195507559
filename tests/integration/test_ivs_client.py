"""The real binary's IVS client (`ivs-syncd ivs ...`) against FakeIVS.

FakeIVS checks every request's SigV4 signature with its own verifier
(sigv4.py, independent of libcurl) and records rates, concurrency and
credentials use. Binary: $IVS_SYNCD_BIN (default /work/main/build/ivs-syncd).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakeivs import FakeIVS  # noqa: E402

BIN = os.environ.get("IVS_SYNCD_BIN", "/work/main/build/ivs-syncd")
ACCT = "123456789012"
REGION = "us-west-2"
AKID, SECRET = "AKIDSTATIC", "se:cr/et+key"  # ':' in the secret on purpose
TMP_AKID, TMP_SECRET, TMP_TOKEN = "ASIATEMP", "temp-secret", "FwoTOKEN/abc+def=="


def arn(cid, region=REGION):
    return "arn:aws:ivs:%s:%s:channel/%s" % (region, ACCT, cid)


@pytest.fixture
def fake():
    f = FakeIVS(credentials={AKID: (SECRET, None), TMP_AKID: (TMP_SECRET, TMP_TOKEN)})
    yield f
    f.close()


def base_env(fake, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "IVS_", "SYNC_", "LOG_"))}
    env.update({"AWS_ENDPOINT_URL_IVS": fake.url, "AWS_REGION": REGION,
                "LOG_LEVEL": "warn", "LOG_FORMAT": "text",
                # never the machine's own credentials (instance metadata, ~/.aws)
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ivs-syncd-test/credentials",
                "AWS_CONFIG_FILE": "/nonexistent/ivs-syncd-test/config"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def static_env(fake, **extra):
    return base_env(fake, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, **extra)


def run(env, *args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([BIN, "ivs", *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    p.elapsed = time.monotonic() - t0
    p.lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return p


def check_no_secret(p):
    for s in (SECRET, TMP_SECRET, TMP_TOKEN, "Bearer s3cret-token"):
        assert s not in p.stdout and s not in p.stderr


def test_signed_request_static_keys(fake):
    fake.set_stream(arn("live1"), stream_id="st-live1", viewer_count=42,
                    start_time="2024-09-09T16:17:26.123Z")
    p = run(static_env(fake), "get-stream", arn("live1"))
    assert p.returncode == 0, p.stderr
    assert p.lines == [{"channelArn": arn("live1"), "streamId": "st-live1",
                        "startTime": "2024-09-09T16:17:26.123Z", "state": "LIVE",
                        "health": "HEALTHY", "viewerCount": 42}]
    st = fake.stats()
    assert st["bad_signatures"] == 0, st["last_signature_error"]
    req = st["requests"][-1]
    assert req["op"] == "GetStream" and req["status"] == 200
    assert req["region"] == REGION and req["access_key"] == AKID
    assert not req["session_token"]
    signed = req["signed_headers"].split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    check_no_secret(p)


def test_signed_request_session_token(fake):
    fake.set_stream(arn("live2"))
    env = base_env(fake, AWS_ACCESS_KEY_ID=TMP_AKID, AWS_SECRET_ACCESS_KEY=TMP_SECRET,
                   AWS_SESSION_TOKEN=TMP_TOKEN)
    p = run(env, "get-stream", arn("live2"))
    assert p.returncode == 0, p.stderr
    assert p.lines[0]["streamId"]
    req = fake.stats()["requests"][-1]
    assert req["session_token"] and "x-amz-security-token" in req["signed_headers"].split(";")
    assert fake.stats()["bad_signatures"] == 0
    check_no_secret(p)


def test_wrong_secret_is_an_auth_error(fake):
    p = run(base_env(fake, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY="wrong"),
            "get-stream", arn("x1"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "auth"
    assert "Signature" in p.lines[0]["error"]
    assert fake.stats()["calls"]["GetStream"] == 1  # not retried


def test_signing_region_is_the_arns(fake):
    fake.set_stream(arn("eu1", "eu-west-1"))
    p = run(static_env(fake), "get-stream", arn("eu1", "eu-west-1"), arn("us1"))
    assert p.returncode == 0, p.stdout
    assert p.lines[0]["state"] == "LIVE" and p.lines[1]["offline"] is True
    assert sorted(r["region"] for r in fake.stats()["requests"]) == ["eu-west-1", REGION]
    assert fake.stats()["region_mismatches"] == 0


def test_offline(fake):
    p = run(static_env(fake), "get-stream", arn("off1"))
    assert p.returncode == 0, p.stderr
    assert p.lines == [{"channelArn": arn("off1"), "offline": True}]


def test_not_found_is_an_error_not_offline(fake):
    fake.configure(not_found=[arn("gone1")])
    p = run(static_env(fake), "get-stream", arn("gone1"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "not_found"
    assert "ResourceNotFoundException" in p.lines[0]["error"]
    assert "offline" not in p.lines[0]


def test_access_denied(fake):
    fake.configure(script=[{"op": "GetStream", "status": 403, "body": {
        "message": "User is not authorized to perform: ivs:GetStream"}}])
    p = run(static_env(fake), "get-stream", arn("den1"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "access_denied"
    assert "AccessDeniedException" in p.lines[0]["error"]
    assert "not authorized" in p.lines[0]["error"]


def test_invalid_arn_not_sent(fake):
    p = run(static_env(fake), "get-stream", "arn:aws:ivs:us-west-2:1:channel/x")
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "validation"
    assert fake.stats()["calls"]["GetStream"] == 0


def test_throttled_then_success(fake):
    fake.set_stream(arn("thr1"))
    fake.configure(script=[{"op": "GetStream", "status": 429},
                           {"op": "GetStream", "status": 400,
                            "error_type": "ThrottlingException"}])
    p = run(static_env(fake), "get-stream", arn("thr1"))
    assert p.returncode == 0, p.stdout
    assert p.lines[0]["state"] == "LIVE"
    assert fake.stats()["calls"]["GetStream"] == 3


def test_5xx_then_success(fake):
    fake.configure(script=[{"op": "GetStream", "status": 503}])
    p = run(static_env(fake), "get-stream", arn("s5"))
    assert p.returncode == 0 and p.lines[0]["offline"] is True
    assert fake.stats()["calls"]["GetStream"] == 2


def test_gives_up_after_max_attempts(fake):
    fake.configure(script=[{"op": "GetStream", "status": 500}] * 5)
    p = run(static_env(fake, AWS_MAX_ATTEMPTS=2), "get-stream", arn("fail1"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "retryable"
    assert "after 2 attempts" in p.lines[0]["error"]
    assert fake.stats()["calls"]["GetStream"] == 2


def test_single_flight_same_arn(fake):
    fake.set_stream(arn("sf1"), viewer_count=3)
    p = run(static_env(fake), "get-stream", arn("sf1"), arn("sf1"), arn("sf1"))
    assert p.returncode == 0
    assert len(p.lines) == 3 and all(line["viewerCount"] == 3 for line in p.lines)
    assert fake.stats()["calls"]["GetStream"] == 1


def test_list_streams_paging(fake):
    live = {arn("pg%02d" % i): {"viewerCount": i} for i in range(23)}
    fake.set_streams(live)
    fake.set_stream(arn("other", "eu-west-1"))
    fake.configure(page_size=10)
    p = run(static_env(fake), "list-streams", "--region", REGION)
    assert p.returncode == 0, p.stderr
    out = p.lines[0]
    assert out["complete"] is True and out["pages"] == 3
    assert sorted(s["channelArn"] for s in out["streams"]) == sorted(live)
    assert fake.stats()["calls"]["ListStreams"] == 3
    assert fake.stats()["bad_signatures"] == 0


def test_list_streams_failed_page_is_incomplete(fake):
    fake.set_streams({arn("lp%02d" % i): {} for i in range(15)})
    fake.configure(page_size=10, script=[
        {"op": "ListStreams", "delay_ms": 0},  # first page passes through
        {"op": "ListStreams", "status": 400, "error_type": "ValidationException"}])
    p = run(static_env(fake), "list-streams")
    assert p.returncode == 1
    out = p.lines[0]
    assert out["complete"] is False and out["errorKind"] == "validation"
    assert len(out["streams"]) == 10


def test_list_streams_denied(fake):
    fake.configure(deny_list_streams=True)
    p = run(static_env(fake), "list-streams")
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "access_denied"


def _max_sliding(ts, window=1.0):
    ts = sorted(ts)
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_rate_limit_holds(fake):
    arns = [arn("rl%02d" % i) for i in range(12)]
    p = run(static_env(fake, IVS_MAX_RPS=3, IVS_MAX_INFLIGHT=8), "get-stream", *arns)
    assert p.returncode == 0, p.stdout
    assert len(p.lines) == 12
    st = fake.stats()
    assert st["calls"]["GetStream"] == 12
    assert st["max_calls_in_any_second"] <= 3
    assert _max_sliding([r["t"] for r in st["requests"]]) <= 3
    assert p.elapsed >= 3.0  # 12 calls at 3/s cannot finish sooner


def test_inflight_cap(fake):
    fake.configure(latency_ms=400)
    arns = [arn("if%02d" % i) for i in range(8)]
    p = run(static_env(fake, IVS_MAX_RPS=100, IVS_MAX_INFLIGHT=2), "get-stream", *arns)
    assert p.returncode == 0, p.stdout
    st = fake.stats()
    assert st["calls"]["GetStream"] == 8
    assert 1 <= st["max_concurrent"] <= 2
    assert p.elapsed >= 1.5  # 4 waves of 400 ms


def test_timeout(fake):
    fake.configure(latency_ms=3000)
    p = run(static_env(fake, IVS_TIMEOUT=1, AWS_MAX_ATTEMPTS=2), "get-stream", arn("slow1"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "retryable"
    assert "timeout" in p.lines[0]["error"].lower()
    assert fake.stats()["calls"]["GetStream"] == 2
    assert p.elapsed < 2.9 + 1.0


def test_no_credentials(fake):
    p = run(base_env(fake), "get-stream", arn("nc1"))
    assert p.returncode == 1
    assert "AWS credentials not configured" in p.stderr
    assert fake.stats()["calls"]["GetStream"] == 0


# --- container credentials ---------------------------------------------------------

def container_env(fake, path="/creds/role", **extra):
    return base_env(fake, AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.url + path, **extra)


def test_container_credentials_with_token(fake):
    fake.configure(creds_token="Bearer s3cret-token")
    fake.set_stream(arn("cc1"))
    p = run(container_env(fake, AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer s3cret-token"),
            "get-stream", arn("cc1"))
    assert p.returncode == 0, p.stdout + p.stderr
    st = fake.stats()
    assert st["creds_calls"] == 1 and st["creds_denied"] == 0
    req = [r for r in st["requests"] if r["op"] == "GetStream"][-1]
    assert req["access_key"].startswith("ASIAFAKE") and req["session_token"]
    assert st["bad_signatures"] == 0
    check_no_secret(p)


def test_container_credentials_token_file(fake, tmp_path):
    fake.configure(creds_token="Bearer s3cret-token")
    tf = tmp_path / "token"
    tf.write_text("Bearer s3cret-token\n")
    p = run(container_env(fake, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tf,
                          AWS_CONTAINER_AUTHORIZATION_TOKEN="ignored-when-file-set"),
            "get-stream", arn("cc2"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.lines[0]["offline"] is True
    assert fake.stats()["creds_denied"] == 0
    check_no_secret(p)


def test_container_credentials_wrong_token(fake):
    fake.configure(creds_token="Bearer s3cret-token")
    p = run(container_env(fake, AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer nope"),
            "get-stream", arn("cc3"))
    assert p.returncode == 1
    assert p.lines[0]["errorKind"] == "no_credentials"
    assert "401" in p.lines[0]["error"]
    assert fake.stats()["calls"]["GetStream"] == 0


def test_container_token_with_newline_refused(fake):
    p = run(container_env(fake, AWS_CONTAINER_AUTHORIZATION_TOKEN="abc\r\nX-Evil: 1"),
            "get-stream", arn("cc4"))
    assert p.returncode != 0
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" in p.stderr
    assert fake.stats()["creds_calls"] == 0


def test_container_full_uri_host_not_allowed(fake):
    env = base_env(fake, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://example.com/creds")
    p = run(env, "get-stream", arn("cc5"))
    assert p.returncode != 0
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in p.stderr
    assert p.elapsed < 5


def test_container_credentials_refreshed_before_expiry(fake):
    fake.configure(creds_ttl=3, creds_rotate=True, creds_grace=0)
    fake.set_stream(arn("rf1"))
    p = run(container_env(fake), "get-stream", "--repeat", "5", "--interval-ms", "1000",
            arn("rf1"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(p.lines) == 5 and all(line["state"] == "LIVE" for line in p.lines)
    st = fake.stats()
    assert st["creds_calls"] >= 2
    keys = [r["access_key"] for r in st["requests"] if r["op"] == "GetStream"]
    assert len(set(keys)) >= 2  # the rotated keys were used
    assert st["bad_signatures"] == 0, st["last_signature_error"]
