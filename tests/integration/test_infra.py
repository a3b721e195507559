"""Checks of what an operator deploys with: infra/systemd, infra/container,
infra/cloudformation and doc/ivs-syncd.8.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_infra.py

Needs python3-yaml and these external validators; infra/setup-debian.sh (what
CI runs) installs them all, so a missing one is a failure that names its Debian
package, never a skip:
  systemd-analyze, systemd-sysusers   (Debian: systemd)
  groff, man                          (Debian: groff-base, man-db)
  apt-cache with bookworm lists       (Debian: apt; setup-debian.sh runs apt-get update)
  readelf, ldd, dpkg                  (Debian: binutils, libc-bin, dpkg)
The CloudFormation template is checked structurally here; cfn-lint is not in
Debian 12, so it is not part of the suite.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

try:
    import yaml
except ImportError:  # pragma: no cover - python3-yaml is in infra/setup-debian.sh
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "infra/systemd/ivs-syncd.service"
SYSUSERS = ROOT / "infra/systemd/ivs-syncd.sysusers"
ENV_EXAMPLE = ROOT / "infra/systemd/ivs-syncd.env.example"
CONTAINERFILE = ROOT / "infra/container/Containerfile"
CFN = ROOT / "infra/cloudformation/ivs-syncd.yaml"
MANPAGE = ROOT / "doc/ivs-syncd.8"
# The binary under test (the Makefile sets IVS_SYNCD_BIN; `make asan` points
# it at build-asan/), else the default build.
BINARY = Path(os.environ.get("IVS_SYNCD_BIN") or ROOT / "build/ivs-syncd").resolve()

# SPEC section 6: every configuration variable (the AWS ones included).
SPEC_VARS = [
    "LISTEN", "DATABASE_URL", "DB_POOL_SIZE",
    "SNS_TOPIC_ARNS", "SNS_CERT_DIR", "SNS_AUTO_CONFIRM", "SNS_MAX_AGE",
    "SNS_MIN_SIGNATURE_VERSION",
    "EVENTBRIDGE_TOKEN", "EVENTBRIDGE_TOKEN_HEADER", "AWS_ACCOUNT_IDS",
    "SERVICE_ROLE_KEY", "JWT_SECRET", "CORS_ALLOW_ORIGINS",
    "RECONCILE_INTERVAL", "RECONCILE_STRATEGY", "IVS_MAX_RPS", "IVS_MAX_INFLIGHT",
    "END_GRACE_SECONDS", "EVENT_RETENTION", "SYNC_FRESHNESS", "SYNC_MAX_WAIT",
    "SHUTDOWN_TIMEOUT", "LOG_FORMAT", "LOG_LEVEL", "LOG_FILE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_IVS", "AWS_ENDPOINT_URL",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_MAX_ATTEMPTS",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE",
]
# Aliases the SPEC names (section 1.3); documented, not separate options.
SPEC_ALIASES = ["SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_JWT_SECRET"]

COMMANDS = ["serve", "migrate", "reconcile --once", "verify-sns",
            "ivs get-stream", "ivs list-streams", "doctor", "--version", "--help"]


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


def need(tool, package):
    """The path of an external program the checks need.  CI installs every one
    (infra/setup-debian.sh), so a missing one fails: a skip would pass there
    without checking anything."""
    exe = shutil.which(tool)
    if not exe:
        pytest.fail(f"{tool} not found: install the Debian package {package} "
                    "(sh infra/setup-debian.sh installs everything the tests need)",
                    pytrace=False)
    return exe


def need_binary():
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"{BINARY} not built: run make all (or set IVS_SYNCD_BIN)", pytrace=False)
    return BINARY


def find_spec():
    """SPEC.md: $IVS_SYNCD_SPEC, or the copy in doc/ (the product's contract)."""
    cands = [os.environ.get("IVS_SYNCD_SPEC", ""), ROOT / "doc/SPEC.md"]
    for c in cands:
        if c and Path(c).is_file():
            return Path(c)
    return None


def spec_section6_vars():
    spec = find_spec()
    if spec is None:
        return None
    text = spec.read_text()
    m = re.search(r"^## 6\..*?$(.*?)^## 7\.", text, re.S | re.M)
    if not m:
        return None
    names = set(re.findall(r"`([A-Z][A-Z0-9_]+(?:\[_FILE\])?)`", m.group(1)))
    out = set()
    for n in names:
        if n.startswith("CURLOPT_"):
            continue  # a libcurl option the text mentions, not a variable
        if n.endswith("[_FILE]"):
            out.add(n[: -len("[_FILE]")])
            out.add(n[: -len("[_FILE]")] + "_FILE")
        else:
            out.add(n)
    return out


# --------------------------------------------------------------- systemd ---

def parse_unit(path):
    """{section: [(key, value), ...]}; repeated keys kept in order."""
    sections, cur = {}, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = line[1:-1]
            sections.setdefault(cur, [])
            continue
        assert cur is not None, f"key outside a section: {raw!r}"
        assert "=" in line, f"not key=value: {raw!r}"
        k, v = line.split("=", 1)
        sections[cur].append((k.strip(), v.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def unit_value(sections, section, key):
    vals = unit_values(sections, section, key)
    assert vals, f"[{section}] {key}= missing"
    return vals[-1]


def test_unit_service_settings():
    u = parse_unit(UNIT)
    assert unit_value(u, "Service", "Type") == "notify"
    assert unit_value(u, "Service", "NotifyAccess") == "main"
    assert unit_value(u, "Service", "ExecStart") == "/usr/local/bin/ivs-syncd serve"
    assert unit_value(u, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert unit_value(u, "Service", "EnvironmentFile") == "-/etc/ivs-syncd/ivs-syncd.env"
    assert unit_value(u, "Service", "Restart") == "on-failure"
    assert unit_values(u, "Service", "RestartSec")
    assert unit_value(u, "Service", "KillSignal") == "SIGTERM"
    assert unit_value(u, "Service", "LimitNOFILE") == "65536"
    assert unit_value(u, "Service", "UMask") == "0077"
    # The daemon drains for SHUTDOWN_TIMEOUT (20 s): systemd must wait longer.
    stop = unit_value(u, "Service", "TimeoutStopSec")
    assert re.fullmatch(r"\d+s?", stop) and int(stop.rstrip("s")) > 20
    # A dedicated user: DynamicUser, or a static one that sysusers.d creates.
    dyn = unit_values(u, "Service", "DynamicUser")
    if not (dyn and dyn[-1] == "yes"):
        user = unit_value(u, "Service", "User")
        assert user not in ("root", "0")
        assert re.search(rf"^u\s+{re.escape(user)}\s", SYSUSERS.read_text(), re.M)
    # SNS_CERT_DIR lives in the state directory.
    assert "ivs-syncd" in unit_value(u, "Service", "StateDirectory").split()
    envs = " ".join(unit_values(u, "Service", "Environment"))
    assert "SNS_CERT_DIR=/var/lib/ivs-syncd/certs" in envs
    assert unit_value(u, "Install", "WantedBy") == "multi-user.target"
    assert "man:ivs-syncd(8)" in unit_value(u, "Unit", "Documentation")


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "SystemCallArchitectures": "native",
}


@pytest.mark.parametrize("key,want", sorted(HARDENING.items()))
def test_unit_hardening(key, want):
    u = parse_unit(UNIT)
    assert unit_value(u, "Service", key) == want


def test_unit_syscall_and_address_families():
    u = parse_unit(UNIT)
    filters = unit_values(u, "Service", "SystemCallFilter")
    assert filters and filters[0] == "@system-service"
    fams = unit_value(u, "Service", "RestrictAddressFamilies").split()
    assert sorted(fams) == ["AF_INET", "AF_INET6", "AF_UNIX"]


def _systemd_analyze():
    exe = need("systemd-analyze", "systemd")
    # A unit known to be good must verify cleanly, else the checks below prove nothing.
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "ivs-syncd-probe.service"
        probe.write_text("[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n")
        r = run([exe, "verify", "--man=no", str(probe)])
        if r.returncode != 0 or r.stderr.strip():
            pytest.fail("systemd-analyze verify fails on a known-good unit: "
                        + (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0],
                        pytrace=False)
    return exe


def _unit_copy(tmp_path):
    """The unit with every Exec*= program that is not on this machine replaced
    by /bin/true (verify demands that the binaries exist)."""
    out = []
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^(#?)(Exec\w+)=([-@:+!]*)(\S+)(.*)$", line)
        if m and not m.group(1) and not Path(m.group(4)).exists():
            line = f"{m.group(2)}={m.group(3)}/bin/true"
        out.append(line)
    p = tmp_path / "ivs-syncd.service"
    p.write_text("\n".join(out) + "\n")
    return p


def test_unit_systemd_analyze_verify(tmp_path):
    exe = _systemd_analyze()
    unit = _unit_copy(tmp_path)
    env = dict(os.environ)
    args = [exe, "verify"]
    # Let verify check Documentation=man:ivs-syncd(8) against our page.
    need("man", "man-db")
    (tmp_path / "man/man8").mkdir(parents=True)
    shutil.copy(MANPAGE, tmp_path / "man/man8/ivs-syncd.8")
    env["MANPATH"] = str(tmp_path / "man")
    r = run(args + [str(unit)], env=env)
    msgs = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode == 0 and not msgs, "\n".join(msgs)


def test_unit_security_exposure(tmp_path):
    exe = _systemd_analyze()
    unit = _unit_copy(tmp_path)
    r = run([exe, "security", "--offline=true", "--no-pager", str(unit)])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    # systemd >= 250 (Debian 12 has 252) has --offline
    assert m, "systemd-analyze security --offline gave no exposure level: " + \
        (r.stdout + r.stderr)[-2000:]
    # 0 = fully locked down, 10 = unprotected; systemd calls < 2 "OK".
    assert float(m.group(1)) <= 2.0, r.stdout


def test_sysusers_creates_user(tmp_path):
    exe = need("systemd-sysusers", "systemd")
    (tmp_path / "etc").mkdir()
    r = run([exe, f"--root={tmp_path}", str(SYSUSERS)])
    assert r.returncode == 0, r.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    m = re.search(r"^ivs-syncd:x:(\d+):(\d+):[^:]*:/var/lib/ivs-syncd:/usr/sbin/nologin$",
                  passwd, re.M)
    assert m, passwd
    assert int(m.group(1)) != 0
    assert re.search(r"^ivs-syncd:x:\d+:", (tmp_path / "etc/group").read_text(), re.M)


def _daemon_env(**extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LISTEN": "127.0.0.1:0",
           # Nothing listens there: serve must still start (readiness says why).
           "DATABASE_URL": "host=127.0.0.1 port=1 dbname=none connect_timeout=1",
           "RECONCILE_INTERVAL": "0", "LOG_FORMAT": "text"}
    env.update(extra)
    return env


def test_daemon_speaks_sd_notify(tmp_path):
    """Type=notify works: READY=1 once listening, STOPPING=1 on SIGTERM, exit 0."""
    import signal
    import socket
    need_binary()
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    proc = subprocess.Popen([str(BINARY), "serve"], env=_daemon_env(NOTIFY_SOCKET=path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        msgs = [sock.recv(4096).decode()]
        assert "READY=1" in msgs[0].split("\n"), msgs
        proc.send_signal(signal.SIGTERM)
        msgs.append(sock.recv(4096).decode())
        assert "STOPPING=1" in msgs[1].split("\n"), msgs
        # The unit gives it TimeoutStopSec=30; an idle daemon drains at once.
        proc.wait(timeout=25)
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_config_error_exit_status_matches_unit():
    """RestartPreventExitStatus= in the unit is the daemon's exit status for a
    configuration error."""
    need_binary()
    prevent = unit_value(parse_unit(UNIT), "Service", "RestartPreventExitStatus").split()
    r = run([str(BINARY), "serve"], env=_daemon_env(RECONCILE_STRATEGY="nope"), timeout=15)
    assert str(r.returncode) in prevent, (r.returncode, r.stderr)
    assert "RECONCILE_STRATEGY" in r.stderr
    r = run([str(BINARY), "--no-such-flag"], env=_daemon_env(), timeout=15)
    assert str(r.returncode) in prevent, (r.returncode, r.stderr)


# ----------------------------------------------------------- env example ---

def env_example_vars():
    names = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            names[m.group(2)] = (m.group(1) == "#", m.group(3))
    return names


def test_env_example_lists_every_spec_variable():
    names = env_example_vars()
    missing = [v for v in SPEC_VARS if v not in names]
    assert not missing, f"not in {ENV_EXAMPLE.name}: {missing}"
    text = ENV_EXAMPLE.read_text()
    for alias in SPEC_ALIASES:
        assert alias in text


def test_env_example_matches_spec_text():
    found = spec_section6_vars()
    assert found is not None, "doc/SPEC.md is missing or has no section 6"
    assert found, "no variable names parsed from SPEC section 6"
    assert found <= set(SPEC_VARS), f"SPEC section 6 names more: {found - set(SPEC_VARS)}"
    missing = sorted(found - set(env_example_vars()))
    assert not missing, missing


def test_env_example_sets_nothing():
    # Everything commented out: installing the example changes no behaviour
    # and carries no secret.
    active = [k for k, (commented, _) in env_example_vars().items() if not commented]
    assert not active, active
    for k in ("SERVICE_ROLE_KEY", "JWT_SECRET", "EVENTBRIDGE_TOKEN",
              "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert env_example_vars()[k][1] == "", f"{k} has an example value"


def _help_option_names():
    """Environment names of the options the built binary's --help lists."""
    need_binary()
    r = run([str(BINARY), "--help"], timeout=10)
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    names = set()
    for flag in re.findall(r"--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)", text):
        env = flag.upper().replace("-", "_")
        if flag not in ("help", "version", "once") and re.search(rf"\b{env}\b", text):
            names.add(env)
    assert names, "no option found in --help"
    return names


def test_docs_cover_every_help_option():
    names = _help_option_names()
    env = set(env_example_vars())
    man = MANPAGE.read_text().replace("\\-", "-").replace("\\_", "_")
    assert not sorted(names - env), f"missing in {ENV_EXAMPLE.name}: {sorted(names - env)}"
    no_man = sorted(n for n in names if not re.search(rf"\b{n}\b", man))
    assert not no_man, f"missing in doc/ivs-syncd.8: {no_man}"


# -------------------------------------------------------------- container ---

def parse_containerfile(path):
    """[(INSTRUCTION, argument text)] with continuations joined."""
    out, buf = [], ""
    for raw in Path(path).read_text().splitlines():
        s = raw.rstrip()
        if not buf and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if buf and s.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        ins, _, arg = buf.strip().partition(" ")
        out.append((ins.upper(), arg.strip()))
        buf = ""
    assert not buf, "dangling continuation"
    return out


def stages(instrs):
    args = {}
    result, cur = [], None
    for ins, arg in instrs:
        if ins == "ARG" and cur is None:
            k, _, v = arg.partition("=")
            args[k] = v
        if ins == "FROM":
            img = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), arg.split()[0])
            cur = {"image": img, "from": arg, "instrs": []}
            result.append(cur)
        elif cur is not None:
            cur["instrs"].append((ins, arg))
    return result


def apt_packages(run_arg):
    m = re.search(r"apt-get install ([^&;|]*)", run_arg)
    assert m, run_arg
    return [w for w in m.group(1).split() if not w.startswith("-")]


def test_containerfile_structure():
    st = stages(parse_containerfile(CONTAINERFILE))
    assert len(st) == 2, "expected a build and a runtime stage"
    build, rt = st
    assert build["image"] == "debian:12-slim" and rt["image"] == "debian:12-slim"
    assert re.search(r"\bAS\s+build\b", build["from"], re.I)

    bruns = " && ".join(a for i, a in build["instrs"] if i == "RUN")
    bpk = set(apt_packages(bruns))
    for p in ("build-essential", "pkg-config", "libevent-dev", "libcurl4-openssl-dev",
              "libssl-dev", "libjson-c-dev", "libpq-dev"):
        assert p in bpk, p
    assert re.search(r"\bmake\b", bruns) and "build/ivs-syncd" in bruns
    assert re.search(r"make install DESTDIR=/out PREFIX=/usr/local", bruns)

    rinstrs = rt["instrs"]
    rruns = " && ".join(a for i, a in rinstrs if i == "RUN")
    rpk = set(apt_packages(rruns))
    for p in ("libevent-2.1-7", "libcurl4", "libssl3", "libjson-c5", "libpq5",
              "ca-certificates"):
        assert p in rpk, p
    assert not [p for p in rpk if p.endswith("-dev") or p == "build-essential"]
    assert "--no-install-recommends" in rruns
    assert "rm -rf /var/lib/apt/lists" in rruns

    def one(ins):
        vals = [a for i, a in rinstrs if i == ins]
        assert vals, f"{ins} missing in the runtime stage"
        return vals[-1]

    assert re.search(r"--from=build\b", " ".join(a for i, a in rinstrs if i == "COPY"))
    user = one("USER").split(":")[0]
    assert user.isdigit() and int(user) >= 1000, "numeric non-root USER"
    assert f"--uid {user}" in rruns
    assert one("EXPOSE").split() == ["8080"]
    env = " ".join(a for i, a in rinstrs if i == "ENV")
    assert "LISTEN=0.0.0.0:8080" in env
    assert "SNS_CERT_DIR=/var/lib/ivs-syncd/certs" in env
    assert one("STOPSIGNAL") == "SIGTERM"
    hc = one("HEALTHCHECK")
    assert "/healthz" in hc and "curl" in hc and "curl" in rpk
    assert one("ENTRYPOINT") == '["/usr/local/bin/ivs-syncd"]'
    assert one("CMD") == '["serve"]'
    # A VOLUME would freeze the cert dir for derived images.
    assert not [a for i, a in rinstrs if i == "VOLUME"]


def test_containerfile_shell_syntax():
    sh = need("sh", "dash")
    for ins, arg in parse_containerfile(CONTAINERFILE):
        if ins == "RUN":
            r = run([sh, "-n", "-c", arg])
            assert r.returncode == 0, f"RUN {arg}: {r.stderr}"
        if ins == "HEALTHCHECK":
            cmd = arg.split(" CMD ", 1)[1]
            argv = __import__("json").loads(cmd)
            assert argv[:2] == ["sh", "-c"]
            r = run([sh, "-n", "-c", argv[2]])
            assert r.returncode == 0, r.stderr
            # The port expansion gives 8080 for the LISTEN the image sets.
            r = run([sh, "-c", 'echo "${LISTEN##*:}"'],
                    env={"LISTEN": "0.0.0.0:8080", "PATH": os.environ["PATH"]})
            assert r.stdout.strip() == "8080"


def _apt_usable():
    need("apt-cache", "apt")
    r = run(["apt-cache", "show", "libc6"])
    if r.returncode != 0 or "Package:" not in r.stdout:
        pytest.fail("no apt package lists here: run apt-get update "
                    "(sh infra/setup-debian.sh does when they are missing)", pytrace=False)
    codename = run(["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"]).stdout.strip()
    if codename != "bookworm":
        pytest.fail(f"this machine is {codename or 'unknown'}: the package checks need the "
                    "Debian 12 (bookworm) lists the image is built from", pytrace=False)


def test_containerfile_packages_exist_in_debian12():
    _apt_usable()
    pkgs = []
    for st in stages(parse_containerfile(CONTAINERFILE)):
        for ins, arg in st["instrs"]:
            if ins == "RUN" and "apt-get install" in arg:
                pkgs += apt_packages(arg)
    r = run(["apt-cache", "policy"] + pkgs)
    candidates = dict(re.findall(r"^(\S+):\n(?:.*\n)*?\s+Candidate: (\S+)", r.stdout, re.M))
    missing = [p for p in pkgs if candidates.get(p, "(none)") == "(none)"]
    assert not missing, f"not in this machine's Debian 12 lists: {missing}"


def test_container_runtime_packages_cover_binary():
    """Every library the built binary links directly comes from a package the
    runtime stage installs (or from libc6, which the base image has)."""
    need_binary()
    need("readelf", "binutils")
    need("ldd", "libc-bin")
    need("dpkg", "dpkg")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        run(["readelf", "-d", str(BINARY)]).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", str(BINARY)]).stdout, re.M))
    rt = stages(parse_containerfile(CONTAINERFILE))[1]
    rpk = set()
    for ins, arg in rt["instrs"]:
        if ins == "RUN" and "apt-get install" in arg:
            rpk.update(apt_packages(arg))
    base = {"libc6", "libgcc-s1", "zlib1g"}
    missing = []
    for lib in needed:
        if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib):
            continue  # a sanitizer build (make asan), not what the image ships
        path = paths.get(lib)
        if not path:
            continue
        r = run(["dpkg", "-S", os.path.realpath(path)])
        if r.returncode != 0:
            r = run(["dpkg", "-S", path])
        if r.returncode != 0:
            missing.append(f"{lib} (no package owns {path})")
            continue
        pkg = r.stdout.split(":", 1)[0].split(",")[0].strip()
        if pkg not in rpk and pkg not in base:
            missing.append(f"{lib} from {pkg}")
    assert not missing, "runtime stage lacks: " + ", ".join(missing)


# --------------------------------------------------------- CloudFormation ---

PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

# type: (required properties, allowed properties, Fn::GetAtt attributes)
CFN_TYPES = {
    "AWS::SNS::Topic": (
        set(),
        {"ArchivePolicy", "ContentBasedDeduplication", "DataProtectionPolicy",
         "DeliveryStatusLogging", "DisplayName", "FifoThroughputScope", "FifoTopic",
         "KmsMasterKeyId", "SignatureVersion", "Subscription", "Tags", "TopicName",
         "TracingConfig", "DeliveryPolicy"},
        {"TopicArn", "TopicName"}),
    "AWS::SNS::TopicPolicy": ({"PolicyDocument", "Topics"}, {"PolicyDocument", "Topics"}, set()),
    "AWS::SNS::Subscription": (
        {"Protocol", "TopicArn"},
        {"DeliveryPolicy", "Endpoint", "FilterPolicy", "FilterPolicyScope", "Protocol",
         "RawMessageDelivery", "RedrivePolicy", "Region", "ReplayPolicy",
         "SubscriptionRoleArn", "TopicArn"},
        {"Arn"}),
    "AWS::SQS::Queue": (
        set(),
        {"ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
         "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId",
         "MaximumMessageSize", "MessageRetentionPeriod", "QueueName",
         "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy",
         "SqsManagedSseEnabled", "Tags", "VisibilityTimeout"},
        {"Arn", "QueueName", "QueueUrl"}),
    "AWS::SQS::QueuePolicy": ({"PolicyDocument", "Queues"}, {"PolicyDocument", "Queues"}, set()),
    "AWS::CloudWatch::Alarm": (
        {"ComparisonOperator", "EvaluationPeriods"},
        {"ActionsEnabled", "AlarmActions", "AlarmDescription", "AlarmName",
         "ComparisonOperator", "DatapointsToAlarm", "Dimensions",
         "EvaluateLowSampleCountPercentile", "EvaluationPeriods", "ExtendedStatistic",
         "InsufficientDataActions", "MetricName", "Metrics", "Namespace", "OKActions",
         "Period", "Statistic", "Tags", "Threshold", "ThresholdMetricId",
         "TreatMissingData", "Unit"},
        {"Arn"}),
    "AWS::Events::Rule": (
        set(),
        {"Description", "EventBusName", "EventPattern", "Name", "RoleArn",
         "ScheduleExpression", "State", "Tags", "Targets"},
        {"Arn"}),
    "AWS::Events::Connection": (
        {"AuthorizationType", "AuthParameters"},
        {"AuthParameters", "AuthorizationType", "Description",
         "InvocationConnectivityParameters", "KmsKeyIdentifier", "Name"},
        {"Arn", "ArnForPolicy", "SecretArn"}),
    "AWS::Events::ApiDestination": (
        {"ConnectionArn", "HttpMethod", "InvocationEndpoint"},
        {"ConnectionArn", "Description", "HttpMethod", "InvocationEndpoint",
         "InvocationRateLimitPerSecond", "Name"},
        {"Arn", "ArnForPolicy"}),
    "AWS::IAM::Role": (
        {"AssumeRolePolicyDocument"},
        {"AssumeRolePolicyDocument", "Description", "ManagedPolicyArns",
         "MaxSessionDuration", "Path", "PermissionsBoundary", "Policies", "RoleName",
         "Tags"},
        {"Arn", "RoleId"}),
    "AWS::IAM::ManagedPolicy": (
        {"PolicyDocument"},
        {"Description", "Groups", "ManagedPolicyName", "Path", "PolicyDocument",
         "Roles", "Users"},
        {"PolicyArn", "AttachmentCount", "CreateDate", "DefaultVersionId",
         "IsAttachable", "PermissionsBoundaryUsageCount", "PolicyId", "UpdateDate"}),
}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "Metadata",
                 "DeletionPolicy", "UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy"}
INTRINSICS = {"Ref", "Condition", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Equals",
              "Fn::Not", "Fn::And", "Fn::Or", "Fn::Join", "Fn::Select", "Fn::Split",
              "Fn::FindInMap", "Fn::GetAZs", "Fn::ImportValue", "Fn::Base64",
              "Fn::Cidr", "Fn::Length", "Fn::ToJsonString"}


def cfn_loader():
    if yaml is None:
        pytest.fail("python3 has no yaml module: install the Debian package python3-yaml",
                    pytrace=False)

    class Loader(yaml.SafeLoader):
        pass

    def make(tag, name):
        def construct(loader, node):
            if isinstance(node, yaml.ScalarNode):
                val = loader.construct_scalar(node)
                if name == "Fn::GetAtt":
                    val = val.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                val = loader.construct_sequence(node, deep=True)
            else:
                val = loader.construct_mapping(node, deep=True)
            return {name: val}
        Loader.add_constructor(tag, construct)

    make("!Ref", "Ref")
    make("!Condition", "Condition")
    for fn in ("GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select",
               "Split", "FindInMap", "GetAZs", "ImportValue", "Base64", "Cidr"):
        make("!" + fn, "Fn::" + fn)
    return Loader


def load_cfn():
    return yaml.load(CFN.read_text(), Loader=cfn_loader())


class CfnChecker:
    def __init__(self, tpl):
        self.t = tpl
        self.params = tpl.get("Parameters", {})
        self.res = tpl.get("Resources", {})
        self.conds = tpl.get("Conditions", {})
        self.errors = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def check_target(self, where, name, ctx):
        """A reference to a conditional resource needs its condition in ctx."""
        r = self.res.get(name)
        if r and "Condition" in r and r["Condition"] not in ctx:
            self.err(where, f"{name} exists only if {r['Condition']}, referenced outside it")

    def walk(self, node, where, ctx, allow_cond_ref=False):
        if isinstance(node, list):
            for i, x in enumerate(node):
                self.walk(x, f"{where}[{i}]", ctx, allow_cond_ref)
            return
        if not isinstance(node, dict):
            return
        fn = [k for k in node if k in INTRINSICS]
        if len(node) == 1 and fn:
            k, v = fn[0], node[fn[0]]
            if k == "Ref":
                if not isinstance(v, str):
                    self.err(where, f"Ref to non-string {v!r}")
                elif v in self.params or v in PSEUDO:
                    pass
                elif v in self.res:
                    self.check_target(where, v, ctx)
                else:
                    self.err(where, f"Ref to undefined {v}")
                return
            if k == "Condition":
                if not allow_cond_ref:
                    self.err(where, "Condition function outside Conditions")
                if v not in self.conds:
                    self.err(where, f"undefined condition {v}")
                return
            if k == "Fn::GetAtt":
                if not (isinstance(v, list) and len(v) == 2):
                    self.err(where, f"bad GetAtt {v!r}")
                    return
                self.getatt(where, v[0], v[1], ctx)
                return
            if k == "Fn::Sub":
                tmpl, local = (v, {}) if isinstance(v, str) else (v[0], v[1])
                for var in re.findall(r"\$\{([^!}][^}]*)\}", tmpl):
                    if var in local:
                        continue
                    if "." in var and not var.startswith("AWS::"):
                        self.getatt(where, *var.split(".", 1), ctx)
                    elif var in self.params or var in PSEUDO:
                        pass
                    elif var in self.res:
                        self.check_target(where, var, ctx)
                    else:
                        self.err(where, f"Sub variable ${{{var}}} undefined")
                self.walk(local, where, ctx)
                return
            if k == "Fn::If":
                if not (isinstance(v, list) and len(v) == 3):
                    self.err(where, f"bad Fn::If {v!r}")
                    return
                if v[0] not in self.conds:
                    self.err(where, f"undefined condition {v[0]}")
                self.walk(v[1], where + "/if-true", ctx | {v[0]})
                self.walk(v[2], where + "/if-false", ctx)
                return
            self.walk(v, where, ctx, allow_cond_ref)
            return
        for k, v in node.items():
            self.walk(v, f"{where}/{k}", ctx, allow_cond_ref)

    def getatt(self, where, name, attr, ctx):
        r = self.res.get(name)
        if r is None:
            self.err(where, f"GetAtt of undefined resource {name}")
            return
        self.check_target(where, name, ctx)
        spec = CFN_TYPES.get(r.get("Type"))
        if spec and attr not in spec[2]:
            self.err(where, f"{r['Type']} has no attribute {attr}")

    def run(self):
        t = self.t
        allowed_top = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters",
                       "Rules", "Mappings", "Conditions", "Transform", "Resources", "Outputs"}
        for k in t:
            if k not in allowed_top:
                self.err("/", f"unknown top-level section {k}")
        if t.get("AWSTemplateFormatVersion") != "2010-09-09":
            self.err("/", "AWSTemplateFormatVersion must be 2010-09-09")
        if not self.res:
            self.err("/", "no Resources")
        for name, p in self.params.items():
            if p.get("Type") not in ("String", "Number", "CommaDelimitedList"):
                self.err(f"Parameters/{name}", f"unexpected Type {p.get('Type')}")
            if "Default" in p:
                d = str(p["Default"])
                if "AllowedValues" in p and d not in [str(x) for x in p["AllowedValues"]]:
                    self.err(f"Parameters/{name}", "Default not in AllowedValues")
                if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], d):
                    self.err(f"Parameters/{name}", "Default does not match AllowedPattern")
        for name, c in self.conds.items():
            self.walk(c, f"Conditions/{name}", set(), allow_cond_ref=True)
        for name, rule in t.get("Rules", {}).items():
            self.walk(rule, f"Rules/{name}", set(), allow_cond_ref=True)
        for name, r in self.res.items():
            where = f"Resources/{name}"
            if not re.fullmatch(r"[A-Za-z0-9]+", name):
                self.err(where, "logical id must be alphanumeric")
            for k in r:
                if k not in RESOURCE_KEYS:
                    self.err(where, f"unknown resource attribute {k}")
            typ = r.get("Type")
            if typ not in CFN_TYPES:
                self.err(where, f"type {typ} not in the allow-list")
                continue
            req, allowed, _ = CFN_TYPES[typ]
            props = r.get("Properties", {})
            for p in req - set(props):
                self.err(where, f"required property {p} missing")
            for p in set(props) - allowed:
                self.err(where, f"{typ} has no property {p}")
            cond = r.get("Condition")
            if cond is not None and cond not in self.conds:
                self.err(where, f"undefined condition {cond}")
            ctx = {cond} if cond else set()
            deps = r.get("DependsOn", [])
            for d in [deps] if isinstance(deps, str) else deps:
                if d not in self.res:
                    self.err(where, f"DependsOn undefined {d}")
                else:
                    self.check_target(where + "/DependsOn", d, ctx)
            self.walk(props, where, ctx)
        for name, o in t.get("Outputs", {}).items():
            cond = o.get("Condition")
            if cond is not None and cond not in self.conds:
                self.err(f"Outputs/{name}", f"undefined condition {cond}")
            if "Value" not in o:
                self.err(f"Outputs/{name}", "no Value")
            self.walk(o, f"Outputs/{name}", {cond} if cond else set())
        return self.errors


