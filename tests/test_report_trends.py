"""`signoff report` (issue 16 point 4): weekly trends checked against a plain implementation, policy changes marked,
the three formats, and bad input."""
from __future__ import annotations

import gzip
import json
import random
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest
from click.testing import CliRunner

from cli.main import cli
from engine import OUTCOMES, load_policy
from engine.report import Proposal, percentile, trends, trends_html, trends_text
from workflow_helpers import POLICY_PATH, Clock, make_gate, refund, store_path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ("approved", "edited", "rejected", "expired")
T0 = datetime(2026, 10, 29, 7, 0, tzinfo=timezone.utc).timestamp()   # a Thursday: weeks start mid-history


def run(*argv: str):
    return CliRunner().invoke(cli, list(argv), catch_exceptions=False)


def meta(version: str, digest: str) -> Dict[str, Any]:
    return {"name": "p", "version": version, "digest": "sha256:" + digest * 64}


def random_proposals(rng: random.Random, n: int) -> List[Proposal]:
    """Random proposals over ~8 weeks, the policy changing from `1` to `2` at a random time."""
    switch = T0 + rng.uniform(0, 56 * 86400)
    out = []
    for i in range(n):
        t = T0 + rng.uniform(0, 56 * 86400)
        outcome = rng.choice(OUTCOMES)
        routes, verdict, wait = (), None, None
        if outcome == "require_approval":
            routes = tuple(rng.sample(["finance", "team"], rng.choice([1, 1, 2])))
            verdict = rng.choice(VERDICTS + (None,))
            if verdict in ("approved", "edited") and rng.random() < 0.9:
                wait = rng.choice([rng.uniform(0, 7200), float(rng.randint(0, 5)) * 60])   # ties too
        escalated = outcome == "escalate" or (verdict == "expired" and rng.random() < 0.5)
        out.append(Proposal(f"a{i}", t, rng.choice(["refund", "email", "lookup"]), outcome, routes, verdict, wait,
                            meta("1", "a") if t < switch else meta("2", "b"), escalated))
    return out


def iso_week(t: float) -> str:
    y, w, _ = datetime.fromtimestamp(t, timezone.utc).isocalendar()
    return f"{y}-W{w:02d}"


def plain_percentile(values: List[float], p: int):
    """The definition, read literally: the smallest value v such that at least p% of the values are <= v."""
    for v in sorted(values):
        if sum(1 for x in values if x <= v) * 100 >= p * len(values):
            return v
    return None


def plain_stats(ps: List[Proposal]) -> Dict[str, Any]:
    req = [p for p in ps if p.outcome == "require_approval"]
    waits = [p.wait for p in req if p.wait is not None]
    counts = {v: len([p for p in req if p.verdict == v]) for v in VERDICTS}
    counts["pending"] = len([p for p in req if p.verdict is None])
    return {"requested": len(req), **counts,
            "rates": {k: (c / len(req) if req else None) for k, c in counts.items()},
            "p50": plain_percentile(waits, 50), "p90": plain_percentile(waits, 90)}


