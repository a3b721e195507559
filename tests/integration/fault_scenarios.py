"""The fault scenarios of test_faults.py (issue 7) and their tools, sized by their
arguments: tests/integration/test_faults.py runs them small, tests/faults/ runs the
same ones bigger (more events, more kill/restart cycles, more replicas killed).

Not a test module (pytest collects nothing here), so both suites import it instead of
importing each other.  The invariant everywhere: an event answered 2xx is stored; an
event answered non-2xx (503 + Retry-After) is accepted when redelivered; nothing is
applied twice; no wrong state is written."""
import http.client
import json
import subprocess
import threading
import time

from conftest import (BIN, EB, PG, SLOW, Daemon, add_show, base_env, channel_arn, clean_env,
                      ivs_event)
from fakeivs import FakeIVS

AWS = dict(AWS_ACCESS_KEY_ID="AKIDFAKE", AWS_SECRET_ACCESS_KEY="fake-secret",
           AWS_REGION="us-east-1")


def wait_for(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def private_pg(dbname="e"):
    """A cluster of our own (it gets killed).  synchronous_commit back on: the shared test
    clusters turn it off for speed, and with it off an immediate stop loses the last
    commits - the database's own doing, not the daemon's."""
    c = PG()
    c.psql("ALTER SYSTEM SET synchronous_commit = on")
    c.psql("SELECT pg_reload_conf()")
    c.psql(f"CREATE DATABASE {dbname}")
    r = subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=c.url(dbname)),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return c


SHOW_COLS = ["status", "stream_status", "is_streaming", "ivs_stream_id", "went_live_at",
             "ended_at", "stream_state_at", "viewer_count", "stream_synced_at"]


def shows(pg, db):
    rows = pg.rows("SELECT id, " + ", ".join(f"coalesce({c}::text, '')" for c in SHOW_COLS) +
                   " FROM shows ORDER BY id", db)
    return {r[0]: dict(zip(SHOW_COLS, r[1:])) for r in rows}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Deliverer:
    """Posts events (SNS envelopes or EventBridge bodies) and keeps every answer."""

    def __init__(self, d, signer=None):
        self.d = d
        self.signer = signer
        self.lock = threading.Lock()
        self.answers = {}     # eid -> [(status, outcome, retry_after)]
        self.first = {}       # eid -> status of the first delivery

    def post(self, ev, body_sns=None, timeout=15):
        eid = ev["id"]
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=timeout * SLOW)
            try:
                if body_sns is not None:
                    c.request("POST", "/sns", body=body_sns,
                              headers={"Content-Type": "text/plain"})
                else:
                    c.request("POST", "/eventbridge", body=json.dumps(ev), headers=EB)
                r = c.getresponse()
                data = r.read()
                st = r.status
                ra = r.getheader("Retry-After")
            finally:
                c.close()
            try:
                outcome = json.loads(data).get("outcome")
            except ValueError:
                outcome = None
        except (OSError, http.client.HTTPException) as e:
            st, outcome, ra = 0, type(e).__name__, None
        with self.lock:
            self.answers.setdefault(eid, []).append((st, outcome, ra))
            self.first.setdefault(eid, st)
        return st

    def applied_twice(self):
        return [e for e, a in self.answers.items()
                if sum(1 for st, o, _ in a if st == 200 and o == "applied") > 1]

    def non2xx(self):
        return [(e, st, o, ra) for e, a in self.answers.items() for st, o, ra in a
                if not 200 <= st < 300]


def channel_plan(n_channels, per_channel, t0=1767261600, first=900):
    """For each channel: Starts of new streams at increasing times, then one End of the
    last stream.  Whatever order the Starts arrive in, the latest one wins; the End is
    sent once all of its channel's Starts were accepted.  Returns
    {channel: (starts, end)}."""
    plan = {}
    for k in range(n_channels):
        ch = channel_arn(first + k)
        starts = [ivs_event("Stream Start", ch, f"st-{k}-{i}", iso(t0 + 10 * i))
                  for i in range(per_channel)]
        end = ivs_event("Stream End", ch, f"st-{k}-{per_channel - 1}",
                        iso(t0 + 10 * per_channel))
        plan[ch] = (starts, end)
    return plan


