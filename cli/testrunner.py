"""Run policy test files (spec §5): each case from an empty ledger plus its own history."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from engine import EPOCH, OUTCOMES, MemoryLedger, PatchError, Policy, json_value, parse_timestamp
from policy_lang import POLICY_SUFFIX, PolicyError, expand_paths, load

from .inputs import MAX_YAML_BYTES, InputError, RefusedInput, parse_yaml, read_policy, read_text, yaml_to_json
from .output import field as esc

EXPECT_KEYS = ("outcome", "category", "route", "routes", "escalate_to", "ask", "reasons")
CASE_KEYS = ("name", "action", "expect", "history")


@dataclass
class CaseResult:
    """One test case's result: passed or not, and on failure what was expected and what was decided."""
    name: str
    passed: bool
    message: str = ""
    expected: Any = None
    got: Any = None


@dataclass
class FileResult:
    """One test file's results: its cases, a file-level error, and the rule lines its cases fired (coverage)."""
    file: str
    policy: Optional[str] = None
    error: Optional[str] = None
    unreadable: bool = False    # the test file, or the policy it names, cannot be read (exit 2)
    cases: List[CaseResult] = field(default_factory=list)
    rules: Dict[str, str] = field(default_factory=dict)     # at -> rule label, every rule line of the policy
    fired: Set[str] = field(default_factory=set)            # at of rule lines some case fired

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(c.passed for c in self.cases)

    @property
    def failed(self) -> int:
        """How many cases failed, plus one when the file itself could not be run."""
        return sum(not c.passed for c in self.cases) + (1 if self.error else 0)


def discover(paths: List[str]) -> List[str]:
    """The `*.test.yaml` files the paths name: files as given, folders searched recursively."""
    return expand_paths(paths, "*.test.yaml")


def _time_of(action: Any) -> Optional[datetime]:
    if isinstance(action, dict) and action.get("timestamp") is not None:
        try:
            return parse_timestamp(action["timestamp"])
        except (ValueError, OverflowError):
            return None
    return None


def _check_expect(expect: Any, d) -> Tuple[bool, str]:
    got = d.to_dict()
    if isinstance(expect, str):
        expect = {"outcome": expect}
    problems = []
    for key, want in expect.items():
        if key == "route":
            have = got["route"]["name"] if got["route"] else None
        elif key == "reasons":
            rules = [r["rule"] for r in got["reasons"]]
            missing = [w for w in want if w not in rules]
            if missing:
                problems.append(f"expected reasons to include {', '.join(f'`{m}`' for m in missing)}, "
                                f"got {', '.join(f'`{r}`' for r in rules) or 'none'}")
            continue
        else:
            have = got[key]
        if have != want:
            problems.append(f"expected {key} `{_show(want)}`, got `{_show(have)}`")
    return (not problems), "; ".join(problems)


def decision_lines(got: Any) -> List[str]:
    """The decision a failing case actually got, for the text report: outcome, category, route(s),
    escalation, questions, and each reason as `rule (FILE:LINE:COL): message`."""
    if not isinstance(got, dict):
        return []
    lines = [f"outcome:  {esc(got['outcome'])}", f"category: {esc(_show(got['category']))}"]
    routes = got.get("routes") or []
    if len(routes) > 1:
        lines.append(f"routes:   {', '.join(esc(r) for r in routes)}")
    elif got.get("route"):
        lines.append(f"route:    {esc(got['route']['name'])}")
    if got.get("escalate_to"):
        lines.append(f"escalate: {esc(got['escalate_to'])}")
    for q in got.get("ask") or []:
        lines.append(f"ask:      {esc(q)}")
    reasons = got.get("reasons") or []
    lines.append("reasons:" if reasons else "reasons:  none")
    for r in reasons:
        where = esc(r["at"]) + (", advisory" if r.get("advisory") else "")
        lines.append(f"  {esc(r['rule'])} ({where}): {esc(r['message'])}")
    return lines


def _show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def _validate_expect(expect: Any) -> Optional[str]:
    if isinstance(expect, str):
        return None if expect in OUTCOMES else f"unknown outcome `{expect}` in expect"
    if not isinstance(expect, dict):
        return "`expect` must be an outcome or a mapping"
    for k in expect:
        if k not in EXPECT_KEYS:
            return f"unknown key `{k}` in expect (keys: {', '.join(EXPECT_KEYS)})"
    if "outcome" in expect and expect["outcome"] not in OUTCOMES:
        return f"unknown outcome `{expect['outcome']}` in expect"
    if "reasons" in expect and not isinstance(expect["reasons"], list):
        return "`expect.reasons` must be a list of rule names"
    return None


def rule_lines(policy: Policy) -> Dict[str, str]:
    """Every line that can fire, by position: risk lines, category lines, check lines, `unknown tools`."""
    p = policy.program
    rules: Dict[str, str] = {}
    for t in p.tools.values():
        for r in t.risks:
            rules[r.span.at()] = f"risk {r.level} (tool {t.name})"
    for c in p.categories.values():
        for line in c.lines:
            rules[line.span.at()] = f"category {c.level}"
    for c in p.checks.values():
        for line in c.lines:
            rules[line.span.at()] = f"check {c.name}"
    if p.unknown is not None:
        rules[p.unknown.span.at()] = "unknown tools"
    return rules