@pytest.mark.parametrize("seed", range(12))
def test_weekly_arithmetic_matches_a_plain_implementation(seed):
    rng = random.Random(seed)
    ps = random_proposals(rng, rng.choice([1, 5, 40, 400]))
    r = trends(ps, {"store": "x"})
    weeks: Dict[str, List[Proposal]] = {}
    for p in ps:
        weeks.setdefault(iso_week(p.t), []).append(p)
    assert [w["week"] for w in r["weeks"]] == sorted(weeks)
    assert sum(w["total"] for w in r["weeks"]) == len(ps) == r["total"]
    for w in r["weeks"]:
        items = weeks[w["week"]]
        s = plain_stats(items)
        assert w["total"] == len(items)
        assert w["outcomes"] == {o: len([p for p in items if p.outcome == o]) for o in OUTCOMES}
        assert w["automation_rate"] == len([p for p in items if p.outcome == "allow"]) / len(items)
        assert w["approvals"] == {k: s[k] for k in ("requested", *VERDICTS, "pending", "rates")}
        assert (w["p50_seconds"], w["p90_seconds"]) == (s["p50"], s["p90"])
        assert w["escalations"] == len([p for p in items if p.escalated])
        assert w["denials"] == len([p for p in items if p.outcome == "deny"])
        assert date.fromisoformat(w["start"]).weekday() == 0 and w["start"] <= \
            datetime.fromtimestamp(min(p.t for p in items), timezone.utc).date().isoformat()
    for route, rows in r["routes"].items():
        for row in rows:
            items = [p for p in weeks[row["week"]] if route in p.routes and p.outcome == "require_approval"]
            s = plain_stats(items)
            assert row["requested"] == len(items) and row["approved"] == s["approved"]
            assert row["rates"] == s["rates"] and (row["p50_seconds"], row["p90_seconds"]) == (s["p50"], s["p90"])
    for tool, rows in r["tools"].items():
        assert sum(row["total"] for row in rows) == len([p for p in ps if p.tool == tool])
        for row in rows:
            items = [p for p in weeks[row["week"]] if p.tool == tool]
            assert row["allowed"] == len([p for p in items if p.outcome == "allow"])
            assert row["rejected"] == plain_stats(items)["rejected"]


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1, 2], 50) == 1 and percentile([1, 2, 3], 50) == 2
    assert percentile(list(range(1, 11)), 90) == 9 and percentile(list(range(1, 11)), 91) == 10
    rng = random.Random(7)
    for _ in range(200):
        xs = [rng.randint(0, 20) for _ in range(rng.randint(1, 30))]
        p = rng.randint(1, 100)
        assert percentile(xs, p) == plain_percentile(xs, p)


def test_policy_changes_are_marked_in_their_week():
    day = 86400
    ps = [Proposal(f"a{i}", T0 + i * day, "refund", "allow" if i < 10 else "require_approval",
                   () if i < 10 else ("finance",), None if i < 10 else "approved", None if i < 10 else 600.0,
                   meta("1", "a") if i < 10 else meta("2", "b"), False) for i in range(20)]
    r = trends(ps, {"store": "x"})
    change_week = iso_week(T0 + 10 * day)
    assert [(v["label"], v["from"], v["week"]) for v in r["versions"]] == \
        [("1", None, iso_week(T0)), ("2", "1", change_week)]
    for w in r["weeks"]:
        assert w["changes"] == (["2"] if w["week"] == change_week else [])
    assert next(w for w in r["weeks"] if w["week"] == change_week)["policies"] == ["1", "2"]
    text = trends_text(r)
    marked = [line for line in text.splitlines() if line.rstrip().endswith("→ 2")]
    assert marked and all(change_week in line for line in marked)
    page = trends_html(r)
    assert page.count('class="marker"') == 3       # on each weekly chart: automation, verdicts, waits
    assert "→ 2" in page


def test_two_digests_with_one_version_are_told_apart():
    ps = [Proposal("a", T0, "t", "allow", (), None, None, meta("1", "a"), False),
          Proposal("b", T0 + 60, "t", "allow", (), None, None, meta("1", "b"), False)]
    r = trends(ps, {"store": "x"})
    assert [v["label"] for v in r["versions"]] == ["1 (aaaaaaaaaaaa)", "1 (bbbbbbbbbbbb)"]


def test_formats_escape_what_the_record_holds():
    hostile = '<script>alert(1)</script>\n"quoted"'
    ps = [Proposal("a", T0, hostile, "require_approval", (hostile,), "approved", 60.0,
                   {"name": hostile, "version": hostile, "digest": "sha256:" + "c" * 64}, False)]
    r = trends(ps, {"store": hostile}, shadow=True)
    page = trends_html(r)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    text = trends_text(r)
    assert "<script>alert(1)</script>\\n" in text and "\n\"quoted\"" not in text
    assert json.loads(json.dumps(r)) == r                               # plain JSON values only


