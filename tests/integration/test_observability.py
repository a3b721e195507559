"""Issue 19: the alert rules, their promtool unit tests, the Grafana dashboard and the
README runbook, checked against each other and against a live /metrics of the daemon."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import EB, ROOT, add_show, aws_env, channel_arn, ivs_event, wait_until  # noqa: E402

PROM = ROOT / "infra" / "prometheus"
RULES = PROM / "ivs-syncd.rules.yml"
RULES_TEST = PROM / "ivs-syncd.rules.test.yml"
DASHBOARD = ROOT / "infra" / "grafana" / "ivs-syncd.json"
README = ROOT / "README.md"
RUNBOOK_BASE = "https://github.com/ivs-syncd/ivs-syncd/blob/main/README.md#"

PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}


def promtool():
    p = shutil.which("promtool")
    assert p, "promtool is missing: install the Debian package prometheus (make deps)"
    return p


def alerts():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def metric_names(expr):
    """Metric names in a PromQL expression (selectors, not functions or label names)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)            # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                         # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)                       # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_names_parser():
    assert metric_names('histogram_quantile(0.9, sum by (le, route) (rate('
                        'ivs_syncd_http_request_seconds_bucket{route=~"sns|x",job=~"$job"}'
                        '[$__rate_interval])))') == {"ivs_syncd_http_request_seconds_bucket"}
    assert metric_names('(sum by (job) (increase(a_total{r!="x"}[90s])) or on (job) '
                        '0 * group by (job) (b_info)) == 0 and c > 1e3') == \
        {"a_total", "b_info", "c"}


def family(name, families):
    """The declared family a series name belongs to (histogram suffixes stripped)."""
    if name in families:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and families.get(name[:-len(suf)]) == "histogram":
            return name[:-len(suf)]
    return None


@pytest.fixture(scope="module")
def live_families(pg, signer):
    """# TYPE lines of a live /metrics, after one event and a few reconcile passes."""
    from fakeivs import FakeIVS
    from conftest import Daemon
    f = FakeIVS(credentials={"AKIDFAKE": ("fake-secret", None)})
    dbname = f"obs{int(time.time() * 1000) % 10**9}"
    pg.psql(f"CREATE DATABASE {dbname} TEMPLATE ivs_tmpl")
    d = None
    try:
        ch = channel_arn(19)
        add_show(pg, dbname, ch)
        f.set_stream(ch, stream_id="st-obs")
        d = Daemon(aws_env(pg, dbname, f, signer, RECONCILE_INTERVAL="1"))
        st, _, _ = d.request("POST", "/eventbridge", ivs_event("Stream Start", ch, "st-obs"), EB)
        assert st == 200
        wait_until(lambda: d.metric("ivs_syncd_reconcile_passes_total", "*", absent_ok=True) >= 1,
                   10, 0.1,
                   "a reconcile pass")
        _, _, data = d.request("GET", "/metrics")
        text = data.decode()
        assert d.stop() == 0
        d = None
    finally:
        if d:
            d.stop()
        f.close()
        pg.psql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    fams = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            fams[name] = typ
    assert "ivs_syncd_reconcile_leader" in fams and "ivs_syncd_ivs_calls_total" in fams, fams
    return fams


# ---- Prometheus rules ----

def test_promtool_check_rules():
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_test_rules():
    r = subprocess.run([promtool(), "test", "rules", RULES_TEST.name], cwd=PROM,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    spec = yaml.safe_load(RULES_TEST.read_text())
    firing, quiet = set(), set()
    for t in spec["tests"]:
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_alerts_have_severity_summary_and_runbook():
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)) and len(names) >= 10
    for a in alerts():
        assert a["labels"]["severity"] in ("critical", "warning"), a["alert"]
        assert a["annotations"]["summary"], a["alert"]
        assert a["annotations"]["runbook"].startswith(RUNBOOK_BASE), a["alert"]


def github_anchors(markdown):
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            h = m.group(1).strip().lower()
            h = re.sub(r"[^\w\- ]", "", h).replace(" ", "-")
            out.add(h)
    return out