def run_file(path: str, coverage: bool = False) -> FileResult:
    """Run one test file: load its policy, then decide each case from an empty ledger plus its history."""
    res = FileResult(path)
    try:
        text = read_text(path, MAX_YAML_BYTES)
    except InputError as e:
        res.error, res.unreadable = f"{esc(e.where)}: {esc(e.message)}", True
        return res
    try:
        data = parse_yaml(text, path)
    except InputError as e:
        # an alias is refused before anything is built from it: unreadable input, like a file too large
        res.error, res.unreadable = f"{esc(e.where)}: {esc(e.message)}", isinstance(e, RefusedInput)
        return res
    if not isinstance(data, dict) or "policy" not in data:
        res.error = f"{esc(path)}: a test file needs a `policy:` key and a list of `cases:`"
        return res
    problem = _not_json(data, "$", skip=("cases",))
    if problem:
        res.error = f"{path}: {problem}"
        return res
    policy_path = str(Path(path).parent / str(data["policy"]))
    res.policy = policy_path
    if not (policy_path.endswith(POLICY_SUFFIX) and os.path.realpath(policy_path).endswith(POLICY_SUFFIX)):
        # a test file in a pull request must not make CI read, and quote, a file that is not a policy
        res.error, res.unreadable = (f"{path}: `policy:` names `{data['policy']}`, which is not a "
                                     f"`{POLICY_SUFFIX}` file"), True
        return res
    expect_error = data.get("expect_load_error")
    try:
        policy_text = read_policy(policy_path)
    except InputError as e:
        # as for every command, a policy that cannot be read is unreadable input, not a load error
        res.error, res.unreadable = f"cannot read policy `{esc(e.where)}`: {esc(e.message)}", True
        return res
    try:
        program = load(policy_path, policy_text)
    except PolicyError as e:
        if expect_error:
            codes = [expect_error] if isinstance(expect_error, str) else (
                expect_error if isinstance(expect_error, list) else [])
            missing = [c for c in codes if c not in e.codes]
            res.cases.append(CaseResult("policy fails to load", not missing,
                                        f"expected error codes {missing}, got {e.codes}" if missing else ""))
        else:
            res.error = f"policy `{esc(data['policy'])}` has errors:\n{e}"   # diagnostics escape themselves
        return res
    if expect_error:
        res.cases.append(CaseResult("policy fails to load", False, "expected a load error, the policy loaded"))
        return res
    policy = Policy(program)
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        res.error = f"{esc(path)}: `cases` must be a non-empty list"
        return res
    if coverage:
        res.rules = rule_lines(policy)
    for i, case in enumerate(cases):
        res.cases.append(_run_case(policy, program, case, i, res, coverage))
    return res


def _not_json(data: dict, where: str, skip: Tuple[str, ...] = ()) -> Optional[str]:
    """Why a test file's own values (names, expectations; not the actions, which the engine judges)
    cannot be reported as JSON and text — NaN, a lone surrogate, a huge integer, a key that is not a
    string — or None. Every report quotes these values, so they are refused up front."""
    for k, v in data.items():
        if k in skip:
            continue
        try:
            json_value({k: yaml_to_json(v)}, where)
        except PatchError as e:
            return f"{e.args[0]} (test files hold JSON values)"
        except (ValueError, RecursionError):
            return f"`{where}` holds a value that is not JSON"
    return None


def _run_case(policy: Policy, program, case: Any, i: int, res: FileResult, coverage: bool) -> CaseResult:
    if not isinstance(case, dict):
        return CaseResult(f"case {i + 1}", False, "a case must be a mapping")
    problem = _not_json(case, f"cases[{i}]", skip=("action", "history"))
    if problem:
        return CaseResult(f"case {i + 1}", False, problem)
    name = str(case.get("name", f"case {i + 1}"))
    unknown = [k for k in case if k not in CASE_KEYS]
    if unknown:
        return CaseResult(name, False, f"unknown key `{unknown[0]}` in case (keys: {', '.join(CASE_KEYS)})")
    if "action" not in case or "expect" not in case:
        return CaseResult(name, False, "a case needs `action` and `expect`")
    problem = _validate_expect(case["expect"])
    if problem:
        return CaseResult(name, False, problem)
    history = yaml_to_json(case.get("history") or [])
    if not isinstance(history, list):
        return CaseResult(name, False, "`history` must be a list of actions")
    ledger = MemoryLedger()
    latest = EPOCH
    for h in history:
        when = _time_of(h) or latest
        policy.record(h, ledger, now=when)
        latest = max(latest, when)
    action = yaml_to_json(case["action"])
    decision = policy.decide(action, ledger, now=latest)
    if coverage:
        # the traced run needs its own ledger: recording again keeps cases independent
        ledger2 = MemoryLedger()
        for h in history:
            policy.record(h, ledger2, now=_time_of(h) or latest)
        _, trace = policy.explain(action, ledger2, now=latest)
        for entry in trace:
            if entry["rule"].startswith(("risk", "category")) and entry["result"] is True:
                res.fired.add(entry["at"])
        for r in decision.reasons:
            if r.rule.startswith("check") or r.rule == "unknown tools":
                res.fired.add(r.at)
    ok, message = _check_expect(case["expect"], decision)
    expected = case["expect"] if isinstance(case["expect"], dict) else {"outcome": case["expect"]}
    return CaseResult(name, ok, message, expected, decision.to_dict())
