#!/usr/bin/env python3
"""`make image-test`: proves the container image that `make image` built.

`podman run` does not work everywhere (where crun's setrlimit is refused, for one),
so the image's root filesystem is taken out with `podman export` of a `podman
create`d container and its ivs-syncd runs from there under
`chroot --userspec=<the image's USER>`, with the image's ENV, WORKDIR, ENTRYPOINT
and CMD. The chroot shares the host's network, so the daemon reaches a throwaway
PostgreSQL (started on the host as an unprivileged user, as the integration tests
do) over 127.0.0.1, and the test reaches the daemon the same way.

Checked: `migrate` exits 0; `serve` runs as the image's non-root user and answers
/readyz 200; /metrics' build_info carries the revision given with --rev; one SNS
notification, signed with a test key whose certificate (CN sns.amazonaws.com) sits in
the image's SNS_CERT_DIR, is applied to the database; SIGTERM makes it exit 0.
Prints the image's size and how long the test took. Needs root (chroot, podman).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import conftest as it  # noqa: E402  (PG, Signer and helpers of the integration tests)


def sh(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"image-test: {' '.join(map(str, argv))} failed ({r.returncode}):\n"
                         f"{r.stderr.strip()}")
    return r.stdout


def check(cond, what, log=None):
    if not cond:
        tail = ""
        if log and os.path.exists(log):
            tail = "\nivs-syncd log:\n" + Path(log).read_text()[-4000:]
        raise SystemExit(f"image-test: FAILED: {what}{tail}")
    print(f"image-test: ok: {what}")


def http_get(port, path, body=None, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def export_rootfs(image, dest):
    cid = sh(["podman", "create", "--no-healthcheck", image]).strip()
    try:
        exp = subprocess.Popen(["podman", "export", cid], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "--numeric-owner", "-C", str(dest)],
                             stdin=exp.stdout, capture_output=True, text=True)
        exp.stdout.close()
        if exp.wait() != 0 or tar.returncode != 0:
            raise SystemExit(f"image-test: podman export | tar failed: {tar.stderr}")
    finally:
        subprocess.run(["podman", "rm", "-f", cid], capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--rev", required=True, help="the revision build_info must report")
    a = ap.parse_args()
    t0 = time.monotonic()
    if os.geteuid() != 0:
        raise SystemExit("image-test: needs root (chroot, podman storage)")

    info = json.loads(sh(["podman", "image", "inspect", a.image]))[0]
    cfg = info["Config"]
    size = info["Size"]
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [])
    user = cfg.get("User") or "0"
    workdir = cfg.get("WorkingDir") or "/"
    entry = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    uid = int(user.split(":")[0])
    check(uid >= 1000, f"the image runs as a non-root user ({user})")

    work = Path(tempfile.mkdtemp(prefix="ivs-image-test-"))
    rootfs = work / "rootfs"
    rootfs.mkdir()
    pg = proc = logf = None
    try:
        export_rootfs(a.image, rootfs)
        print(f"image-test: {a.image} exported to {rootfs}")

        signer = it.Signer(str(work / "sns"))
        certdir = rootfs / env["SNS_CERT_DIR"].lstrip("/")
        check(certdir.is_dir(), f"SNS_CERT_DIR {env['SNS_CERT_DIR']} exists in the image")
        shutil.copy(signer.cert, certdir / it.CERT_NAME)
        os.chmod(certdir / it.CERT_NAME, 0o644)

        pg = it.PG()
        pg.psql("CREATE DATABASE ivs")
        port = it.free_port()
        env.update(DATABASE_URL=f"host=127.0.0.1 port={pg.port} user=ivs dbname=ivs",
                   LISTEN=f"127.0.0.1:{port}", SNS_TOPIC_ARNS=it.TOPIC, LOG_LEVEL="info")

        def in_image(args):
            return (["chroot", f"--userspec={user}", str(rootfs), "/usr/bin/env", "-i",
                     "-C", workdir] + [f"{k}={v}" for k, v in env.items()] + entry + args)

        r = subprocess.run(in_image(["migrate"]), capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "ivs-syncd migrate exits 0" +
              ("" if r.returncode == 0 else f" (got {r.returncode}):\n{r.stdout}{r.stderr}"))

        log = work / "ivs-syncd.log"
        logf = open(log, "w")
        proc = subprocess.Popen(in_image(cmd), stdout=logf, stderr=subprocess.STDOUT)
        status, deadline = None, time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = http_get(port, "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        check(status == 200, f"ivs-syncd {' '.join(cmd)} answers /readyz 200 (got {status})",
              log)
        st = Path(f"/proc/{proc.pid}/status").read_text()
        ids = {ln.split(":")[0]: ln.split()[1:] for ln in st.splitlines()}
        gid = user.split(":")[1] if ":" in user else ids["Gid"][0]
        check(ids["Uid"][0] == str(uid) and ids["Gid"][0] == gid and
              set(ids["Groups"]) <= {gid} and ids["CapEff"] == ["0000000000000000"],
              f"the daemon runs as uid {ids['Uid'][0]} gid {ids['Gid'][0]} (groups "
              f"{ids['Groups']}) with no capabilities", log)

        status, metrics = http_get(port, "/metrics")
        want = f'revision="{a.rev}"'
        bi = [ln for ln in metrics.splitlines() if ln.startswith("ivs_syncd_build_info")]
        check(status == 200 and bi and want in bi[0],
              f"/metrics build_info has {want}: {bi[0] if bi else '(none)'}", log)

        ch = it.channel_arn(1)
        sid = it.add_show(pg, "ivs", ch)
        ev = it.ivs_event("Stream Start", ch, "st-image", "2026-01-01T10:00:00Z")
        body = json.dumps(signer.envelope(json.dumps(ev)))
        status, resp = http_get(port, "/sns", body, "POST",
                                {"Content-Type": "text/plain; charset=UTF-8",
                                 "x-amz-sns-message-type": "Notification"})
        try:
            outcome = json.loads(resp).get("outcome")
        except ValueError:
            outcome = None
        check(status == 200 and outcome == "applied",
              f"a signed SNS notification is applied ({status} {resp.strip()})", log)
        s = it.show(pg, "ivs", sid)
        check(s["status"] == "live" and s["is_streaming"] == "true" and
              s["ivs_stream_id"] == "st-image",
              f"the show is live in PostgreSQL (status={s['status']}, "
              f"ivs_stream_id={s['ivs_stream_id']})", log)

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = "still running 30 s after SIGTERM"
        check(rc == 0, f"SIGTERM: ivs-syncd exits with status {rc}", log)
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if logf:
            logf.close()
        if pg:
            pg.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print(f"image-test: PASSED: {a.image}, image size {size / 1e6:.1f} MB, "
          f"image-test took {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