def resources_of(tpl, typ):
    return {n: r for n, r in tpl["Resources"].items() if r["Type"] == typ}


def the(tpl, typ, cond=None):
    rs = [r for r in resources_of(tpl, typ).values() if r.get("Condition") == cond]
    assert len(rs) == 1, f"expected one unconditional {typ}"
    return rs[0]


def as_list(x):
    return x if isinstance(x, list) else [x]


def test_cfn_structure():
    errors = CfnChecker(load_cfn()).run()
    assert not errors, "\n".join(errors)


def test_cfn_checker_catches_mistakes():
    """The checker itself: each planted mistake is found."""
    good = load_cfn()
    import copy

    def errs(mutate):
        t = copy.deepcopy(good)
        mutate(t)
        return CfnChecker(t).run()

    def bad_ref(t):
        t["Resources"]["IvsSyncdSubscription"]["Properties"]["TopicArn"] = {"Ref": "Nope"}

    def bad_att(t):
        t["Resources"]["IvsSyncdSubscription"]["Properties"]["RedrivePolicy"] = {
            "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arnn"]}}

    def bad_prop(t):
        t["Resources"]["EventsTopic"]["Properties"]["SignatureVersoin"] = "2"

    def bad_sub(t):
        t["Resources"]["EventsTopic"]["Properties"]["TopicName"] = {"Fn::Sub": "${Prefix}-x"}

    def cond_leak(t):
        t["Resources"]["IvsEventsRule"]["Properties"]["RoleArn"] = {
            "Fn::GetAtt": ["ApiDestinationRole", "Arn"]}

    def missing_req(t):
        del t["Resources"]["IvsSyncdSubscription"]["Properties"]["Protocol"]

    for m in (bad_ref, bad_att, bad_prop, bad_sub, cond_leak, missing_req):
        assert errs(m), f"{m.__name__} not caught"


