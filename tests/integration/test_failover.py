"""Primary failover with the real daemon (issue 14, part 3): a primary and a
synchronous streaming standby, a multi-host DATABASE_URL
(target_session_attrs=read-write), EventBridge events at a fixed rate from a
driver that retries non-2xx answers the way SNS redelivers (honouring
Retry-After, else backing off). The primary stops (-m immediate), the standby is
promoted, events keep flowing. Nothing answered 2xx may be lost, nothing may be
recorded twice, every answer in the gap is 503 with Retry-After, and /readyz is
200 again within seconds of the promotion."""
import heapq
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import base_env, channel_arn, ivs_event  # noqa: E402
from pgcluster import Pair, migrate  # noqa: E402

EB = {"X-Ivs-Syncd-Token": "eb-secret-token", "Content-Type": "application/json"}
RATE = 100          # new events per second
BEFORE = 3.0        # seconds of traffic before the primary dies
DETECT = 0.5        # seconds from the primary's death to the promotion
AFTER = 4.0         # seconds of new traffic after the promotion
READY_WITHIN = 5.0  # /readyz 200 again at most this long after the promotion


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.destroy()


class Driver:
    """Sends each event until it gets a 2xx, like SNS: a new event every
    1/RATE s; a non-2xx answer (or no answer) is retried after Retry-After (at
    most 2 s) or an exponential backoff from 0.1 s. Several senders, so a slow
    answer does not stop the clock."""

    def __init__(self, d, events, senders=8):
        self.d = d
        self.events = events
        self.heap = []      # (due, seq, index, attempt)
        self.lock = threading.Condition()
        self.answers = []   # (t_sent, t_answer, index, status, retry_after, body)
        self.done = {}      # index -> t of its 2xx
        self.stop = False
        self.seq = 0
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(senders)]

    def start(self):
        t0 = time.time()
        with self.lock:
            for i in range(len(self.events)):
                heapq.heappush(self.heap, (t0 + i / RATE, i, i, 0))
            self.seq = len(self.events)
            self.lock.notify_all()
        for t in self.threads:
            t.start()
        return t0

    def _send(self):
        while True:
            with self.lock:
                while not self.stop and (not self.heap or self.heap[0][0] > time.time()):
                    wait = self.heap[0][0] - time.time() if self.heap else 0.05
                    self.lock.wait(max(0.001, min(wait, 0.05)))
                if self.stop:
                    return
                _, _, i, attempt = heapq.heappop(self.heap)
            ts = time.time()
            st, ra, body = None, None, b""
            try:
                st, h, body = self.d.request("POST", "/eventbridge", self.events[i], EB, timeout=5)
                ra = h.get("retry-after")
            except OSError as e:
                body = repr(e).encode()
            ta = time.time()
            with self.lock:
                self.answers.append((ts, ta, i, st, ra, body[:200]))
                if st is not None and 200 <= st < 300:
                    self.done[i] = ta
                else:
                    delay = min(2.0, float(ra)) if ra and ra.isdigit() else \
                        min(2.0, 0.1 * 2 ** attempt)
                    self.seq += 1
                    heapq.heappush(self.heap, (ta + delay, self.seq, i, attempt + 1))
                self.lock.notify_all()

    def wait_all(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.done) == len(self.events):
                    break
            time.sleep(0.05)
        with self.lock:
            self.stop = True
            self.lock.notify_all()
        for t in self.threads:
            t.join(10)


