"""supabase-js (the client existing front ends use) against the sync API."""
import json
import shutil
import subprocess
import uuid

import pytest

from conftest import ROOT, base_env, channel_arn
from fakeivs import FakeIVS

JS = ROOT / "tests" / "js"


@pytest.fixture(scope="module")
def node():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed")
    if not (JS / "node_modules" / "@supabase" / "supabase-js").exists():
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=JS,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    return shutil.which("node")


def invoke(node, port, key, show_id=None):
    args = [node, str(JS / "invoke.mjs"), f"http://127.0.0.1:{port}", key]
    if show_id:
        args.append(show_id)
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_functions_invoke(node, pg, db, daemon_factory):
    with FakeIVS(latency_ms=5) as fake:
        ch = channel_arn(1)
        fake.set_stream(ch, stream_id="st-js", start_time="2026-01-01T10:00:00Z",
                        viewer_count=17)
        sid = str(uuid.uuid4())
        pg.psql(f"INSERT INTO shows (id, title, status, ivs_channel_arn) VALUES "
                f"('{sid}', 'js', 'scheduled', '{ch}')", db)
        d = daemon_factory(base_env(pg, db, SERVICE_ROLE_KEY="svc-key-123",
                                    AWS_ACCESS_KEY_ID="AKIDFAKE",
                                    AWS_SECRET_ACCESS_KEY="fake-secret",
                                    AWS_ENDPOINT_URL_IVS=fake.url, SYNC_FRESHNESS="0"))
        out = invoke(node, d.port, "svc-key-123", sid)
        assert out["error"] is None, out
        data = out["data"]
        assert data["success"] is True
        assert data["summary"] == {"total": 1, "changed": 1, "errors": 0, "live": 1, "offline": 0}
        assert data["results"] == {"showId": sid, "previousStatus": "offline",
                                   "newStatus": "live", "changed": True, "viewerCount": 17}
        out = invoke(node, d.port, "svc-key-123")
        assert out["error"] is None and isinstance(out["data"]["results"], list)
        assert out["data"]["results"][0]["showId"] == sid
        out = invoke(node, d.port, "not-the-key", sid)
        assert out["status"] == 401 and out["body"] == {"error": "Unauthorized"}
        out = invoke(node, d.port, "svc-key-123", str(uuid.uuid4()))
        assert out["status"] == 404 and out["body"] == {"error": "Show not found"}