def test_cfn_parameters():
    t = load_cfn()
    p = t["Parameters"]
    pat = p["EndpointUrl"]["AllowedPattern"]
    assert re.fullmatch(pat, "https://ivs-syncd.example.com/sns")
    assert re.fullmatch(pat, "https://example.com:8443/ivs/sns")
    for bad in ("http://ivs-syncd.example.com/sns", "https://ivs-syncd.example.com/",
                "https://ivs-syncd.example.com/eventbridge", "https:///sns"):
        assert not re.fullmatch(pat, bad), bad
    assert "NamePrefix" in p
    assert p["ApiDestinationToken"].get("NoEcho") is True


def test_cfn_topic_and_policy():
    t = load_cfn()
    topic_name, topic = next(iter(resources_of(t, "AWS::SNS::Topic").items()))
    assert topic["Properties"]["SignatureVersion"] == "2"
    assert topic["Properties"]["TopicName"] == {"Fn::Sub": "${NamePrefix}-ivs-events"}
    pol = the(t, "AWS::SNS::TopicPolicy")["Properties"]
    assert {"Ref": topic_name} in pol["Topics"]
    stmts = pol["PolicyDocument"]["Statement"]
    ok = [s for s in stmts if s["Effect"] == "Allow"
          and s.get("Principal", {}).get("Service") == "events.amazonaws.com"
          and "sns:Publish" in as_list(s["Action"])]
    assert ok, "events.amazonaws.com may not publish"
    assert ok[0]["Resource"] == {"Ref": topic_name}
    assert "aws:SourceArn" in str(ok[0].get("Condition")), "publish not scoped to the rule"


