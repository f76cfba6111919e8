"""Replay a history through a policy in time order with the budget ledger, and aggregate the report."""
from __future__ import annotations

import gc
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..decide import jsonout
from ..decide.decision import OUTCOMES, RANK, Decision, binding_routes
from ..decide.evaluator import Policy
from ..decide.graph import BudgetNode
from .history import History, OutOfOrder, Record, Stats
from ..decide.ledger import MemoryLedger
from ..decide.values import EvalError

VERDICTS = ("approved", "edited", "rejected", "expired")
MAX_GROUPS = 1000        # distinct reason / key groups kept per table; the rest is counted as `(other)`
MAX_EXAMPLES = 5         # example action ids kept per group
PRUNE_EVERY = 4096       # records between ledger prunes
PROGRESS_EVERY = 2048
NONE = "(none)"
OTHER = "(other)"


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


def _iso(t: float) -> str:
    dt = datetime.fromtimestamp(t, timezone.utc)
    # milliseconds when that is all the time holds (as most logs write it), not `.576000`
    spec = "milliseconds" if dt.microsecond % 1000 == 0 else "auto"
    return dt.isoformat(timespec=spec if dt.microsecond else "seconds").replace("+00:00", "Z")


def _counts() -> List[int]:
    return [0, 0, 0, 0, 0]


def _as_outcomes(c: List[int]) -> Dict[str, int]:
    d = {o: c[i] for i, o in enumerate(OUTCOMES)}
    d["total"] = sum(c)
    return d


def _writer(sink: "DecisionSink", then: Optional[Callable[[Decision, str, int], None]]) -> Callable:
    """`--decisions`: the spec §3 decision plus the action's `id` and where it was read."""
    def emit(d: Decision, src: str, line: int) -> None:
        out = d.to_dict()
        out["id"] = d.action_id
        out["source"] = f"{src}:{line}"
        sink.write(out)
        if then is not None:
            then(d, src, line)
    return emit


_EMPTY: Dict[str, Any] = {}


def _label(v: Any) -> str:
    return v if isinstance(v, str) and v else NONE


