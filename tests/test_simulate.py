"""`signoff simulate`: replay semantics, budgets, decisions file, the three report formats, tau-bench calls."""
import gzip
import html
import html.parser
import re
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.simulate_cmd import simulate
from engine import load_policy
from engine.replay.history import History
from engine.replay.simulate import simulate as run_simulation

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
TAU = ROOT.parent / "shared" / "corpora" / "tau"
sys.path.insert(0, str(EX))
import generate_history  # noqa: E402

BUDGET_POLICY = """
policy "budgets"
route desk { approvers "lead" }
tool pay {
  risk low when args.amount <= 50
  risk high otherwise
}
category low { allow }
category high { require approval via desk }
check daily on pay {
  budget sum(args.amount) per tenant per 1d <= 100 else escalate to "finance"
}
"""


def run(*args, input=None):
    return CliRunner().invoke(simulate, [str(a) for a in args], input=input)


def jsonl(path, actions):
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    return path


def pay(i, minute, amount, verdict=None, **extra):
    a = {"id": f"p{i}", "timestamp": f"2026-11-01T10:{minute:02d}:00Z", "tool": "pay", "tenant": {"id": "acme"},
         "args": {"amount": amount}}
    if verdict:
        a["human"] = {"verdict": verdict, "by": "maria"}
        if verdict == "edited":
            a["human"]["edited_args"] = {"amount": extra.pop("edited")}
    a.update(extra)
    return a


@pytest.fixture()
def budget_policy(tmp_path):
    p = tmp_path / "budgets.policy"
    p.write_text(BUDGET_POLICY)
    return p


def outcomes(decisions_file):
    return [(d["id"], d["outcome"]) for d in map(json.loads, Path(decisions_file).read_text().splitlines())]


def test_budgets_count_allowed_and_approved_actions(tmp_path, budget_policy):
    hist = jsonl(tmp_path / "h.jsonl", [
        pay(1, 0, 40),                       # allow: 40 spent
        pay(2, 1, 60, "rejected"),           # approval (40 + 60 fits), rejected: nothing spent
        pay(3, 2, 55, "edited", edited=2),   # approval, edited to 2: 42 spent
        pay(4, 3, 55, "approved"),           # approval, approved: 97 spent
        pay(5, 4, 10),                       # 107 > 100: escalate, not executed
        pay(6, 5, 3),                        # 100: allowed
        pay(7, 6, 1),                        # 101: escalate
    ])
    dec = tmp_path / "d.jsonl"
    r = run(budget_policy, "--history", hist, "--decisions", dec, "--format", "json")
    assert r.exit_code == 0, r.output
    assert outcomes(dec) == [("p1", "allow"), ("p2", "require_approval"), ("p3", "require_approval"),
                             ("p4", "require_approval"), ("p5", "escalate"), ("p6", "allow"), ("p7", "escalate")]
    rep = json.loads(r.output)
    assert rep["executed"] == 4
    b = rep["budget_exhaustion"][0]
    assert (b["check"], b["count"], b["first"]["action_id"], b["last"]["action_id"]) == ("daily", 2, "p5", "p7")
    assert b["top_keys"] == [{"key": "acme", "count": 2}]


def test_assume_approved_counts_every_approval(tmp_path, budget_policy):
    hist = jsonl(tmp_path / "h.jsonl", [pay(1, 0, 60, "rejected"), pay(2, 1, 45)])
    dec = tmp_path / "d.jsonl"
    assert run(budget_policy, "--history", hist, "--decisions", dec).exit_code == 0
    assert outcomes(dec)[1] == ("p2", "allow")
    assert run(budget_policy, "--history", hist, "--decisions", dec, "--assume-approved").exit_code == 0
    assert outcomes(dec)[1] == ("p2", "escalate")


def test_budget_windows_slide_during_replay(tmp_path, budget_policy):
    acts = [dict(pay(i, 0, 50), timestamp=f"2026-11-{i:02d}T10:00:00Z") for i in range(1, 6)]
    acts.append(dict(pay(9, 0, 1), timestamp="2026-11-05T12:00:00Z"))   # 50 + 1 within the day of p5
    acts.append(dict(pay(10, 0, 50), timestamp="2026-11-05T13:00:00Z"))  # 50 + 1 + 50 > 100
    dec = tmp_path / "d.jsonl"
    assert run(budget_policy, "--history", jsonl(tmp_path / "h.jsonl", acts), "--decisions", dec).exit_code == 0
    assert [o for _, o in outcomes(dec)] == ["allow"] * 6 + ["escalate"]