def test_cfn_eventbridge_rule():
    t = load_cfn()
    topic_name = next(iter(resources_of(t, "AWS::SNS::Topic")))
    rule = the(t, "AWS::Events::Rule")["Properties"]
    assert rule["State"] == "ENABLED"
    pat = rule["EventPattern"]
    assert pat["source"] == ["aws.ivs"]
    assert set(pat["detail-type"]) == {"IVS Stream State Change", "IVS Stream Health Change"}
    tgt = [x for x in rule["Targets"] if x["Arn"] == {"Ref": topic_name}]
    assert tgt, "rule does not target the topic"
    rp = tgt[0].get("RetryPolicy", {})
    assert 0 <= rp.get("MaximumRetryAttempts", 0) <= 185
    assert 60 <= rp.get("MaximumEventAgeInSeconds", 86400) <= 86400
    assert "DeadLetterConfig" in tgt[0]


def test_cfn_https_subscription():
    t = load_cfn()
    topic_name = next(iter(resources_of(t, "AWS::SNS::Topic")))
    queue_name = next(iter(resources_of(t, "AWS::SQS::Queue")))
    sub = the(t, "AWS::SNS::Subscription")["Properties"]
    assert sub["TopicArn"] == {"Ref": topic_name}
    assert sub["Protocol"] == "https"
    assert sub["Endpoint"] == {"Ref": "EndpointUrl"}
    assert sub["RawMessageDelivery"] is False
    assert sub["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [queue_name, "Arn"]}}

    hp = sub["DeliveryPolicy"]["healthyRetryPolicy"]
    known = {"numRetries", "numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries",
             "minDelayTarget", "maxDelayTarget", "backoffFunction"}
    assert set(hp) <= known, set(hp) - known
    n, nd = hp["numRetries"], hp.get("numNoDelayRetries", 0)
    nmin, nmax = hp.get("numMinDelayRetries", 0), hp.get("numMaxDelayRetries", 0)
    lo, hi = hp["minDelayTarget"], hp["maxDelayTarget"]
    # SNS HTTP/S limits.
    assert 0 <= n <= 100
    assert min(nd, nmin, nmax) >= 0 and nd + nmin + nmax <= n
    assert 1 <= lo <= hi <= 3600
    assert hp.get("backoffFunction", "linear") in ("linear", "arithmetic", "geometric",
                                                    "exponential")
    # Whole schedule within SNS's 3600 s hard limit, for any backoff curve:
    # backoff steps are at most maxDelayTarget each.
    backoff = n - nd - nmin - nmax
    worst = nmin * lo + backoff * hi + nmax * hi
    assert worst <= 3600, worst
    # ... and long enough to ride out a restart or a database failover.
    best = nmin * lo + backoff * lo + nmax * hi
    assert best >= 1200, best


def test_cfn_dead_letter_queue():
    t = load_cfn()
    topic_name = next(iter(resources_of(t, "AWS::SNS::Topic")))
    queue_name, q = next(iter(resources_of(t, "AWS::SQS::Queue").items()))
    assert q["Properties"].get("MessageRetentionPeriod") == 1209600
    qp = the(t, "AWS::SQS::QueuePolicy")["Properties"]
    assert {"Ref": queue_name} in qp["Queues"]
    stmts = qp["PolicyDocument"]["Statement"]
    sns = [s for s in stmts if s.get("Principal", {}).get("Service") == "sns.amazonaws.com"]
    assert sns and "sqs:SendMessage" in as_list(sns[0]["Action"])
    assert sns[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": topic_name}
    ev = [s for s in stmts if s.get("Principal", {}).get("Service") == "events.amazonaws.com"]
    assert ev and "sqs:SendMessage" in as_list(ev[0]["Action"])


def test_cfn_iam_policy_is_minimal():
    t = load_cfn()
    pol = the(t, "AWS::IAM::ManagedPolicy")["Properties"]["PolicyDocument"]
    actions = {}
    for s in pol["Statement"]:
        assert s["Effect"] == "Allow"
        for a in as_list(s["Action"]):
            actions[a] = s["Resource"]
    assert set(actions) == {"ivs:GetStream", "ivs:ListStreams"}
    assert actions["ivs:ListStreams"] == "*"
    gs = actions["ivs:GetStream"]
    assert gs == {"Fn::Sub": "arn:${AWS::Partition}:ivs:*:${AWS::AccountId}:channel/*"}


def test_cfn_outputs():
    t = load_cfn()
    out = t["Outputs"]
    topic_name = next(iter(resources_of(t, "AWS::SNS::Topic")))
    pol_name = next(iter(resources_of(t, "AWS::IAM::ManagedPolicy")))
    queue_name = next(iter(resources_of(t, "AWS::SQS::Queue")))
    assert out["TopicArn"]["Value"] == {"Ref": topic_name}
    assert out["PolicyArn"]["Value"] == {"Ref": pol_name}
    assert out["DeadLetterQueueUrl"]["Value"] == {"Ref": queue_name}


def test_cfn_api_destination_option():
    t = load_cfn()
    conn = the(t, "AWS::Events::Connection", cond="HasApiDestination")["Properties"]
    assert conn["AuthorizationType"] == "API_KEY"
    assert conn["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyName"] == \
        {"Ref": "ApiDestinationHeader"}
    assert t["Parameters"]["ApiDestinationHeader"]["Default"] == "X-Ivs-Syncd-Token"
    dest = the(t, "AWS::Events::ApiDestination", cond="HasApiDestination")["Properties"]
    assert dest["HttpMethod"] == "POST"
    assert re.fullmatch(t["Parameters"]["ApiDestinationEndpointUrl"]["AllowedPattern"],
                        "https://ivs-syncd.example.com/eventbridge")


# ---------------------------------------------------------------- man page ---

def _groff():
    return need("groff", "groff-base")


def render_man(width=80):
    exe = _groff()
    r = run([exe, "-man", "-Tascii", "-P-cbou", f"-rLL={width}n", str(MANPAGE)])
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("width", [None, 72, 80, 100])
def test_man_renders_without_warnings(width):
    exe = _groff()
    args = [exe, "-man", "-Tutf8", "-ww", "-z"]
    if width:
        args.append(f"-rLL={width}n")
    r = run(args + [str(MANPAGE)])
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_man_db_renders_without_warnings():
    exe = need("man", "man-db")
    _groff()
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LANG="C.UTF-8")
    r = run([exe, "--warnings", "-l", str(MANPAGE)], env=env)
    assert r.returncode == 0, r.stderr
    assert not r.stderr.strip(), r.stderr
    assert "IVS-SYNCD(8)" in r.stdout


def man_sections(text):
    secs, cur = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]+$", line):
            cur = line.strip()
            secs[cur] = ""
        elif cur:
            secs[cur] += line + "\n"
    return secs