def test_runbook_anchors_exist_in_readme():
    text = README.read_text()
    anchors = github_anchors(text)
    assert "runbook" in anchors and "dashboard" in anchors
    assert RUNBOOK_BASE[:-1] in text, "the README states the runbook URL base"
    for a in alerts():
        anchor = a["annotations"]["runbook"][len(RUNBOOK_BASE):]
        assert anchor in anchors, f"{a['alert']}: no README heading for #{anchor}"


def test_rule_metrics_exist_in_live_metrics(live_families):
    used = set()
    for a in alerts():
        used |= metric_names(a["expr"])
    assert "ivs_syncd_reconcile_leader" in used
    missing = sorted(n for n in used if not family(n, live_families))
    assert not missing, f"rules use metrics the daemon does not export: {missing}"


def test_rules_test_series_exist_in_live_metrics(live_families):
    spec = yaml.safe_load(RULES_TEST.read_text())
    used = {s["series"].split("{")[0] for t in spec["tests"] for s in t["input_series"]}
    missing = sorted(n for n in used if not family(n, live_families))
    assert not missing, f"promtool tests feed series the daemon does not export: {missing}"


# ---- Grafana dashboard ----

def dashboard_exprs(d):
    exprs = []
    for p in d["panels"]:
        for sub in [p] + p.get("panels", []):
            exprs += [t["expr"] for t in sub.get("targets", [])]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            q = q["query"] if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)  # label_values(metric, label)
            exprs.append(m.group(1) if m else q)
    return exprs


def test_dashboard_json_and_datasource_variable():
    d = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    for word in ("Ingest", "Reconcile", "IVS", "Database pool", "HTTP"):
        assert any(r.startswith(word) for r in rows), (word, rows)
    for p in d["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            for t in p["targets"]:
                assert t["datasource"]["uid"] == "${datasource}", p["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    section = README.read_text().split("\n## Dashboard\n", 1)[1].split("\n## ", 1)[0]
    for r in rows:
        assert f"**{r.split(':')[0]}**" in section, f"README Dashboard section lacks the row {r}"


def test_dashboard_metrics_exist_in_live_metrics(live_families):
    d = json.loads(DASHBOARD.read_text())
    used = set()
    for e in dashboard_exprs(d):
        used |= metric_names(e)
    assert len(used) >= 20, used
    missing = sorted(n for n in used if not family(n, live_families))
    assert not missing, f"dashboard queries metrics the daemon does not export: {missing}"


def test_promtool_check_metrics_on_live_metrics(pg, db, signer, fake, daemon_factory):
    """`promtool check metrics` over a live /metrics, after some traffic: every
    metric has HELP and TYPE, names and units follow the conventions. promtool
    (Debian package prometheus) is required, not optional."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus"
    d = daemon_factory(aws_env(pg, db, fake, signer, RECONCILE_INTERVAL="1"))
    wait_until(lambda: d.metric("ivs_syncd_reconcile_passes_total", "*", absent_ok=True) >= 1,
               10, 0.1, "a reconcile pass")
    d.request("GET", "/healthz")
    d.request("POST", "/sns", "{}")
    d.request("POST", "/eventbridge", "{}", {"X-Ivs-Syncd-Token": "eb-secret-token"})
    st, _, data = d.request("GET", "/metrics")
    assert st == 200
    p = subprocess.run([promtool, "check", "metrics"], input=data, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    text = data.decode()
    # process metrics, as every Prometheus client library exports them
    for name in ("process_start_time_seconds", "process_cpu_seconds_total",
                 "process_resident_memory_bytes", "process_open_fds", "process_max_fds"):
        assert f"# TYPE {name} " in text, name
        line = [x for x in text.splitlines() if x.startswith(name + " ")]
        assert line and float(line[0].split()[1]) >= (0 if "cpu" in name else 1), (name, line)
    # counters whose label sets are known in advance are there from the start, at 0
    for series in ('ivs_syncd_events_total{outcome="applied",via="sns"}',
                   'ivs_syncd_events_rejected_total{reason="future",via="eventbridge"}',
                   'ivs_syncd_sns_cert_fetch_total{result="limited"}'):
        assert series + " " in text, series
    # the reconcile pass histogram reaches minutes
    buckets = re.findall(r'ivs_syncd_reconcile_pass_seconds_bucket\{[^}]*le="([^"]+)"\}', text)
    assert buckets and max(float(b) for b in buckets if b != "+Inf") >= 120, buckets
