"""The simulation report's aggregates: bounded tables that add one replayed step at a time and merge.

Every backend (the streaming one in `simulate`, and the columnar and Spark ones to come) feeds `Step`s
into a `Tally` and asks it for the report. Partitions replayed separately give the same report as one
pass once their tallies are merged in replay order (`first.merge(second)`; merging is associative).
The one limit is that of the caps: a table keeps at most `MAX_GROUPS` groups, the first seen; when a
later partition alone fills a table, what one pass would have counted under an earlier partition's
group stays in that partition's `(other)` group.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from ..decide.decision import OUTCOMES, Reason, binding_routes
from ..decide.evaluator import Policy
from ..decide.graph import BudgetNode
from ..decide.values import EvalError
from .records import Stats
from .step import StepRow

VERDICTS = ("approved", "edited", "rejected", "expired")
MAX_GROUPS = 1000        # distinct reason / key groups kept per table; the rest is counted as `(other)`
MAX_EXAMPLES = 5         # example action ids kept per group
NONE = "(none)"
OTHER = "(other)"

Counts = List[int]       # one counter per outcome, in the order of OUTCOMES
_EMPTY: Dict[str, Any] = {}   # what the aggregates read of an action that is not an object (never written)


def day_of(t: float) -> str:
    """The UTC day of an epoch time, as `YYYY-MM-DD`."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


def iso(t: float) -> str:
    """An epoch time as RFC 3339 in UTC, with milliseconds when that is all the time holds."""
    dt = datetime.fromtimestamp(t, timezone.utc)
    # milliseconds when that is all the time holds (as most logs write it), not `.576000`
    spec = "milliseconds" if dt.microsecond % 1000 == 0 else "auto"
    return dt.isoformat(timespec=spec if dt.microsecond else "seconds").replace("+00:00", "Z")


def _counts() -> Counts:
    return [0, 0, 0, 0, 0]


def _add_counts(into: Counts, c: Counts) -> None:
    for i in range(5):
        into[i] += c[i]


def _as_outcomes(c: Counts) -> Dict[str, int]:
    d = {o: c[i] for i, o in enumerate(OUTCOMES)}
    d["total"] = sum(c)
    return d


def _label(v: Any) -> str:
    return v if isinstance(v, str) and v else NONE


def _examples(into: List[Any], more: List[Any]) -> None:
    """Examples of the later partition after the earlier's, up to MAX_EXAMPLES (as one pass keeps them)."""
    room = MAX_EXAMPLES - len(into)
    if room > 0:
        into.extend(more[:room])


class Groups:
    """A capped table key → [count, example ids]: the first MAX_GROUPS keys get a group each, later ones
    share the key's `(other)` group (the last two parts of the key replaced by `(other)`)."""

    def __init__(self) -> None:
        self.table: Dict[Tuple[Any, ...], List[Any]] = {}

    def group(self, key: Tuple[Any, ...]) -> List[Any]:
        """The [count, ids] of `key`, made on first use (or the overflow group once the table is full)."""
        table = self.table
        g = table.get(key)
        if g is None:
            if len(table) >= MAX_GROUPS:
                key = key[:-2] + (OTHER, OTHER) if len(key) > 2 else (OTHER, OTHER)
                g = table.get(key)
                if g is not None:
                    return g
            g = table[key] = [0, []]
        return g

    def add(self, key: Tuple[Any, ...], aid: Any) -> None:
        """Count one action under `key`, keeping its id as an example while there is room."""
        g = self.group(key)
        g[0] += 1
        if len(g[1]) < MAX_EXAMPLES and aid is not None:
            g[1].append(aid)

    def merge(self, other: "Groups") -> None:
        """Add the groups of the partition replayed after this one, in the order it first saw them."""
        for key, (n, ids) in other.table.items():
            g = self.group(key)
            g[0] += n
            _examples(g[1], ids)

    def items(self) -> Iterator[Tuple[Tuple[Any, ...], List[Any]]]:
        """The (key, [count, ids]) pairs, in the order the keys were first seen."""
        return iter(self.table.items())