def run_pg_kill(signer, n_channels=6, per_channel=30, cycles=1, down_s=1.0, threads=6):
    c = private_pg()
    d = None
    try:
        plan = channel_plan(n_channels, per_channel)
        sids = {ch: add_show(c, "e", ch) for ch in plan}
        # every fourth event through SNS (signed beforehand: signing is slow)
        sns_body = {}
        for starts, end in plan.values():
            for i, ev in enumerate(starts + [end]):
                if i % 4 == 0:
                    sns_body[ev["id"]] = json.dumps(signer.envelope(json.dumps(ev)))
        d = Daemon(base_env(c, "e", signer, DB_CONNECT_TIMEOUT="2", DB_POOL_SIZE="3"))
        dl = Deliverer(d, signer)
        total = n_channels * (per_channel + 1)
        sent = [0]
        faults = [0]
        lock = threading.Lock()
        chans = list(plan)

        def sender(mine):
            for i in range(per_channel):
                for ch in mine:
                    ev = plan[ch][0][i]
                    dl.post(ev, sns_body.get(ev["id"]))
                    with lock:
                        sent[0] += 1
                    time.sleep(0.003)

        def killer():
            for k in range(cycles):
                target = total * (k + 1) // (cycles + 2)
                wait_for(lambda: sent[0] >= target, 60, "events to be sent")
                c.stop("immediate")
                faults[0] += 1
                time.sleep(down_s)
                c.start()
        ts = [threading.Thread(target=sender, args=(chans[i::threads],))
              for i in range(threads)]
        kt = threading.Thread(target=killer)
        kt.start()
        [t.start() for t in ts]
        [t.join() for t in ts]
        kt.join()
        d.wait_ready(timeout=20)
        # 1. no 2xx lost: every event answered 2xx at first delivery is stored
        stored = {r[0] for r in c.rows("SELECT event_id FROM ivs_sync.events", "e")}
        ok_first = {e for e, st in dl.first.items() if 200 <= st < 300}
        lost = ok_first - stored
        assert not lost, f"{len(lost)} events answered 2xx but not stored"
        # 2. every refusal was a 503 with Retry-After (never a 4xx, never a dropped reply)
        bad = [x for x in dl.non2xx() if x[1] != 503 or not x[3]]
        assert not bad, bad[:5]
        # 3. redelivery of everything refused (as SNS would), then the Ends
        def redeliver(evs):
            for _ in range(50):
                pending = [ev for ev in evs
                           if not any(200 <= st < 300 for st, _, _ in dl.answers.get(ev["id"], []))]
                if not pending:
                    return
                for ev in pending:
                    dl.post(ev, sns_body.get(ev["id"]))
                time.sleep(0.2)
            raise AssertionError("events never accepted on redelivery")
        refused_first = len([e for e, st in dl.first.items() if not 200 <= st < 300])
        redeliver([ev for starts, _ in plan.values() for ev in starts])
        ends = [end for _, end in plan.values()]
        ev_even = [end for k, end in enumerate(ends) if k % 2 == 0]
        for ev in ev_even:
            dl.post(ev, sns_body.get(ev["id"]))
        redeliver(ev_even)
        # redelivered answers are all 200 with a known outcome
        for e, a in dl.answers.items():
            for st, o, _ in a:
                assert st == 503 or (st == 200 and o in ("applied", "duplicate", "stale",
                                                         "ignored")), (e, st, o)
        # 4. every event stored once; nothing applied twice; the final state is the last event
        n_sent = n_channels * per_channel + len(ev_even)
        assert c.psql("SELECT count(*) FROM ivs_sync.events", "e") == str(n_sent)
        assert c.psql("SELECT count(DISTINCT event_id) FROM ivs_sync.events", "e") == str(n_sent)
        twice = dl.applied_twice()
        assert not twice, twice[:5]
        dups = sum(1 for a in dl.answers.values() for st, o, _ in a if o == "duplicate")
        state = shows(c, "e")
        for k, ch in enumerate(chans):
            s = state[sids[ch]]
            last = plan[ch][0][-1]
            assert s["ivs_stream_id"] == last["detail"]["stream_id"], (ch, s)
            if k % 2 == 0:
                assert (s["stream_status"], s["is_streaming"], s["status"]) == \
                    ("offline", "false", "ended"), (ch, s)
            else:
                assert (s["stream_status"], s["is_streaming"], s["status"]) == \
                    ("live", "true", "live"), (ch, s)
                assert s["went_live_at"].startswith(last["time"][:19].replace("T", " ")), s
        n_ok = sum(1 for st in dl.first.values() if 200 <= st < 300)
        stats = dict(faults=faults[0], events=n_sent, answered_2xx_first=n_ok,
                     refused_first=refused_first, lost=len(lost), applied_twice=len(twice),
                     duplicates_answered=dups,
                     deliveries=sum(len(a) for a in dl.answers.values()))
        print("\npg kill:", json.dumps(stats))
        assert faults[0] == cycles
        return stats
    finally:
        if d:
            rc = d.stop()
            assert rc == 0, f"exit status {rc}"
        c.destroy()