class DecisionSink:
    """Where `--decisions` goes: one JSON line per decision, in replay order. Restartable (the replay
    restarts once if the history needs an external sort), so stdout is written through a temp file."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.fh: Any = None
        if path is None:
            return
        if path == "-":
            self.fh = tempfile.TemporaryFile("w+b")
        else:
            self.fh = open(path, "wb")
        try:
            import orjson
            self._dumps = orjson.dumps
        except ImportError:
            self._dumps = None

    def write(self, d: Dict[str, Any]) -> None:
        if self._dumps is not None:
            try:
                self.fh.write(self._dumps(d))
                self.fh.write(b"\n")
                return
            except TypeError:  # e.g. integers past 64 bits: the standard library copes
                pass
        # strict: what cannot be written as valid JSON raises OutputError, never becomes invalid output
        self.fh.write(jsonout.dumps_bytes(d, separators=(",", ":")))
        self.fh.write(b"\n")

    def reset(self) -> None:
        if self.fh is not None:
            self.fh.seek(0)
            self.fh.truncate()

    def close(self) -> None:
        if self.fh is None:
            return
        if self.path == "-":
            self.fh.seek(0)
            shutil.copyfileobj(self.fh, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        self.fh.close()
        self.fh = None


class Simulation:
    """The replay loop and its aggregates. Memory is flat in the history length: the ledger is pruned
    to the longest budget window, and every table is bounded (per day, per tool, capped groups)."""

    def __init__(self, policy: Policy, assume_approved: bool = False, sink: Optional[DecisionSink] = None,
                 progress: Optional[Callable[[int], None]] = None):
        self.policy = policy
        self.assume_approved = assume_approved
        self.sink = sink
        self.progress = progress
        g = policy.graph
        self._budget_at: Dict[str, BudgetNode] = {
            n.at: n for node in [*g.tools.values(), g.default] for n in node.checks if isinstance(n, BudgetNode)}
        self.window = policy.max_window()
        self._input_at = g.input_error_at
        self._meta = dict(g.policy)
        self.reset()

    def reset(self) -> None:
        self.ledger = MemoryLedger()
        self.n = 0
        self.executed = 0
        self.outcomes = _counts()
        self.cells: Dict[Tuple[Any, Optional[str], int], List[int]] = {}
        self.tools_seen: set = set()
        self.route_days: Dict[Tuple[str, int], int] = {}    # (route, day) -> approvals; by route is its margin
        self.reasons: Dict[Tuple, List[Any]] = {}        # (outcome, rule, message, at, target) -> [n, ids]
        self.budgets: Dict[str, Dict[str, Any]] = {}
        self.errors: Dict[Tuple[str, str], List[Any]] = {}
        self.input_errors = 0
        self.eval_errors = 0
        self.confusion: Dict[str, Dict[str, int]] = {}
        self.verdicts = 0
        self.no_verdict = _counts()
        self.risk: Dict[Tuple, Dict[str, Any]] = {}
        self.friction: Dict[Tuple, Dict[str, Any]] = {}
        self.first = float("inf")       # earliest and latest times replayed
        self.last = float("-inf")
        self._pruned = float("-inf")

    # ------------------------------------------------------------ the replay loop
    def run(self, records: Iterator[Record],
            on_decision: Optional[Callable[[Decision, str, int], None]] = None) -> None:
        """Replay records (in time order). `on_decision(decision, source, line)` sees every decision;
        without it and without a sink, no Decision object is built at all."""
        policy, ledger, sink = self.policy, self.ledger, self.sink
        decide, input_error, count = policy.decide, policy.input_error, policy.count
        outcomes, cells, no_verdict = self.outcomes, self.cells, self.no_verdict
        route_days = self.route_days
        first, last = self.first, self.last
        rank = RANK
        budget_at = self._budget_at
        assume_approved = self.assume_approved
        g = policy.graph
        nodes, default_node, meta = g.tools, g.default, self._meta
        window = self.window
        pruned = self._pruned
        n = self.n
        executed = self.executed
        progress = self.progress
        emit = on_decision if sink is None else _writer(sink, on_decision)
        for t, _seq, action, src, line, problem, checked in records:
            outcome = None
            if checked and problem is None and action.__class__ is dict:
                # Policy.decide without check_action: the reader has already proved what it checks of
                # numbers and the timestamp (read into t); the shape checks that remain are inline.
                # Anything unusual leaves outcome None and goes through Policy.decide itself.
                get = action.get
                tool = get("tool")
                c = get("confidence")
                v1, v2, v3, v4 = get("args"), get("tenant"), get("agent"), get("context")
                if tool.__class__ is str and tool \
                        and (c is None or (c.__class__ is float or c.__class__ is int) and 0 <= c <= 1) \
                        and (v1 is None or v1.__class__ is dict) and (v2 is None or v2.__class__ is dict) \
                        and (v3 is None or v3.__class__ is dict) and (v4 is None or v4.__class__ is dict):
                    node = nodes.get(tool, default_node)
                    try:
                        outcome, category, reasons = node.run(action, t, ledger)
                    except Exception:  # fail closed; Policy.decide words the error as it always does
                        outcome = None
            if outcome is None:
                tool = None
                if problem is not None:
                    d = input_error(action, problem)
                elif action.__class__ is dict and action.get("timestamp") is not None:
                    d = decide(action, ledger)
                else:
                    d = decide(action, ledger, datetime.fromtimestamp(t, timezone.utc))
                outcome, category, reasons = d.outcome, d.category, d.reasons
                aid = d.action_id
            else:
                aid = get("id")
                d = None
            human = action.get("human") if action.__class__ is dict else None
            if outcome == "allow":
                executed += 1
                count(action, t, ledger)
            elif outcome == "require_approval":
                verdict = human.get("verdict") if human.__class__ is dict else None
                if assume_approved or verdict == "approved" or verdict == "edited":
                    if verdict == "edited":
                        edited = human.get("edited_args")
                        if edited.__class__ is dict:
                            args = action.get("args")
                            action = dict(action, args={**args, **edited} if args.__class__ is dict else edited)
                    executed += 1
                    count(action, t, ledger)
            # the report's aggregates, inline: this loop runs once per action of the history
            k = rank[outcome]
            outcomes[k] += 1
            if t < first:
                first = t
            if t > last:
                last = t
            a = action if action.__class__ is dict else _EMPTY
            day = int(t // 86400)
            if tool is None:
                tool = a.get("tool")
                if tool.__class__ is not str:
                    tool = None  # not hashable, perhaps: counted as `(none)`
            c = cells.get((tool, category, day))
            if c is None:
                c = self._cell(tool, category, day)
            c[k] += 1
            if k == 1:
                r = reasons[0]
                for name in ((r.route["name"],) if len(reasons) == 1 and r.route is not None else binding_routes(reasons)):
                    rd = (name, day)
                    route_days[rd] = route_days.get(rd, 0) + 1
            # errors, budget events, and the ask/escalate/deny reasons: an allow or an approval with one
            # reason that is not a budget line has none of them
            if k > 1 or len(reasons) > 1 or (k and reasons[0].at in budget_at):
                self._reasons(outcome, category, reasons, aid, a, t, problem)
            if human.__class__ is dict:
                self._human(outcome, category, reasons, aid, a, human)
            else:
                no_verdict[k] += 1
            if emit is not None:
                if d is None:
                    d = Decision(aid, outcome, category, reasons, node.mode if node is not default_node else g.mode,
                                 meta)
                emit(d, src, line)
            n += 1
            if not n % PRUNE_EVERY and window and t - window > pruned:
                pruned = t - window
                ledger.prune(pruned)  # no later action (time >= t) looks at or before t - window
            if progress is not None and not n % PROGRESS_EVERY:
                progress(n)
        self.n = n
        self.executed = executed
        self._pruned = pruned
        self.first, self.last = first, last

    def run_batches(self, batches: Iterator[List[Record]]) -> None:
        """Replay batches with the cyclic GC paused: a replay keeps tens of thousands of records and
        ledger entries alive, which the collector would otherwise walk again and again (a third of
        the time). Replaying makes no reference cycles, but a young-generation pass every 64 batches
        frees any there are, so memory stays flat."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            for k, batch in enumerate(batches, 1):
                self.run(batch)
                if not k % 64:
                    gc.collect(1)
        finally:
            if enabled:
                gc.enable()

    # ------------------------------------------------------------ aggregates
    def _cell(self, tool: Any, category: Optional[str], day: int) -> List[int]:
        """The (tool, category, day) counters, made on first use; odd or too many tools are grouped.
        One table whose margins are the per-tool, per-category and per-day tables of the report."""
        key = (tool, category, day)
        if tool.__class__ is not str or not tool:
            key = (NONE, category, day)
        elif len(self.tools_seen) >= MAX_GROUPS and tool not in self.tools_seen:
            key = (OTHER, category, day)
        else:
            self.tools_seen.add(tool)
        c = self.cells.get(key)
        if c is None:
            c = self.cells[key] = _counts()
        return c

    def _reasons(self, o: str, category: Optional[str], reasons: List[Any], aid: Any, a: dict, t: float,
                 problem: Optional[str]) -> None:
        had_error = False
        for r in reasons:
            if r.rule == "error":
                had_error = True
                g = self._group(self.errors, (r.message, r.at))
                g[0] += 1
                if len(g[1]) < MAX_EXAMPLES and aid is not None:
                    g[1].append(aid)
                continue
            if r.at in self._budget_at and r.source == "check":
                self._budget_event(r, a, t, aid)
            if not r.advisory and r.outcome == o and o in ("ask", "escalate", "deny"):
                g = self._group(self.reasons, (o, r.rule, r.message, r.at, r.target))
                g[0] += 1
                if len(g[1]) < MAX_EXAMPLES and aid is not None:
                    g[1].append(aid)
        if had_error:
            if problem is not None or (category is None and len(reasons) == 1 and reasons[0].at == self._input_at
                                       and reasons[0].rule == "error"):
                self.input_errors += 1
            else:
                self.eval_errors += 1

    @staticmethod
    def _group(table: Dict, key: Tuple) -> List[Any]:
        g = table.get(key)
        if g is None:
            if len(table) >= MAX_GROUPS:
                key = key[:-2] + (OTHER, OTHER) if len(key) > 2 else (OTHER, OTHER)
                g = table.get(key)
                if g is not None:
                    return g
            g = table[key] = [0, []]
        return g

    def _budget_event(self, r: Any, a: dict, t: float, aid: Any) -> None:
        node = self._budget_at[r.at]
        b = self.budgets.get(r.at)
        if b is None:
            b = self.budgets[r.at] = {"check": node.check, "at": r.at, "outcome": r.outcome,
                                      "advisory": bool(r.advisory), "count": 0, "first": None, "last": None,
                                      "keys": {}, "days": {}}
        b["count"] += 1
        ev = {"time": _iso(t), "action_id": aid}
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
        day = _day(t)
        b["days"][day] = b["days"].get(day, 0) + 1

    def _human(self, o: str, category: Optional[str], reasons: List[Any], aid: Any, a: dict, human: dict) -> None:
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
                                          "confidence": a.get("confidence")})
        elif o == "require_approval":
            by = next((r for r in reasons if r.outcome == "require_approval" and not r.advisory), None)
            route = next(iter(binding_routes(reasons)), NONE)
            key = (tool, route, by.rule if by else NONE, by.at if by else NONE)
            g = self.friction.get(key)
            if g is None:
                if len(self.friction) >= MAX_GROUPS:
                    return
                g = self.friction[key] = {"approved": 0, "edited": 0, "rejected": 0, "expired": 0, "examples": []}
            g[v] += 1
            if len(g["examples"]) < MAX_EXAMPLES and aid is not None:
                g["examples"].append(aid)

    # ------------------------------------------------------------ the report
    def _margins(self) -> Tuple[Dict[str, List[int]], Dict[str, List[int]], Dict[int, List[int]]]:
        by_tool: Dict[str, List[int]] = {}
        by_cat: Dict[str, List[int]] = {}
        days: Dict[int, List[int]] = {}
        for (tool, cat, day), c in self.cells.items():
            for table, k in ((by_tool, tool), (by_cat, cat if cat is not None else NONE), (days, day)):
                row = table.get(k)
                if row is None:
                    row = table[k] = _counts()
                for i in range(5):
                    row[i] += c[i]
        return by_tool, by_cat, days

    def report(self, stats: Optional[Stats] = None, options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        total = self.n
        by_tool, by_category, days = self._margins()
        outcomes = {o: self.outcomes[i] for i, o in enumerate(OUTCOMES)}
        share = (lambda x: round(x / total, 6)) if total else (lambda x: 0.0)

        def table(d: Dict[str, List[int]]) -> Dict[str, Dict[str, int]]:
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
        budgets = []
        for b in sorted(self.budgets.values(), key=lambda b: (-b["count"], b["at"])):
            keys = sorted(b["keys"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            budgets.append({"check": b["check"], "at": b["at"], "outcome": b["outcome"], "advisory": b["advisory"],
                            "count": b["count"], "first": b["first"], "last": b["last"],
                            "top_keys": [{"key": k, "count": n} for k, n in keys],
                            "per_day": dict(sorted(b["days"].items()))})
        risk = []
        for (tool, cat, rule, at), g in self.risk.items():
            if g["rejected"] or g["edited"]:
                risk.append({"tool": tool, "category": cat, "rule": rule, "at": at,
                             "allowed_with_verdict": g["allowed"], "rejected": g["rejected"], "edited": g["edited"],
                             "examples": g["examples"]})
        risk.sort(key=lambda r: (-r["rejected"], -r["edited"], -(r["rejected"] + r["edited"]) / max(1, r["allowed_with_verdict"]),
                                 r["tool"], r["at"]))
        friction = []
        for (tool, route, rule, at), g in self.friction.items():
            if g["approved"] and not (g["edited"] or g["rejected"] or g["expired"]):
                friction.append({"tool": tool, "route": route, "rule": rule, "at": at, "approved": g["approved"],
                                 "examples": g["examples"]})
        friction.sort(key=lambda r: (-r["approved"], r["tool"], r["at"]))
        verdict_cols = list(VERDICTS) + [NONE]
        confusion = {o: {v: self.confusion.get(o, {}).get(v, 0) for v in verdict_cols} for o in OUTCOMES}
        for i, o in enumerate(OUTCOMES):
            confusion[o][NONE] += self.no_verdict[i]
        timeline = {_day(d * 86400): _as_outcomes(c) for d, c in sorted(days.items())}
        per_route_day: Dict[str, Dict[str, int]] = {}
        by_route: Dict[str, int] = {}
        for (r, d), n in sorted(self.route_days.items()):
            per_route_day.setdefault(r, {})[_day(d * 86400)] = n
            by_route[r] = by_route.get(r, 0) + n
        return {
            "policy": dict(self.policy.graph.policy),
            "options": dict(options or {}),
            "period": {"first": _iso(self.first) if self.n else None,
                       "last": _iso(self.last) if self.n else None, "days": len(days)},
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
            "budget_exhaustion": budgets,
            "errors": {"malformed": st["malformed"], "skipped": st["skipped"],
                       "input": self.input_errors, "evaluation": self.eval_errors,
                       "lines": st["examples"],
                       "by_message": [{"message": m, "at": at, "count": n, "examples": ids}
                                      for (m, at), (n, ids) in errs]},
            "read": {"lines": st["lines"], "filtered": st["filtered"], "sampled_out": st["sampled_out"],
                     "sorted_externally": bool(stats.sorted_externally) if stats is not None else False},
            "human_verdicts": self.verdicts,
            "confusion": confusion,
            "risk": risk,
            "friction": friction,
        }


def simulate(policy: Policy, history: History, assume_approved: bool = False, decisions: Optional[str] = None,
             progress: Optional[Callable[[int], None]] = None, external_sort: bool = False) -> Dict[str, Any]:
    """Replay `history` through `policy` and return the report (a JSON-ready dict).

    Files stream through a bounded reorder window. If one turns out to be out of order beyond it, the
    replay starts over with an external sort (bounded memory, temporary files) and the decisions file
    is rewritten, so nothing is ever replayed out of order. stdin cannot be read twice: an unsorted
    stdin fails with a message naming the line (use `external_sort=True`, which sorts up front).
    """
    sink = DecisionSink(decisions)
    sim = Simulation(policy, assume_approved, sink if decisions is not None else None, progress)
    options = {"assume_approved": assume_approved, "on_error": history.on_error, "sample": history.sample,
               "seed": history.seed if history.sample is not None else None,
               "since": _iso(history.since) if history.since is not None else None,
               "until": _iso(history.until) if history.until is not None else None,
               "filters": history.filters or {}, "histories": [("<stdin>" if p == "-" else p) for p in history.paths]}
    try:
        try:
            sim.run_batches(history.batches(external=external_sort))
        except OutOfOrder as e:
            if history.has_stdin:
                from .history import HistoryError
                raise HistoryError(e.where, f"history is not in timestamp order (an action at {_iso(e.t)} comes "
                                   f"after one at {_iso(e.last)}, beyond the reorder window of "
                                   f"{history.window} actions); stdin is read once: sort it first, "
                                   "or pass --external-sort") from None
            sim.reset()
            sink.reset()
            sim.run_batches(history.batches(external=True))
    finally:
        sink.close()
    return sim.report(history.stats, options)