def test_decisions_follow_time_order_with_ids_and_sources(tmp_path, budget_policy):
    acts = [pay(i, 50 - i, 1) for i in range(30)]          # written newest first
    hist = jsonl(tmp_path / "h.jsonl", acts)
    dec = tmp_path / "d.jsonl"
    r = run(budget_policy, "--history", hist, "--decisions", dec, "--format", "json")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in dec.read_text().splitlines()]
    assert [d["id"] for d in rows] == [f"p{i}" for i in range(29, -1, -1)]
    assert rows[0]["source"] == f"{hist}:30"
    assert set(rows[0]) >= {"action_id", "outcome", "category", "route", "routes", "escalate_to", "ask", "reasons",
                            "mode", "policy", "id"}
    assert json.loads(r.output)["read"]["sorted_externally"] is False


def test_unsorted_file_is_sorted_externally_and_decisions_rewritten(tmp_path, budget_policy):
    pol = load_policy(str(budget_policy))
    acts = [pay(i, 0, 1) for i in range(40)]
    for i, a in enumerate(acts):
        a["timestamp"] = f"2026-11-01T10:{i:02d}:00Z"
    acts.append(dict(pay(99, 0, 1), timestamp="2026-10-01T00:00:00Z"))
    hist = jsonl(tmp_path / "h.jsonl", acts)
    dec = tmp_path / "d.jsonl"
    rep = run_simulation(pol, History([str(hist)], window=5), decisions=str(dec))
    ids = [i for i, _ in outcomes(dec)]
    assert ids[0] == "p99" and len(ids) == 41 and rep["total"] == 41 and rep["read"]["sorted_externally"]


def test_unsorted_stdin_fails_unless_sorted_externally(tmp_path, budget_policy, monkeypatch):
    import io
    from engine.replay.history import HistoryError
    acts = [pay(i, 59 - i, 1) for i in range(20)]
    text = "".join(json.dumps(a) + "\n" for a in acts)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    with pytest.raises(HistoryError, match="stdin is read once"):
        run_simulation(load_policy(str(budget_policy)), History(["-"], window=5))
    r = run(budget_policy, "--history", "-", "--format", "json", "--external-sort", input=text)
    assert r.exit_code == 0 and json.loads(r.output)["total"] == 20


def test_malformed_lines_fail_or_are_skipped(tmp_path, budget_policy):
    hist = tmp_path / "h.jsonl"
    hist.write_text(json.dumps(pay(1, 0, 1)) + "\n{oops\n" + json.dumps(pay(2, 1, 1)) + "\n")
    r = run(budget_policy, "--history", hist)
    assert r.exit_code == 2
    assert f"{hist}:2:2" in r.output and "invalid JSON" in r.output
    r = run(budget_policy, "--history", hist, "--on-error", "skip", "--format", "json")
    rep = json.loads(r.output)
    assert rep["total"] == 2 and rep["errors"]["malformed"] == 1 and rep["errors"]["skipped"] == 1
    assert rep["errors"]["lines"][0]["where"] == f"{hist}:2:2"


def test_input_errors_are_denied_and_counted(tmp_path, budget_policy):
    hist = tmp_path / "h.jsonl"
    hist.write_text('{"id": "x", "tool": "pay", "tool": "pay", "timestamp": "2026-11-01T10:00:00Z"}\n'
                    '{"id": "y", "tool": "pay", "timestamp": "yesterday"}\n')
    dec = tmp_path / "d.jsonl"
    r = run(budget_policy, "--history", hist, "--format", "json", "--decisions", dec)
    rep = json.loads(r.output)
    assert rep["outcomes"]["deny"] == 2 and rep["errors"]["input"] == 2
    assert [o for _, o in outcomes(dec)] == ["deny", "deny"]