def test_a_record_without_verdicts_says_so():
    ps = [Proposal("a", T0, "t", "require_approval", ("r",), None, None, meta("1", "a"), False)]
    r = trends(ps, {"store": "x"})
    assert r["weeks"][0]["approvals"]["pending"] == 1
    assert "the record holds no human verdicts" in trends_text(r)
    ps.append(Proposal("b", T0, "t", "require_approval", ("r",), "approved", 5.0, meta("1", "a"), False))
    assert "no human verdicts" not in trends_text(trends(ps, {"store": "x"}))


def test_empty_record_reports_none():
    r = trends([], {"store": "x"}, shadow=True)
    assert r["total"] == 0 and r["weeks"] == [] and r["overall"]["automation_rate"] is None
    assert "none" in trends_text(r) and "no proposals" in trends_html(r)


# ---------------------------------------------------------------- through the CLI, from a store and its export


def two_version_store(tmp_path):
    """A store whose gate ran policy version 1, then (eight days later) version 2, with human verdicts."""
    clock = Clock()
    path = store_path(tmp_path)
    gate = make_gate(path, clock, {})
    text = POLICY_PATH.read_text(encoding="utf-8").replace('version "1"', 'version "2"')
    v2 = load_policy(str(POLICY_PATH), text.replace("allow when confidence >= 0.90", "allow when confidence >= 0.40"))
    for week in range(2):
        for i in range(3):
            h = gate.propose(refund(300 + i, invoice=f"INV-{week}-{i}"))
            clock.advance(minutes=10 * (i + 1))
            if i == 2:
                gate.reject(h.id, by="carl", reason="no")
            else:
                gate.approve(h.id, by="fiona")
                gate.approve(h.id, by="carl")
            gate.propose(refund(50, confidence=0.5, invoice=f"INV-m{week}-{i}"))   # medium: needs team_review at v1
        clock.advance(days=8)
        gate.policy = v2
    return path