def run_sigterm_under_load(pg, db, signer, daemon_factory, threads=6, per_thread=40,
                           delay_ms=150):
    """Every insert into ivs_sync.events takes delay_ms, so requests are inside the
    database when SIGTERM arrives.  One connection per request (no keep-alive race)."""
    pg.psql(f"""CREATE FUNCTION public.slow_down() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN PERFORM pg_sleep({delay_ms / 1000.0}); RETURN NEW; END $$;
              CREATE TRIGGER slow BEFORE INSERT ON ivs_sync.events FOR EACH ROW
              EXECUTE FUNCTION public.slow_down()""", db)
    d = daemon_factory(base_env(pg, db, signer, DB_POOL_SIZE="4", SHUTDOWN_TIMEOUT="20"))
    ch0 = 850
    for k in range(threads):
        add_show(pg, db, channel_arn(ch0 + k))
    dl = Deliverer(d)
    refused = [0]
    started = threading.Event()
    stop = threading.Event()

    def sender(k):
        ch = channel_arn(ch0 + k)
        for i in range(per_thread):
            if stop.is_set():
                return
            ev = ivs_event("Stream Start", ch, f"st-{k}-{i}", iso(1767261600 + i))
            st = dl.post(ev)
            started.set()
            if st == 0 and dl.answers[ev["id"]][-1][1] == "ConnectionRefusedError":
                refused[0] += 1
                dl.answers.pop(ev["id"])      # never sent: not in flight
                dl.first.pop(ev["id"])
                return
    ts = [threading.Thread(target=sender, args=(k,)) for k in range(threads)]
    [t.start() for t in ts]
    started.wait(10)
    time.sleep(0.5)
    # requests are in the database now
    wait_for(lambda: d.metric("ivs_syncd_db_pool_in_use", 'pool="main"') >= 1, 5, "load")
    t_sig = time.monotonic()
    d.proc.send_signal(15)
    rc = d.proc.wait(30)
    drain = time.monotonic() - t_sig
    stop.set()
    [t.join() for t in ts]
    text = d.text()
    assert rc == 0, text[-3000:]
    assert "drained" in text
    answered = {e: a for e, a in dl.answers.items()}
    dropped = [e for e, a in answered.items() if a[0][0] == 0]
    ok = {e for e, a in answered.items() if 200 <= a[0][0] < 300}
    stored = {r[0] for r in pg.rows("SELECT event_id FROM ivs_sync.events", db)}
    lost = ok - stored
    print(f"\nSIGTERM under load: {len(answered)} requests sent, {len(ok)} answered 2xx, "
          f"{len(dropped)} unanswered, {refused[0]} refused at connect, lost {len(lost)}, "
          f"drain {drain:.2f}s")
    assert not lost
    assert not dropped, (f"{len(dropped)} requests in flight got no answer: "
                         f"{[answered[e] for e in dropped]}\n" + text[-2500:])
    assert all(a[0][0] in (200, 503) for a in answered.values())
    assert len(ok) >= threads
    return len(ok)


def leader_of(ds):
    return [d for d in ds if d.proc.poll() is None and
            d.metric("ivs_syncd_reconcile_leader") == 1]


def run_leader_kill(pg, db, signer, daemon_factory, kills=1):
    fake = FakeIVS()
    ds = []
    try:
        env = base_env(pg, db, signer, RECONCILE_INTERVAL="1", RECONCILE_STRATEGY="get",
                       LEADER_LEASE="3", AWS_ENDPOINT_URL_IVS=fake.url, **AWS)
        for _ in range(kills + 1):
            ds.append(Daemon(env))
        for k in range(kills):
            leader = wait_for(lambda: leader_of(ds), 15, "a leader")
            assert len(leader) == 1, "two leaders"
            victim = leader[0]
            ch = channel_arn(870 + k)
            sid = add_show(pg, db, ch)
            # kill it mid-pass: its IVS calls are slow
            fake.configure(latency_ms=800)
            wait_for(lambda: fake.stats()["in_flight"] > 0, 10, "a pass in flight")
            victim.proc.kill()
            victim.proc.wait(5)
            victim.stop()             # collect the log; exit status is -9
            fake.configure(latency_ms=0)
            fake.set_stream(ch, stream_id=f"st-after-kill-{k}", viewer_count=3)
            t0 = time.monotonic()
            rest = [d for d in ds if d.proc.poll() is None]
            new = wait_for(lambda: leader_of(rest), 15, "another replica to take over")
            assert len(new) == 1 and new[0] is not victim
            wait_for(lambda: shows(pg, db)[sid]["stream_status"] == "live", 10,
                     "the new leader's pass")
            print(f"\nleader killed: takeover and a pass in {time.monotonic() - t0:.2f}s")
        # the lease went to a live replica (the dead one's expired): one unexpired holder
        n = pg.psql("SELECT count(*) FROM ivs_sync.leader_lease WHERE holder IS NOT NULL "
                    "AND expires_at > clock_timestamp()", db)
        assert n == "1"
    finally:
        for d in ds:
            if not d.logf.closed:
                assert d.stop() == 0
        fake.close()