def test_failover_to_promoted_standby_loses_nothing(pair, daemon_factory):
    db = "ivs"
    pair.primary.psql(f"CREATE DATABASE {db}")
    r = migrate(pair.url(db))
    assert r.returncode == 0, r.stderr
    chans = [channel_arn(900 + k) for k in range(8)]
    rows = ",".join(f"('{uuid.uuid4()}', 't', 'scheduled', '{c}')" for c in chans)
    pair.primary.psql("INSERT INTO shows (id, title, status, ivs_channel_arn) VALUES " + rows, db)

    n = int((BEFORE + DETECT + AFTER) * RATE)
    events = []
    for i in range(n):
        c = chans[i % len(chans)]
        k = i // len(chans)
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1767261600 + k)) + "Z"
        name = "Stream Start" if k % 2 == 0 else "Stream End"
        events.append(ivs_event(name, c, stream_id=f"st-{k // 2}", t=t))

    # a long END_GRACE_SECONDS keeps each show 'live' through its Ends, so every
    # event is applied by its time alone and the final state does not depend on
    # the order retries arrived in: each channel ends live or offline as its
    # latest event says
    env = base_env(pair.primary, db, DATABASE_URL=pair.url(db), END_GRACE_SECONDS="3600")
    d = daemon_factory(env)
    ready = []  # (t, status)
    ready_stop = threading.Event()

    def poll_ready():
        while not ready_stop.is_set():
            try:
                st, _, _ = d.request("GET", "/readyz", timeout=2)
            except OSError:
                st = None
            ready.append((time.time(), st))
            time.sleep(0.05)

    rt = threading.Thread(target=poll_ready, daemon=True)
    rt.start()
    drv = Driver(d, events)
    t0 = drv.start()
    time.sleep(max(0, t0 + BEFORE - time.time()))
    t_kill = time.time()
    pair.primary.stop("immediate")
    time.sleep(DETECT)
    pair.standby.promote()
    t_promoted = time.time()
    assert pair.standby.is_primary()
    drv.wait_all(timeout=t0 + BEFORE + DETECT + AFTER + 20 - time.time())
    ready_stop.set()
    rt.join(5)

    missing = [i for i in range(n) if i not in drv.done]
    assert not missing, f"{len(missing)} events never answered 2xx, e.g. " + \
        str([a for a in drv.answers if a[2] == missing[0]][-3:])

    # the gap: first non-2xx to the first 2xx after it
    answers = sorted(drv.answers, key=lambda a: a[1])
    bad = [a for a in answers if a[3] is None or not 200 <= a[3] < 300]
    assert bad, "no answer in the gap: the failover went unnoticed?"
    first_bad = bad[0][1]
    after = [a for a in answers if a[1] > first_bad and a[3] is not None and 200 <= a[3] < 300]
    first_good = after[0][1]
    in_gap = [a for a in answers if first_bad <= a[1] < first_good]
    statuses = {}
    for a in bad:
        statuses[a[3]] = statuses.get(a[3], 0) + 1
    t_ready = [t for t, st in ready if t >= t_promoted and st == 200]
    print(f"\nfailover: {n} events at {RATE}/s; primary stopped at +{t_kill - t0:.2f}s, "
          f"promoted at +{t_promoted - t0:.2f}s; gap {first_good - first_bad:.2f}s "
          f"(first non-2xx +{first_bad - t0:.2f}s, first 2xx after +{first_good - t0:.2f}s); "
          f"{len(bad)} non-2xx answers {statuses}; {len(drv.answers) - n} retries; "
          f"/readyz 200 {t_ready[0] - t_promoted:.2f}s after the promotion" if t_ready else
          "/readyz never 200 after the promotion")
    assert all(a[3] == 503 and a[4] and a[4].isdigit() and int(a[4]) >= 1 for a in in_gap), \
        [a for a in in_gap if a[3] != 503 or not a[4]][:5]
    assert all(a[3] == 503 and a[4] for a in bad), [a for a in bad if a[3] != 503][:5]
    assert t_ready and t_ready[0] - t_promoted <= READY_WITHIN, ready[-20:]
    # /readyz said 503 during the gap (not 200 while events were refused)
    assert any(st == 503 for t, st in ready if t_kill <= t <= first_good)

    # every event exactly once on the new primary, none missing, none extra
    new = pair.standby
    got = new.rows("SELECT event_id, count(*) FROM ivs_sync.events GROUP BY 1", db)
    ids = {e["id"] for e in events}
    assert len(got) == n and {g[0] for g in got} == ids and all(g[1] == "1" for g in got)
    # the final state per channel is that of its latest event
    last = {}
    for e in events:
        last[e["resources"][0]] = e["detail"]["event_name"]
    for c, name in last.items():
        st = new.psql(f"SELECT stream_status, status FROM shows WHERE ivs_channel_arn = '{c}'", db)
        assert st == ("live|live" if name == "Stream Start" else "offline|live"), (c, name, st)
    dup = new.psql("SELECT count(*) FROM ivs_sync.events WHERE outcome = 'duplicate'", db)
    assert dup == "0"
    rc = d.stop()
    assert rc == 0