def test_store_report_counts_the_store_and_marks_the_new_version(tmp_path):
    path = two_version_store(tmp_path)
    r = run("report", "--store", path, "--format", "json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    w1, w2 = rep["weeks"]
    assert (w1["total"], w1["approvals"]["requested"], w1["approvals"]["approved"], w1["approvals"]["rejected"],
            w1["approvals"]["pending"]) == (6, 6, 2, 1, 3)
    assert w1["outcomes"]["allow"] == 0 and w2["outcomes"]["allow"] == 3     # v2 lets the medium refunds through
    assert w1["p50_seconds"] == 600 and w1["p90_seconds"] == 1200         # approved 10 and 20 minutes after proposing
    assert [v["label"] for v in rep["versions"]] == ["1", "2"] and w2["changes"] == ["2"]
    assert set(rep["routes"]) == {"finance_review", "team_review"}
    text = run("report", "--store", path).output
    assert "→ 2" in text and "finance_review" in text


def test_an_audit_export_reports_as_its_store(tmp_path):
    path = two_version_store(tmp_path)
    export = tmp_path / "export.jsonl"
    assert run("audit", "export", "--store", path, "-o", str(export)).exit_code == 0
    a = json.loads(run("report", "--store", path, "--format", "json").output)
    b = json.loads(run("report", "--history", str(export), "--format", "json").output)
    a.pop("source"), b.pop("source")
    assert a == b


def test_histories_decided_with_a_policy_agree_with_simulate(tmp_path):
    with gzip.open(ROOT / "examples" / "support-ops" / "history-30d.jsonl.gz", "rt", encoding="utf-8") as fh:
        lines = [line for i, line in enumerate(fh) if i % 40 == 0]
    hist = tmp_path / "h.jsonl"
    hist.write_text("".join(lines), encoding="utf-8")
    policy = str(ROOT / "examples" / "support-ops" / "support.policy")
    rep = json.loads(run("report", "--history", str(hist), "--policy", policy, "--format", "json").output)
    sim = json.loads(run("simulate", policy, "--history", str(hist), "--format", "json").output)
    assert rep["total"] == sim["total"] == len(lines)
    assert rep["overall"]["outcomes"] == sim["outcomes"]
    assert rep["overall"]["automation_rate"] == pytest.approx(sim["automation_rate"])
    assert {k: sum(x["requested"] for x in rows) for k, rows in rep["routes"].items()} == sim["by_route"]
    html = run("report", "--history", str(hist), "--policy", policy, "--format", "html", "--out",
               str(tmp_path / "r.html"))
    assert html.exit_code == 0 and "report written to" in html.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="chart-automation"' in page and 'id="chart-waits"' in page and "<script" not in page


# ---------------------------------------------------------------- bad input


def write(tmp_path, name: str, rows: List[Any]) -> str:
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(p)


ACTION = {"id": "x1", "timestamp": "2026-11-20T10:00:00Z", "tool": "issue_refund", "args": {"amount": 300, "invoice_id": "INV-9"},
          "tenant": {"id": "acme", "plan": "enterprise"}, "confidence": 0.9}


def test_bad_input_gets_a_clear_error(tmp_path):
    r = run("report")
    assert r.exit_code == 2 and "give either `--store STORE` or `--history FILE…`" in r.output
    plain = write(tmp_path, "plain.jsonl", [ACTION])
    r = run("report", "--store", str(tmp_path / "s.db"), "--history", plain)
    assert r.exit_code == 2 and "give either" in r.output
    r = run("report", "--history", plain)
    assert r.exit_code == 2
    assert f"{plain}:1: the record carries no decision (`signoff.outcome`): give `--policy`" in r.output
    r = run("report", "--store", str(tmp_path / "missing.db"))
    assert r.exit_code == 2 and "Traceback" not in r.output and not (tmp_path / "missing.db").exists()
    r = run("report", "--store", str(tmp_path / "missing.db"), "--policy", str(POLICY_PATH))
    assert r.exit_code == 2 and "`--policy` decides history records" in r.output


def test_malformed_records_follow_on_error(tmp_path):
    bad_verdict = dict(ACTION, human={"verdict": "maybe"})
    early = dict(ACTION, id="x2", human={"verdict": "approved", "at": "2026-11-19T10:00:00Z"})
    hist = write(tmp_path, "h.jsonl", [ACTION, bad_verdict, "{not json", early])
    pol = str(POLICY_PATH)
    r = run("report", "--history", write(tmp_path, "v.jsonl", [ACTION, bad_verdict]), "--policy", pol)
    assert r.exit_code == 2 and "v.jsonl:2: `human.verdict` must be one of approved, edited, rejected, expired, not `maybe`" \
        in r.output
    r = run("report", "--history", hist, "--policy", pol, "--on-error", "skip", "--format", "json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert "invalid JSON" in run("report", "--history", hist, "--policy", pol).output
    assert rep["total"] == 1 and rep["skipped"] == 3     # the verdict, the line that is no JSON, the early approval
    r = run("report", "--history", write(tmp_path, "e.jsonl", [early]), "--policy", pol)
    assert r.exit_code == 2 and "`human.at` is before the proposal" in r.output
    dup = write(tmp_path, "d.jsonl", ['{"tool": "a", "tool": "b", "signoff": {"outcome": "allow"}}'])
    r = run("report", "--history", dup)
    assert r.exit_code == 2 and "d.jsonl:1: the record is not a valid action: " in r.output
    assert run("report", "--history", dup, "--policy", pol, "--format", "json").exit_code == 0   # decided: deny
    broken = write(tmp_path, "b.jsonl", [dict(ACTION, signoff={"outcome": "maybe"})])
    r = run("report", "--history", broken)
    assert r.exit_code == 2 and "`signoff.outcome` must be one of" in r.output