class Budgets:
    """Budget lines that bound an action: per line the count, first and last event, top keys, per day."""

    def __init__(self, budget_at: Dict[str, BudgetNode]) -> None:
        self.budget_at = budget_at
        self.lines: Dict[str, Dict[str, Any]] = {}

    def _line(self, r: Reason) -> Dict[str, Any]:
        b = self.lines.get(r.at)
        if b is None:
            b = self.lines[r.at] = {"check": self.budget_at[r.at].check, "at": r.at, "outcome": r.outcome,
                                    "advisory": bool(r.advisory), "count": 0, "decided": 0, "first": None, "last": None,
                                    "keys": {}, "days": {}}
        return b

    def add(self, r: Reason, a: Dict[str, Any], t: float, aid: Any, decided: bool) -> None:
        """One action bound by the budget line of reason `r`; `decided`: its final outcome is the line's."""
        node = self.budget_at[r.at]
        b = self._line(r)
        b["count"] += 1
        if decided:
            b["decided"] += 1
        ev = {"time": iso(t), "action_id": aid}
        if b["first"] is None:
            b["first"] = ev
        b["last"] = ev
        try:
            key = node.key_of(a)[1]
            label = ", ".join(str(v[1]) if isinstance(v, tuple) else str(v) for v in key)
        except EvalError:
            label = NONE
        keys = b["keys"]
        if label in keys or len(keys) < MAX_GROUPS:
            keys[label] = keys.get(label, 0) + 1
        day = day_of(t)
        b["days"][day] = b["days"].get(day, 0) + 1

    def merge(self, other: "Budgets") -> None:
        """Add the events of the partition replayed after this one."""
        for at, o in other.lines.items():
            b = self.lines.get(at)
            if b is None:
                b = self.lines[at] = dict(o, keys={}, days={})
                b["count"] = b["decided"] = 0
            else:
                b["first"] = b["first"] or o["first"]
                b["last"] = o["last"] or b["last"]
            b["count"] += o["count"]
            b["decided"] += o["decided"]
            keys = b["keys"]
            for label, n in o["keys"].items():
                if label in keys or len(keys) < MAX_GROUPS:
                    keys[label] = keys.get(label, 0) + n
            days = b["days"]
            for day, n in o["days"].items():
                days[day] = days.get(day, 0) + n

    def report(self) -> List[Dict[str, Any]]:
        """The `budget_exhaustion` list: most often bound first, ten top keys each."""
        out = []
        for b in sorted(self.lines.values(), key=lambda b: (-b["count"], b["at"])):
            keys = sorted(b["keys"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            out.append({"check": b["check"], "at": b["at"], "outcome": b["outcome"], "advisory": b["advisory"],
                        "count": b["count"], "decided": b["decided"], "first": b["first"], "last": b["last"],
                        "top_keys": [{"key": k, "count": n} for k, n in keys],
                        "per_day": dict(sorted(b["days"].items()))})
        return out


class Verdicts:
    """What humans did, against what the policy decides: the confusion table, risk and friction groups."""

    def __init__(self) -> None:
        self.confusion: Dict[str, Dict[str, int]] = {}
        self.verdicts = 0
        self.no_verdict = _counts()       # actions without a `human` object, by outcome
        self.risk: Dict[Tuple[str, str, str, str], Dict[str, Any]] = {}
        self.friction: Dict[Tuple[str, str, str, str], Dict[str, Any]] = {}

    def add(self, o: str, category: Optional[str], reasons: List[Reason], aid: Any, a: Dict[str, Any],
            human: Dict[str, Any]) -> None:
        """One action with a `human` object."""
        verdict = human.get("verdict")
        v = verdict if verdict in VERDICTS else NONE
        row = self.confusion.get(o)
        if row is None:
            row = self.confusion[o] = {}
        row[v] = row.get(v, 0) + 1
        if v == NONE:
            return
        self.verdicts += 1
        tool = _label(a.get("tool"))
        if o == "allow":
            by = next((r for r in reasons if r.outcome == "allow" and not r.advisory), None)
            key = (tool, category or NONE, by.rule if by else NONE, by.at if by else NONE)
            g = self.risk.get(key)
            if g is None:
                if len(self.risk) >= MAX_GROUPS:
                    return
                g = self.risk[key] = {"allowed": 0, "rejected": 0, "edited": 0, "examples": []}
            g["allowed"] += 1
            if v in ("rejected", "edited"):
                g[v] += 1
                if len(g["examples"]) < MAX_EXAMPLES:
                    g["examples"].append({"action_id": aid, "verdict": v, "by": human.get("by"),
                                          "confidence": a.get("confidence"), "args": a.get("args")})
        elif o == "require_approval":
            by = next((r for r in reasons if r.outcome == "require_approval" and not r.advisory), None)
            route = next(iter(binding_routes(reasons)), NONE)
            key = (tool, route, by.rule if by else NONE, by.at if by else NONE)
            g = self.friction.get(key)
            if g is None:
                if len(self.friction) >= MAX_GROUPS:
                    return
                g = self.friction[key] = {"approved": 0, "edited": 0, "rejected": 0, "expired": 0, "examples": [],
                                          "example_args": []}
            g[v] += 1
            if len(g["examples"]) < MAX_EXAMPLES and aid is not None:
                g["examples"].append(aid)
                g["example_args"].append(a.get("args"))

    def merge(self, other: "Verdicts") -> None:
        """Add the verdicts of the partition replayed after this one."""
        for o, row in other.confusion.items():
            mine = self.confusion.setdefault(o, {})
            for v, n in row.items():
                mine[v] = mine.get(v, 0) + n
        self.verdicts += other.verdicts
        _add_counts(self.no_verdict, other.no_verdict)
        for table, theirs in ((self.risk, other.risk), (self.friction, other.friction)):
            for key, g in theirs.items():
                mine_g = table.get(key)
                if mine_g is None:
                    if len(table) >= MAX_GROUPS:
                        continue
                    mine_g = table[key] = {k: ([] if isinstance(n, list) else 0) for k, n in g.items()}
                for k, n in g.items():
                    if isinstance(n, list):
                        _examples(mine_g[k], n)
                    else:
                        mine_g[k] += n

    def report(self) -> Dict[str, Any]:
        """The `confusion`, `risk` and `friction` parts of the report."""
        risk = []
        for (tool, cat, rule, at), g in self.risk.items():
            if g["rejected"] or g["edited"]:
                risk.append({"tool": tool, "category": cat, "rule": rule, "at": at,
                             "allowed_with_verdict": g["allowed"], "rejected": g["rejected"], "edited": g["edited"],
                             "examples": g["examples"]})
        risk.sort(key=lambda r: (-r["rejected"], -r["edited"],
                                 -(r["rejected"] + r["edited"]) / max(1, r["allowed_with_verdict"]), r["tool"], r["at"]))
        friction = []
        for (tool, route, rule, at), f in self.friction.items():
            if f["approved"] and not (f["edited"] or f["rejected"] or f["expired"]):
                friction.append({"tool": tool, "route": route, "rule": rule, "at": at, "approved": f["approved"],
                                 "examples": f["examples"], "example_args": f["example_args"]})
        friction.sort(key=lambda r: (-r["approved"], r["tool"], r["at"]))
        verdict_cols = list(VERDICTS) + [NONE]
        confusion = {o: {v: self.confusion.get(o, {}).get(v, 0) for v in verdict_cols} for o in OUTCOMES}
        for i, o in enumerate(OUTCOMES):
            confusion[o][NONE] += self.no_verdict[i]
        return {"human_verdicts": self.verdicts, "confusion": confusion, "risk": risk, "friction": friction}


class Tally:
    """All the report's aggregates of one replay (or one partition of it). Memory is bounded: tables
    are per day, per tool and capped groups, whatever the history's length.

    `add(row)` takes one replayed step (a `StepRow`); `merge(other)` adds a tally of the records replayed after this
    one's (in place; `other` is left as it was); `report(stats, options)` is the JSON-ready report.
    """

    def __init__(self, policy: Policy) -> None:
        g = policy.graph
        self.meta = dict(g.policy)
        self.budget_at: Dict[str, BudgetNode] = {
            n.at: n for node in [*g.tools.values(), g.default] if node is not None
            for n in node.checks if isinstance(n, BudgetNode)}
        self.input_at = g.input_error_at
        self.n = 0
        self.executed = 0
        self.outcomes = _counts()
        self.first = float("inf")       # earliest and latest times replayed
        self.last = float("-inf")
        self.cells: Dict[Tuple[str, Optional[str], int], Counts] = {}   # (tool, category, day)
        self.tools_seen: Dict[str, None] = {}        # ordered, so merging keeps the first MAX_GROUPS tools
        self.route_days: Dict[Tuple[str, int], int] = {}    # (route, day) -> approvals; by route is its margin
        self.reasons = Groups()       # (outcome, rule, message, at, target) of ask/escalate/deny reasons
        self.errors = Groups()        # (message, at) of error reasons
        self.input_errors = 0
        self.eval_errors = 0
        self.budgets = Budgets(self.budget_at)
        self.humans = Verdicts()

    def add(self, s: StepRow) -> None:
        """Count one replayed step."""
        self.add_all((s,))

    def add_all(self, steps: Iterable[StepRow]) -> None:
        """Count replayed steps, in replay order. The common parts inline, on locals: this runs once per
        action of the history."""
        outcomes, cells, route_days, budget_at = self.outcomes, self.cells, self.route_days, self.budget_at
        humans = self.humans
        no_verdict = humans.no_verdict
        first, last = self.first, self.last
        n = executed_n = 0
        for s in steps:
            t, outcome, k, category, reasons, aid, action, tool, human, problem, executed, _ = s
            n += 1
            if executed:
                executed_n += 1
            outcomes[k] += 1
            if t < first:
                first = t
            if t > last:
                last = t
            day = int(t // 86400)
            c = cells.get((tool, category, day))  # type: ignore[arg-type]  # a None tool is looked up, then filed as `(none)`
            if c is None:
                c = self._cell(tool, category, day)
            c[k] += 1
            if k == 1:
                r = reasons[0]
                for name in ((r.route["name"],) if len(reasons) == 1 and r.route is not None
                             else binding_routes(reasons)):
                    rd = (name, day)
                    route_days[rd] = route_days.get(rd, 0) + 1
            a = action if action.__class__ is dict else _EMPTY
            # errors, budget events, and the ask/escalate/deny reasons: an allow or an approval with one
            # reason that is not a budget line has none of them
            if k > 1 or len(reasons) > 1 or (k and reasons[0].at in budget_at):
                self._reasons(outcome, category, reasons, aid, a, t, problem)
            if human.__class__ is dict:
                humans.add(outcome, category, reasons, aid, a, human)
            else:
                no_verdict[k] += 1
        self.n += n
        self.executed += executed_n
        self.first, self.last = first, last

    def _cell(self, tool: Optional[str], category: Optional[str], day: int) -> Counts:
        """The (tool, category, day) counters, made on first use; odd or too many tools are grouped.
        One table whose margins are the per-tool, per-category and per-day tables of the report."""
        name = self._tool_key(tool)
        key = (name, category, day)
        c = self.cells.get(key)
        if c is None:
            c = self.cells[key] = _counts()
        return c

    def _tool_key(self, tool: Optional[str]) -> str:
        if tool.__class__ is not str or not tool:
            return NONE
        assert tool is not None
        if tool in self.tools_seen:
            return tool
        if len(self.tools_seen) >= MAX_GROUPS:
            return OTHER
        self.tools_seen[tool] = None
        return tool

    def _reasons(self, o: str, category: Optional[str], reasons: List[Reason], aid: Any, a: Dict[str, Any],
                 t: float, problem: Optional[str]) -> None:
        had_error = False
        budget_at = self.budget_at
        for r in reasons:
            if r.rule == "error":
                had_error = True
                self.errors.add((r.message, r.at), aid)
                continue
            if r.at in budget_at and r.source == "check":
                self.budgets.add(r, a, t, aid, not r.advisory and r.outcome == o)
            if not r.advisory and r.outcome == o and o in ("ask", "escalate", "deny"):
                self.reasons.add((o, r.rule, r.message, r.at, r.target), aid)
        if had_error:
            if problem is not None or (category is None and len(reasons) == 1 and reasons[0].at == self.input_at
                                       and reasons[0].rule == "error"):
                self.input_errors += 1
            else:
                self.eval_errors += 1

    def merge(self, other: "Tally") -> "Tally":
        """Add `other`, the tally of the records replayed right after this one's; returns self.

        The merged tally reports what one pass over both partitions would have (see the module's
        docstring for the caps). `other` is not changed, and nothing of it is shared."""
        self.n += other.n
        self.executed += other.executed
        _add_counts(self.outcomes, other.outcomes)
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        for (tool, category, day), c in other.cells.items():
            key = (tool if tool in (NONE, OTHER) else self._tool_key(tool), category, day)
            mine = self.cells.get(key)
            if mine is None:
                mine = self.cells[key] = _counts()
            _add_counts(mine, c)
        for rd, n in other.route_days.items():
            self.route_days[rd] = self.route_days.get(rd, 0) + n
        self.reasons.merge(other.reasons)
        self.errors.merge(other.errors)
        self.input_errors += other.input_errors
        self.eval_errors += other.eval_errors
        self.budgets.merge(other.budgets)
        self.humans.merge(other.humans)
        return self

    def _margins(self) -> Tuple[Dict[str, Counts], Dict[str, Counts], Dict[int, Counts]]:
        by_tool: Dict[str, Counts] = {}
        by_cat: Dict[str, Counts] = {}
        days: Dict[int, Counts] = {}
        for (tool, cat, day), c in self.cells.items():
            for table, k in ((by_tool, tool), (by_cat, cat if cat is not None else NONE)):
                row = table.get(k)
                if row is None:
                    row = table[k] = _counts()
                _add_counts(row, c)
            drow = days.get(day)
            if drow is None:
                drow = days[day] = _counts()
            _add_counts(drow, c)
        return by_tool, by_cat, days

    def report(self, stats: Optional[Stats] = None, options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The report of everything counted: a JSON-ready dict (docs/simulate.md describes its fields)."""
        total = self.n
        by_tool, by_category, days = self._margins()
        outcomes = {o: self.outcomes[i] for i, o in enumerate(OUTCOMES)}

        def share(x: int) -> float:
            return round(x / total, 6) if total else 0.0

        def table(d: Dict[str, Counts]) -> Dict[str, Dict[str, int]]:
            return {k: _as_outcomes(v) for k, v in sorted(d.items(), key=lambda kv: (-sum(kv[1]), kv[0]))}

        groups = sorted(self.reasons.items(), key=lambda kv: (-kv[1][0], kv[0][1], kv[0][3]))

        def reason_list(outcome: str, target_key: str) -> List[Dict[str, Any]]:
            out = []
            for (o, rule, message, at, target), (n, ids) in groups:
                if o != outcome:
                    continue
                item = {"rule": rule, "message": message, "at": at, "count": n, "examples": ids}
                if target_key:
                    item[target_key] = target
                out.append(item)
            return out

        errs = sorted(self.errors.items(), key=lambda kv: (-kv[1][0], kv[0]))
        st = stats.to_dict() if stats is not None else Stats().to_dict()
        timeline = {day_of(d * 86400): _as_outcomes(c) for d, c in sorted(days.items())}
        per_route_day: Dict[str, Dict[str, int]] = {}
        by_route: Dict[str, int] = {}
        for (r, d), n in sorted(self.route_days.items()):
            per_route_day.setdefault(r, {})[day_of(d * 86400)] = n
            by_route[r] = by_route.get(r, 0) + n
        humans = self.humans.report()
        return {
            "policy": dict(self.meta),
            "options": dict(options or {}),
            "period": {"first": iso(self.first) if self.n else None,
                       "last": iso(self.last) if self.n else None, "days": len(days)},
            "total": total,
            "outcomes": outcomes,
            "shares": {o: share(n) for o, n in outcomes.items()},
            "automation_rate": share(outcomes["allow"]),
            "executed": self.executed,
            "by_tool": table(by_tool),
            "by_category": table(by_category),
            "by_route": dict(sorted(by_route.items(), key=lambda kv: (-kv[1], kv[0]))),
            "approvals_per_route_per_day": per_route_day,
            "timeline": timeline,
            "escalations": reason_list("escalate", "to"),
            "asks": reason_list("ask", "question"),
            "denials": reason_list("deny", ""),
            "budget_exhaustion": self.budgets.report(),
            "errors": {"malformed": st["malformed"], "skipped": st["skipped"],
                       "input": self.input_errors, "evaluation": self.eval_errors,
                       "lines": st["examples"],
                       "by_message": [{"message": m, "at": at, "count": n, "examples": ids}
                                      for (m, at), (n, ids) in errs]},
            "read": {"lines": st["lines"], "filtered": st["filtered"], "sampled_out": st["sampled_out"],
                     "sorted_externally": bool(stats.sorted_externally) if stats is not None else False},
            **humans,
        }