def test_bad_policy_exits_1(tmp_path):
    p = tmp_path / "bad.policy"
    p.write_text('policy "x"\ntool a { risk nope }\n')
    h = jsonl(tmp_path / "h.jsonl", [])
    assert run(p, "--history", h).exit_code == 1


# ------------------------------------------------------------------ the report in three formats

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    path = d / "h.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for a in generate_history.generate(4000, 11):
            fh.write(json.dumps(a) + "\n")
    return path


@pytest.fixture(scope="module")
def reports(generated, tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    pol = EX / "support-ops" / "support.policy"
    out = {}
    for fmt in ("json", "text", "html"):
        target = d / f"report.{fmt}"
        r = run(pol, "--history", generated, "--format", fmt, "--out", target)
        assert r.exit_code == 0, r.output
        out[fmt] = target
    return out


def expected_cells(rep):
    """The numbers the HTML page must show, by their data-k names."""
    from engine.decide.decision import OUTCOMES
    want = {"total": rep["total"], "automation_rate": rep["automation_rate"]}
    for o in OUTCOMES:
        want[f"outcomes.{o}"] = rep["outcomes"][o]
    for key in ("by_tool", "by_category"):
        for name, row in rep[key].items():
            for k, v in row.items():
                want[f"{key}.{name}.{k}"] = v
    for r, n in rep["by_route"].items():
        want[f"by_route.{r}"] = n
    for i, b in enumerate(rep["budget_exhaustion"]):
        want[f"budget_exhaustion.{i}.count"] = b["count"]
    for k in ("malformed", "skipped", "input", "evaluation"):
        want[f"errors.{k}"] = rep["errors"][k]
    for o, row in rep["confusion"].items():
        for v, n in row.items():
            want[f"confusion.{o}.{v}"] = n
    return want


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._k, self._v, self.tags = {}, None, None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if "data-k" in a:
            self._k, self._v = a["data-k"], a.get("data-v")

    def handle_data(self, data):
        if self._k is not None:
            self.cells[self._k] = self._v if self._v is not None else data
            self._k = None


def check_cells(cells, rep):
    want = expected_cells(rep)
    assert set(want) <= set(cells), sorted(set(want) - set(cells))
    for k, v in want.items():
        if isinstance(v, float):
            assert float(cells[k]) == pytest.approx(v), k
        else:
            assert int(cells[k].replace(",", "")) == v, k


def test_three_formats_agree(reports):
    rep = json.loads(reports["json"].read_text())
    assert rep["total"] == 4000 and sum(rep["outcomes"].values()) == 4000
    assert {"total", "outcomes", "by_tool", "by_category", "by_route", "errors", "risk", "friction",
            "confusion", "approvals_per_route_per_day", "escalations", "asks", "budget_exhaustion",
            "automation_rate"} <= set(rep)
    assert rep["human_verdicts"] > 0 and rep["risk"] and rep["friction"]
    text = reports["text"].read_text()
    for o, n in rep["outcomes"].items():
        assert f"{n:,}" in text
    for tool, row in rep["by_tool"].items():
        assert tool in text and f"{row['total']:,}" in text
    assert f"{rep['automation_rate'] * 100:.1f}%" in text
    page = reports["html"].read_text()
    parser = _Cells()
    parser.feed(page)
    check_cells(parser.cells, rep)
    assert parser.tags.count("svg") == 3
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_plain_text_without_rich(reports, monkeypatch):
    from cli import sim_report
    monkeypatch.setitem(sys.modules, "rich", None)
    rep = json.loads(reports["json"].read_text())
    text = sim_report.text_report(rep)
    assert "Outcomes" in text and f"{rep['total']:,}" in text and "┃" not in text


def test_period_says_day_for_one_day(reports):
    from cli import sim_report
    rep = json.loads(reports["json"].read_text())
    for days, shown in ((1, "(1 day)"), (2, "(2 days)"), (0, "(0 days)")):
        rep["period"]["days"] = days
        period = [line for line in sim_report.text_report(rep).splitlines() if line.startswith("period: ")]
        assert len(period) == 1 and period[0].endswith(shown), period


def test_html_escapes_what_it_shows():
    from cli import sim_report
    bad = "<script>alert(1)</script>"
    rep = json.loads(json.dumps({
        "policy": {"name": bad, "version": None, "digest": "sha256:" + "0" * 64},
        "options": {"histories": [bad]}, "period": {"first": None, "last": None, "days": 0}, "total": 1,
        "outcomes": {"allow": 1, "require_approval": 0, "ask": 0, "escalate": 0, "deny": 0},
        "shares": {"allow": 1.0, "require_approval": 0, "ask": 0, "escalate": 0, "deny": 0},
        "automation_rate": 1.0, "executed": 1,
        "by_tool": {bad: {"allow": 1, "require_approval": 0, "ask": 0, "escalate": 0, "deny": 0, "total": 1}},
        "by_category": {}, "by_route": {bad: 1}, "approvals_per_route_per_day": {bad: {"2026-11-01": 1}},
        "timeline": {"2026-11-01": {"allow": 1, "require_approval": 0, "ask": 0, "escalate": 0, "deny": 0, "total": 1}},
        "escalations": [{"rule": bad, "message": bad, "at": bad, "count": 1, "examples": [], "to": bad}],
        "asks": [], "denials": [], "budget_exhaustion": [],
        "errors": {"malformed": 0, "skipped": 0, "input": 0, "evaluation": 0, "lines": [], "by_message": []},
        "read": {"lines": 1, "filtered": 0, "sampled_out": 0, "sorted_externally": False},
        "human_verdicts": 0, "confusion": {}, "risk": [], "friction": []}))
    page = sim_report.html_report(rep)
    assert "<script" not in page and "&lt;script&gt;" in page


def test_html_report_in_a_real_browser(reports):
    """Chromium (Debian package) driven by Playwright: the page renders, draws its charts, loads nothing
    from the network, and shows the JSON report's numbers. Set SIGNOFF_BROWSER_TESTS=1 to make a missing
    browser a failure (CI does: tests/install-browser.sh installs Chromium, the dev extra brings playwright)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    required = os.environ.get("SIGNOFF_BROWSER_TESTS") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(chromium):
        missing = "the playwright package" if sync_playwright is None else f"`{chromium}`"
        if required:
            pytest.fail(f"SIGNOFF_BROWSER_TESTS=1 but {missing} is missing: "
                        "apt-get install -y chromium && pip install playwright")
        pytest.skip(f"{missing} not installed (set SIGNOFF_BROWSER_TESTS=1 to require it)")
    rep = json.loads(reports["json"].read_text())
    url = reports["html"].resolve().as_uri()
    problems, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            cells = dict(page.eval_on_selector_all(
                "[data-k]", "els => els.map(e => [e.dataset.k, e.dataset.v !== undefined ? e.dataset.v : e.textContent])"))
            charts = page.locator("svg.chart")
            assert charts.count() == 3
            for i in range(3):
                box = charts.nth(i).bounding_box()
                assert box and box["width"] > 300 and box["height"] > 100
            assert page.locator("#chart-timeline rect").count() >= rep["period"]["days"]
            assert page.title().startswith("signoff simulate")
            page.screenshot(path=str(reports["html"].with_suffix(".png")), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
    assert requests == [url]
    check_cells(cells, rep)


def test_no_progress_bar_when_not_a_terminal(generated):
    r = CliRunner(mix_stderr=False).invoke(simulate, [str(EX / "support-ops" / "support.policy"), "--history",
                                                      str(generated), "--format", "json"]) \
        if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else \
        CliRunner().invoke(simulate, [str(EX / "support-ops" / "support.policy"), "--history", str(generated),
                                      "--format", "json"])
    assert r.exit_code == 0
    assert "simulating" not in (r.stderr if hasattr(r, "stderr") else r.output)


def test_progress_bar_draws_after_a_second():
    from cli.simulate_cmd import Progress

    class FakeHistory:
        class stats:
            @staticmethod
            def progress():
                return 50, 100

    class Tty:
        text = ""

        def write(self, s):
            Tty.text += s

        def flush(self):
            pass

    p = Progress(FakeHistory(), Tty())
    p(10)
    assert Tty.text == ""
    p.start -= 2
    p(1000)
    assert "50%" in Tty.text and "1,000 actions" in Tty.text
    p.close()


def test_filters_and_sample_through_the_cli(generated):
    pol = EX / "support-ops" / "support.policy"
    r = run(pol, "--history", generated, "--format", "json", "--filter", "tool=issue_refund",
            "--since", "2026-11-10", "--until", "2026-11-20")
    rep = json.loads(r.output)
    assert list(rep["by_tool"]) == ["issue_refund"]
    assert rep["period"]["first"] >= "2026-11-10" and rep["period"]["last"] < "2026-11-20"
    r1 = json.loads(run(pol, "--history", generated, "--format", "json", "--sample", "300", "--seed", "3").output)
    r2 = json.loads(run(pol, "--history", generated, "--format", "json", "--sample", "300", "--seed", "3").output)
    assert r1["total"] == 300 and r1["outcomes"] == r2["outcomes"]


def test_the_bundled_example_is_the_main_job():
    hist = EX / "support-ops" / "history-30d.jsonl.gz"
    r = run(EX / "support-ops" / "support.policy", "--history", hist, "--format", "json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["total"] >= 100_000 and rep["period"]["days"] == 30 and rep["errors"]["malformed"] == 0
    assert rep["human_verdicts"] > 0 and rep["risk"] and rep["friction"] and rep["budget_exhaustion"]


def test_generator_is_seeded():
    a = [json.dumps(x) for x in generate_history.generate(200, 5)]
    b = [json.dumps(x) for x in generate_history.generate(200, 5)]
    assert a == b and a != [json.dumps(x) for x in generate_history.generate(200, 6)]


# ------------------------------------------------------------------ tau-bench calls

def tau_history(domain, path):
    """tau2-bench ground-truth calls of one domain as a history: one source per domain (the README),
    requestor assistant only. The calls carry no agent, time or booking facts: each task is a tenant of
    its own (its own store), the agent is `tau-agent`, steps are a minute apart, tasks an hour apart, and
    `context` holds only what the conversation itself shows: the user confirmed (these are the expected
    calls), and for retail that the user was authenticated."""
    rows = [json.loads(x) for x in (TAU / "tau_calls.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["source"] == "tau2-bench" and r["domain"] == domain and r["requestor"] == "assistant"]
    rows.sort(key=lambda r: (int(r["task_id"]) if str(r["task_id"]).isdigit() else 10 ** 6, str(r["task_id"]), r["step"]))
    tasks = {}
    out = []
    for r in rows:
        k = tasks.setdefault(r["task_id"], len(tasks))
        ctx = {"user_confirmed": True}
        if domain == "retail":
            # many tasks list only their writes, not the authentication before them: the ground truth
            # is what a correct agent does once the user is authenticated
            ctx["authenticated"] = True
        t = f"2024-05-{15 + k // 24:02d}T{k % 24:02d}:{min(r['step'], 59):02d}:00Z"
        out.append({"id": f"tau2/{domain}/{r['task_id']}/{r['step']}", "timestamp": t, "tool": r["tool"],
                    "args": r["args"], "agent": {"id": "tau-agent"}, "tenant": {"id": f"task-{r['task_id']}"},
                    "context": ctx})
    return jsonl(path, out), out


needs_tau = pytest.mark.skipif(not (TAU / "tau_calls.jsonl").exists(), reason="shared/corpora/tau is not beside the repo")


@needs_tau
def test_airline_policy_on_tau_calls(tmp_path):
    hist, actions = tau_history("airline", tmp_path / "airline.jsonl")
    dec = tmp_path / "d.jsonl"
    r = run(EX / "airline" / "airline.policy", "--history", hist, "--format", "json", "--decisions", dec)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["total"] == len(actions) == 142
    assert rep["errors"]["evaluation"] == 0 and rep["errors"]["input"] == 0
    by_id = {d["id"]: d for d in map(json.loads, dec.read_text().splitlines())}
    for a in actions:
        d = by_id[a["id"]]
        if a["tool"] == "cancel_reservation":
            # without the booking facts a cancellation is never simply allowed
            assert d["outcome"] != "allow" and d["outcome"] == "ask", a
        if a["tool"] in ("get_user_details", "get_reservation_details", "search_direct_flight"):
            assert d["outcome"] == "allow"
    assert rep["by_tool"]["cancel_reservation"]["ask"] == 11
    assert rep["by_tool"]["book_reservation"]["allow"] >= 8    # the ground-truth bookings follow the rules


@needs_tau
def test_retail_policy_on_tau_calls(tmp_path):
    hist, actions = tau_history("retail", tmp_path / "retail.jsonl")
    dec = tmp_path / "d.jsonl"
    r = run(EX / "retail" / "retail.policy", "--history", hist, "--format", "json", "--decisions", dec)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["total"] == len(actions) == 550
    assert rep["errors"]["evaluation"] == 0
    decided = {d["id"]: d for d in map(json.loads, dec.read_text().splitlines())}
    for a in actions:
        d = decided[a["id"]]
        if a["tool"] == "cancel_pending_order":
            assert a["args"]["reason"] in ("no longer needed", "ordered by mistake") and d["outcome"] == "allow"
        if a["tool"].startswith(("get_", "find_")):
            assert d["outcome"] == "allow"
    # the ground truth follows the written policy: nothing in it is denied but what the data shows twice
    # (an order exchanged or modified a second time in one task)
    denied = [d for d in decided.values() if d["outcome"] == "deny"]
    assert all(r["rule"] == "check once_per_order" for d in denied for r in d["reasons"]
               if r["outcome"] == "deny"), denied[:3]
    assert rep["outcomes"]["allow"] > 500


def test_fast_path_decides_as_policy_decide(tmp_path):
    """The replay decides checked records without running check_action again: the decisions must be
    exactly Policy.decide's, for ordinary actions and for odd shapes alike."""
    from engine.decide.ledger import MemoryLedger
    from engine.replay.simulate import Simulation
    pol = load_policy(str(EX / "support-ops" / "support.policy"))
    acts = list(generate_history.generate(1500, 9))
    acts += [{"tool": ""}, {"tool": 3}, {"tool": "issue_refund", "args": [1]}, {"tool": "issue_refund", "confidence": True},
             {"tool": "issue_refund", "confidence": "0.9"}, {"tool": "lookup_order", "tenant": "acme"},
             {"tool": "send_email", "args": {"to": "a@acme.com"}, "timestamp": "2026-11-01"},
             {"tool": "send_email", "args": {"to": "a@acme.com"}, "timestamp": "2026-11-01t10:00:00z"},
             {"tool": "send_email", "args": {"to": "a@acme.com"}, "timestamp": "2026-11-01T10:00:60Z"},
             {"tool": "issue_refund", "args": {"amount": 18446744073709551616, "invoice_id": "I"}},
             {"tool": "delete_record", "tenant": {"plan": "business"}}, {"id": ["x"], "tool": "lookup_order"}]
    hist = jsonl(tmp_path / "h.jsonl", acts)
    recs = list(History([str(hist)]).records())
    assert sum(r[6] for r in recs) > 1400
    sim = Simulation(pol)
    got = []
    for rec in recs:
        sim.ledger = MemoryLedger()  # each action alone, as Policy.decide below sees it
        sim.run((rec,), on_decision=lambda d, src, line: got.append(d))
    assert len(got) == len(recs)
    from datetime import datetime, timezone
    for (t, _s, a, _src, _line, problem, checked), d in zip(recs, got):
        want = pol.decide(a, MemoryLedger(), datetime.fromtimestamp(t, timezone.utc)) if problem is None \
            else pol.input_error(a, problem)
        assert d.to_dict() == want.to_dict(), a


# ---------------------------------------------------------------- the reports (issue 12, "Reports")

def test_text_report_prints_every_section_with_none_when_empty(tmp_path, budget_policy):
    from engine.report.simulate import SECTIONS
    hist = jsonl(tmp_path / "h.jsonl", [pay(i, i, 10) for i in range(3)])   # all allowed: most tables empty
    out = tmp_path / "r.txt"
    r = run(budget_policy, "--history", hist, "--out", out)
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    for s in SECTIONS:
        i = lines.index(s.title)
        assert lines[i + 1] == s.explain
    # a section without rows says so instead of disappearing
    for title in ("Escalations", "Asks", "Denials", "Budget exhaustion", "Risk: the policy would allow, a human "
                  "rejected or edited", "Friction: approvals humans always granted unchanged"):
        i = lines.index(title)
        assert lines[i + 2] == "none", (title, lines[i:i + 4])


def test_text_labels_are_the_outcome_names(reports):
    text = reports["text"].read_text()
    headers = [line for line in text.splitlines() if line.startswith(("tool ", "category ", "day ", "policy \\"))]
    assert len(headers) >= 4
    for h in headers:
        assert "┃ approval " not in h and "approval" not in h.replace("require_approval", "")


def test_per_reason_counts_say_how_they_reconcile(reports):
    rep = json.loads(reports["json"].read_text())
    text = reports["text"].read_text()
    for key, outcome in (("escalations", "escalate"), ("asks", "ask"), ("denials", "deny")):
        total = sum(i["count"] for i in rep[key])
        assert f"counted per reason: {total:,} reasons over {rep['outcomes'][outcome]:,} actions decided {outcome}" \
            in text
    for b in rep["budget_exhaustion"]:
        assert 0 <= b["decided"] <= b["count"]
    assert "decided by it" in text


def test_text_written_to_a_file_is_not_wrapped(reports):
    """A file gets whole lines: a long row (the Risk table's examples with their arguments) is longer than
    any terminal and no `support.policy:LINE:COL` location is broken across lines."""
    text = reports["text"].read_text()
    assert max(len(line) for line in text.splitlines()) > 200
    import re
    for line in text.splitlines():
        if "support.policy:" in line:
            assert re.search(r"support\.policy:\d+:\d+", line), line
    assert not any(line.rstrip().endswith("support.policy:") for line in text.splitlines())


@pytest.mark.parametrize("fmt", ["text", "json", "html"])
def test_out_says_where_it_wrote_for_every_format(tmp_path, budget_policy, fmt):
    hist = jsonl(tmp_path / "h.jsonl", [pay(1, 1, 10)])
    target = tmp_path / f"r.{fmt}"
    r = run(budget_policy, "--history", hist, "--format", fmt, "--out", target)
    assert r.exit_code == 0 and target.exists()
    assert f"report written to {target}" in r.output


def test_html_report_leads_with_the_policy_and_the_risk(reports):
    from engine.report.simulate import SECTIONS
    rep = json.loads(reports["json"].read_text())
    page = reports["html"].read_text()
    first_section = page.index("<section")
    assert rep["policy"]["digest"] in page[:first_section] and rep["policy"]["version"] in page[:first_section]
    assert page.index('<section id="risk">') == first_section
    ids = [s.key for s in SECTIONS]
    assert [page.index(f'<section id="{k}">') for k in ids] == sorted(page.index(f'<section id="{k}">') for k in ids)
    assert page.count('<p class="explain">') == len(SECTIONS)
    worst = rep["risk"][0]
    n, of = worst["rejected"] + worst["edited"], worst["allowed_with_verdict"]
    assert f"{n:,} of {of:,} = {n / of * 100:.1f}%" in page
    # the examples come with their arguments (escaped JSON)
    ex = worst["examples"][0]
    assert ex["args"] and html.escape(json.dumps(ex["args"], sort_keys=True, separators=(",", ":"))[:40]) in page
    # the outcome × verdict cells where policy and humans disagree are highlighted, and only those
    cells = re.findall(r'<td data-k="confusion\.([a-z_]+)\.([a-z()]+)" class="([^"]*)"', page)
    marked = {(o, v) for o, v, cls in cells if "disagree" in cls}
    assert ("allow", "rejected") in marked and marked <= {("allow", "rejected"), ("allow", "edited"),
                                                          ("deny", "approved"), ("deny", "edited")}
    # per-day and busiest-day load per route
    assert "per day" in page and "busiest day" in page
    assert "<script" not in page


def test_html_and_text_show_the_same_sections(reports):
    from engine.report.simulate import SECTIONS
    text, page = reports["text"].read_text(), reports["html"].read_text()
    for s in SECTIONS:
        assert s.title in text and html.escape(s.title) in page
