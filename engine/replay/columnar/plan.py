"""Classes of actions: which rows are keyed into classes, one representative each decided by the row
engine's step, the rest handed to it; then the replay counted into the row engine's own Tally."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Set, Tuple

from ...decide.evaluator import Policy
from ...decide.graph import BudgetNode, ToolNode
from ...decide.ledger import MemoryLedger
from ..aggregates import MAX_EXAMPLES, Budgets, Groups, Tally, Verdicts
from ..simulate import DecisionSink
from ..step import StepRow, stepper
from .base import EXACT, Unsupported, modules
from .budgets import budget_proven
from .keys import PRESENT, Uses, dense, firsts, node_uses
from .table import Table

class _Effect:
    """What one step of a class adds to a Tally's groups and error counters (Tally.add_all on an empty
    tally, without an id), to be added for many steps at once."""

    def __init__(self, reasons: List[Tuple[Any, int]], errors: List[Tuple[Any, int]], input_errors: int,
                 eval_errors: int):
        self.reasons, self.errors, self.input_errors, self.eval_errors = reasons, errors, input_errors, eval_errors

    def add(self, tally: Tally, times: int) -> None:
        """Add `times` steps of the class, all after its first ones (so each group exists, or is the
        `(other)` group it overflowed into, and holds all the examples it will)."""
        for key, n in self.reasons:
            tally.reasons.group(key)[0] += n * times
        for key, n in self.errors:
            tally.errors.group(key)[0] += n * times
        tally.input_errors += self.input_errors * times
        tally.eval_errors += self.eval_errors * times


def _effect(scratch: Tally, c: "ClassStep") -> Optional[_Effect]:
    """A class's step as counts to add, or None when its steps must each go through Tally.add_all (a
    budget event keeps its last time, a verdict its examples). `scratch`: a Tally whose groups, budget
    events, verdicts and error counters are emptied here first."""
    scratch.reasons, scratch.errors = Groups(), Groups()
    scratch.budgets, scratch.humans = Budgets(scratch.budget_at), Verdicts()
    scratch.input_errors = scratch.eval_errors = 0
    scratch.add_all([(0.0, c.outcome, c.rank, c.category, c.reasons, None, {}, c.tool, None, None, c.executed,
                      None)])
    if scratch.budgets.lines or scratch.humans.verdicts:
        return None
    return _Effect([(k, g[0]) for k, g in scratch.reasons.items()], [(k, g[0]) for k, g in scratch.errors.items()],
                   scratch.input_errors, scratch.eval_errors)


def _group_counts(np: Any, keys: Any, size: int) -> List[Tuple[int, int]]:
    """The distinct values of `keys` (each below `size`) with their counts, in increasing order."""
    if size <= 1 << 22:
        counts = np.bincount(keys, minlength=size)
        present = np.nonzero(counts)[0]
        return list(zip(present.tolist(), counts[present].tolist()))
    uniq, counts = np.unique(keys, return_counts=True)
    return list(zip(uniq.tolist(), counts.tolist()))


class ClassStep:
    """What every action of one class becomes: the representative's step, and how the report counts it."""
    __slots__ = ("outcome", "rank", "category", "reasons", "tool", "simple", "decision", "_template", "routes",
                 "executed")

    def __init__(self, row: StepRow, assume_approved: bool, budget_at: Dict[str, Any]):
        self.outcome, self.rank, self.category, self.reasons = row[1], row[2], row[3], row[4]
        self.tool = row[7]
        reasons = self.reasons
        k = self.rank
        # the steps Tally.add_all only counts: an allow, or an approval with one reason not at a budget line
        self.simple = k == 0 or (k == 1 and len(reasons) == 1 and reasons[0].at not in budget_at)
        if k == 0 and len(reasons) > 1:
            self.simple = False
        d = row[11]
        self.decision = d
        self._template: Optional[Dict[str, Any]] = None
        self.routes: Tuple[str, ...] = ()
        if k == 1:
            from ...decide.decision import binding_routes
            r = reasons[0]
            self.routes = ((r.route["name"],) if len(reasons) == 1 and r.route is not None
                           else tuple(binding_routes(reasons)))
        self.executed = self.outcome == "allow" or (self.outcome == "require_approval" and assume_approved)

    def template(self) -> Dict[str, Any]:
        """The representative's decision as the decisions file writes it (made on first use)."""
        if self._template is None:
            self._template = self.decision.to_dict() if self.decision is not None else {}
        return self._template