def test_man_sections():
    secs = man_sections(render_man())
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "SIGNALS", "FILES",
              "EXIT STATUS", "SEE ALSO"):
        assert s in secs, f"section {s} missing"
    assert re.search(r"ivs-syncd\s+-\s+\S", secs["NAME"]), "NAME line for whatis"


def test_man_mentions_every_command():
    secs = man_sections(render_man())
    syn = re.sub(r"\s+", " ", secs["SYNOPSIS"])
    body = re.sub(r"\s+", " ", secs.get("COMMANDS", "") + secs["DESCRIPTION"])
    for c in COMMANDS:
        assert c in syn, f"SYNOPSIS lacks {c}"
        assert c in body, f"no description of {c}"
    assert "verify-sns FILE|-" in syn
    assert "ivs get-stream [--repeat N] [--interval-ms M] ARN ..." in syn
    assert "ivs list-streams [--region REGION]" in syn


def test_man_documents_every_variable():
    secs = man_sections(render_man())
    env = secs["ENVIRONMENT"]
    missing = [v for v in SPEC_VARS + SPEC_ALIASES if not re.search(rf"\b{v}\b", env)]
    assert not missing, missing
    found = spec_section6_vars()
    if found:
        assert not [v for v in found if not re.search(rf"\b{v}\b", env)]


def test_man_signals_and_defaults():
    text = re.sub(r"\s+", " ", render_man())
    sig = re.sub(r"\s+", " ", man_sections(render_man())["SIGNALS"])
    for s in ("SIGTERM", "SIGINT", "SIGHUP", "SHUTDOWN_TIMEOUT", "second"):
        assert s in sig, s
    # Defaults the SPEC gives.
    for frag in ("0.0.0.0:8080", "X-Ivs-Syncd-Token", "us-east-1", "(default 30)",
                 "(default 4;", "(default 8)", "(default 20)", "(default 2)", "(default 5)",
                 "(default 7d)", "(default 1h;", "(default 256k)"):
        assert frag in text, frag


def test_make_run_prints_an_absolute_event_path(tmp_path):
    """make run's try-it block is pasted into another terminal, usually elsewhere:
    the example event must be named by an absolute path that exists."""
    stub = tmp_path / "stub"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = Path(__file__).resolve().parents[2] / "infra" / "run-local.sh"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": "host=none"}
    p = subprocess.run(["sh", str(script), str(stub)], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m = re.search(r"--data @'?([^' \n]+)'?", p.stdout)
    assert m, p.stdout
    path = Path(m.group(1))
    assert path.is_absolute() and path.is_file(), p.stdout