class Plan:
    """How the columnar engine replays one history: which rows are keyed into classes, which go to the
    row engine, and why (`reasons`, for the docs and the tests)."""

    def __init__(self, policy: Policy, tb: Table, assume_approved: bool):
        np = modules()[0]
        self.policy, self.tb, self.assume_approved = policy, tb, assume_approved
        g = policy.graph
        self.notes: Dict[str, str] = {}
        n = tb.n
        valid = tb.valid(np)
        tool_col = tb.cols[("tool",)]
        tool_codes = tool_col.codes(np)
        tool_names = tool_col.values(np)
        self.cls = np.full(n, -1, dtype=np.int64)
        self.classes: List[ClassStep] = []
        has_edits = any(s[:2] == ("human", "edited_args") for s in tb.cols)
        nodes: Dict[str, ToolNode] = {}
        default = g.default
        assert default is not None
        for code, name in enumerate(tool_names, 1):
            nodes[name] = g.tools.get(name, default)
        # budget lines: proven never to bind over every row whose tool has them, or their tools go to the row engine
        lines: Dict[Tuple[str, int], BudgetNode] = {}
        line_tools: Dict[Tuple[str, int], Set[str]] = {}
        for name, node in nodes.items():
            for c in node.checks:
                if isinstance(c, BudgetNode):
                    lines[c.bucket] = c
                    line_tools.setdefault(c.bucket, set()).add(name)
        ordered_codes = tb.ordered(tool_codes)
        unproven: Set[Tuple[str, int]] = set()
        name_of = {code: name for code, name in enumerate(tool_names, 1)}
        # each tool's rows by replay position: one stable sort (a radix sort on 16-bit codes), then slices
        small = ordered_codes.astype(np.uint16) if len(tool_names) < 2 ** 16 - 1 else ordered_codes
        by_tool = np.argsort(small, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(ordered_codes, minlength=len(tool_names) + 1))))
        self.by_tool, self.bounds = by_tool, bounds
        code_of = {name: code for code, name in name_of.items()}
        for bucket, b in lines.items():
            picked = [by_tool[bounds[code_of[name]]:bounds[code_of[name] + 1]] for name in line_tools[bucket]]
            positions = picked[0] if len(picked) == 1 else np.sort(np.concatenate(picked))
            rows = tb.row_at(positions)
            if not budget_proven(np, tb, b, rows, has_edits):
                unproven.add(bucket)
                self.notes[f"check {b.check}"] = "budget not proven to stay under its limit: row engine"
        self.budget_at = Tally(policy).budget_at    # what Tally.add_all looks reasons up in
        step = stepper(policy, assume_approved, True)
        consts = g.consts
        row_tools: Set[str] = set()
        reps: List[Any] = []
        n_classes = 0
        for code, name in name_of.items():
            node = nodes[name]
            if any(isinstance(c, BudgetNode) and c.bucket in unproven for c in node.checks):
                row_tools.add(name)
                continue
            try:
                uses, _ = node_uses(node, consts)
            except Unsupported as e:
                self.notes[f"tool {name}"] = f"{e}: row engine"
                row_tools.add(name)
                continue
            rows = tb.row_at(by_tool[bounds[code]:bounds[code + 1]])
            rows = rows[valid[rows]]
            if not len(rows):
                continue
            inverse = self._key(np, uses, rows)
            reps.append(rows[firsts(np, inverse, int(inverse.max()) + 1)])
            self.cls[rows] = n_classes + inverse
            n_classes += len(reps[-1])
        # one representative per class, decided by the row engine's step (one read of their rows)
        if reps:
            all_reps = np.concatenate(reps).tolist()
            seqs, files, at_lines = tb.where(all_reps)
            for r, a, sq, f, ln in zip(all_reps, tb.actions(all_reps), seqs, files, at_lines):
                rec = (float(tb.t[r]), sq, a, tb.displays[f], ln, None, False)
                self.classes.append(ClassStep(step(rec, MemoryLedger()), assume_approved, self.budget_at))
        self.row_tools = row_tools

    def _key(self, np: Any, uses: Uses, rows: Any) -> Any:
        """One integer per row: equal for rows the tool's conditions cannot tell apart."""
        tb = self.tb
        key = np.zeros(len(rows), dtype=np.int64)
        parts: List[Any] = []
        for path in sorted(set(uses.atoms) | uses.raw, key=repr):
            cols = tb.related(path)
            if not cols:
                continue          # missing in every row
            thresholds = uses.atoms.get(path)
            if path not in uses.raw and thresholds is not None and len(cols) == 1 and cols[0].segs == path:
                c = cols[0]
                nulls = c.nulls(np)[rows]
                nums = sorted(x for x in thresholds if x != PRESENT)
                if not nums or c.kind in ("null",):
                    parts.append(nulls.astype(np.int64))
                    continue
                if c.kind in ("int", "float"):
                    v = c.numbers(np)[rows]
                    if c.kind == "int" and len(v) and int(np.abs(v).max()) >= EXACT:
                        parts.append(c.codes(np)[rows])
                        continue
                    th = np.array(nums, dtype=np.float64)
                    v = v.astype(np.float64)
                    lo = np.searchsorted(th, v, side="left")
                    hi = np.searchsorted(th, v, side="right")
                    # the place among the numbers, and whether it equals one: all an order comparison sees
                    parts.append(np.where(nulls, 0, 1 + 2 * lo + (hi > lo)))
                    continue
            for c in cols:
                parts.append(c.codes(np)[rows])
        size = 1
        for p in parts:
            p = np.asarray(p, dtype=np.int64)
            m = int(p.max()) + 1 if len(p) else 1
            if size * m >= 1 << 22:       # renumber densely before the product outgrows a lookup table
                key, size = dense(np, key, size)
            key = key * m + p
            size *= m
        return dense(np, key, size)[0]

    def run(self, sink: Optional[DecisionSink]) -> Tally:
        """Replay: the row engine's rows through its step in order, the classes counted, into one Tally."""
        np = modules()[0]
        tb, policy = self.tb, self.policy
        tally = Tally(policy)
        order = tb.order
        cls_o = tb.ordered(self.cls)
        t_o = tb.ordered(tb.t)
        n = len(order)
        if not n:
            return tally
        fallback = cls_o < 0
        simple = np.array([c.simple for c in self.classes] + [False], dtype=bool)
        scratch = Tally(policy)
        effects = [None if c.simple else _effect(scratch, c) for c in self.classes]
        bulk = np.array([e is not None for e in effects] + [False], dtype=bool)
        individual = fallback | ~(simple | bulk)[cls_o]
        ids = tb.cols.get(("id",))
        # a bulk class's first rows go through Tally.add_all (they make its groups, in replay order, and hold
        # the examples); the rest of its rows only add to counts
        bj = np.nonzero(bulk[cls_o])[0]
        rest = bj
        if len(bj):
            lead = self._leading(np, bj, cls_o[bj], ids)
            individual[bj[lead]] = True
            rest = bj[~lead]
        # the tools in order of first appearance, as Tally.add_all meets them, so its caps fall alike
        names = tb.cols[("tool",)].values(np)
        by_tool, bounds = self.by_tool, self.bounds
        # each tool's first replay position is the first of its slice of the stable sort by tool
        first = sorted((int(by_tool[bounds[code]]), code) for code in range(1, len(names) + 1)
                       if bounds[code + 1] > bounds[code])
        for _, code in first:
            tally._tool_key(names[code - 1])
        # the row engine's rows: one ledger, replay order, the shared step
        fb = np.nonzero(fallback)[0]
        steps: Dict[int, StepRow] = {}
        if len(fb):
            step = stepper(policy, self.assume_approved, sink is not None)
            rows = tb.row_at(fb)
            ledger = MemoryLedger()
            window = policy.max_window()
            pruned = -math.inf
            CH = 4096
            for s in range(0, len(rows), CH):
                part = rows[s:s + CH].tolist()
                acts = tb.actions(part)
                seqs, files, lines = tb.where(part)
                for j, r, a, sq, f, ln in zip(fb[s:s + CH].tolist(), part, acts, seqs, files, lines):
                    steps[j] = step((float(tb.t[r]), sq, a, tb.displays[f], ln, None, False), ledger)
                if window:
                    t_now = float(tb.t[part[-1]])
                    if t_now - window > pruned:
                        pruned = t_now - window
                        ledger.prune(pruned)
        # the steps that touch more than counters, in replay order, through Tally.add_all
        ind_np = np.nonzero(individual)[0]
        ind = ind_np.tolist()
        if ids is None:
            id_values: Any = {}
        elif sink is not None:
            id_values = (ids.arr if tb.in_order else ids.arr.take(order)).to_pylist()
        else:
            id_values = dict(zip(ind, ids.arr.take(tb.row_at(ind_np)).to_pylist()))
        classes = self.classes
        empty: Dict[str, Any] = {}
        batch: List[StepRow] = []
        by_id = ids is None or sink is None     # id_values a dict of the rows fed one by one, or a list of all
        for j in ind:
            got = steps.get(j)
            if got is None:
                k = classes[int(cls_o[j])]
                got = (float(t_o[j]), k.outcome, k.rank, k.category, k.reasons, id_values.get(j) if by_id
                       else id_values[j], empty, k.tool, None, None, k.executed, None)
            batch.append(got)
            if len(batch) >= 4096:
                tally.add_all(batch)
                batch = []
        if batch:
            tally.add_all(batch)
        # the rest only counts: grouped by (tool, category, outcome) and day, and by route and day
        sj = np.nonzero(~individual)[0]
        if len(sj):
            self._count(np, tally, cls_o[sj], t_o[sj])
        if len(rest):
            per_class = np.bincount(cls_o[rest], minlength=len(self.classes))
            for c in np.nonzero(per_class)[0].tolist():
                e = effects[c]
                assert e is not None
                e.add(tally, int(per_class[c]))
        if sink is not None:
            self._decisions(sink, order, cls_o, steps, id_values if ids is not None else [None] * n)
        return tally

    def _leading(self, np: Any, positions: Any, cls: Any, ids: Any) -> Any:
        """Of rows of bulk classes (replay positions, and their classes), those that must be fed one by one:
        each class's rows up to its MAX_EXAMPLES-th with an id (an example any of its groups can keep), or
        only its first row when there are no ids (it makes the groups; none keeps an example)."""
        by = np.argsort(cls.astype(np.uint16) if len(self.classes) < 2 ** 16 else cls, kind="stable")
        c = cls[by]
        starts = np.r_[0, np.nonzero(c[1:] != c[:-1])[0] + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(c)]))
        if ids is None:
            keep_sorted = np.arange(len(c)) == group_start
        else:
            has_id = ~self.tb.ordered(ids.nulls(np))[positions][by]
            seen = np.cumsum(has_id) - has_id              # ids before each row, overall
            before = seen - seen[group_start]               # ... and within its class
            keep_sorted = before < MAX_EXAMPLES
        keep = np.empty(len(c), dtype=bool)
        keep[by] = keep_sorted
        return keep

    def _count(self, np: Any, tally: Tally, cls: Any, t: Any) -> None:
        """Add steps that only count (their classes' `simple` steps) to the tally's counters, all at once:
        the same sums `Tally.add_all` makes one step at a time, and the report's tables are sorted, so the
        order the counters are made in does not show."""
        classes = self.classes
        days = np.floor_divide(t, 86400).astype(np.int64)
        d0 = int(days.min())
        span = int(days.max()) - d0 + 1
        day = days - d0
        cells: Dict[Tuple[Any, Any, int], int] = {}      # (tool, category, rank) -> index
        routes: Dict[Tuple[str, ...], int] = {}
        cell_of = np.array([cells.setdefault((c.tool, c.category, c.rank), len(cells)) for c in classes]
                           + [0], dtype=np.int64)
        route_of = np.array([routes.setdefault(c.routes, len(routes)) for c in classes] + [0], dtype=np.int64)
        executed_of = np.array([c.executed for c in classes] + [False], dtype=bool)
        outcomes, no_verdict, route_days = tally.outcomes, tally.humans.no_verdict, tally.route_days
        cell_list = list(cells)
        for g, cnt in _group_counts(np, cell_of[cls] * span + day, len(cells) * span):
            tool, category, k = cell_list[g // span]
            tally._cell(tool, category, d0 + g % span)[k] += cnt
            outcomes[k] += cnt
            no_verdict[k] += cnt
        route_list = list(routes)
        for g, cnt in _group_counts(np, route_of[cls] * span + day, len(routes) * span):
            for name in route_list[g // span]:
                key = (name, d0 + g % span)
                route_days[key] = route_days.get(key, 0) + cnt
        tally.n += len(cls)
        tally.executed += int(np.count_nonzero(executed_of[cls]))
        tally.first = min(tally.first, float(t.min()))
        tally.last = max(tally.last, float(t.max()))

    def _decisions(self, sink: DecisionSink, order: Any, cls_o: Any, steps: Dict[int, StepRow],
                   id_values: List[Any]) -> None:
        tb = self.tb
        classes = self.classes
        _, files, lines = tb.where(tb.order)
        displays = tb.displays
        write = sink.write
        for j, c in enumerate(cls_o.tolist()):
            src = f"{displays[files[j]]}:{lines[j]}"
            if c < 0:
                d = steps[j][11]
                assert d is not None
                out = d.to_dict()
                out["id"] = d.action_id
            else:
                out = dict(classes[c].template())
                out["action_id"] = id_values[j]
                out["id"] = id_values[j]
            out["source"] = src
            write(out)
