"""The search: one replay of the history through the policy that also asks each lever, moved all the way,
what it would have decided for every action that waited for humans; the choice of each lever's new
value on the earliest part of the history; one replay of the recommended policy that counts exactly
what changes (the same replay `signoff diff --history` makes), split into the fit and held-out parts."""
from __future__ import annotations

import dataclasses
import gc
import math
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from policy_lang.loader import paused_gc

from ..decide.decision import RANK, binding_routes
from ..decide.evaluator import Policy
from ..decide.ledger import MemoryLedger
from ..replay.history import History, OutOfOrder
from ..replay.records import Record
from ..replay.step import stepper
from .levers import Lever, find_levers, levers_by_place, moved, replacement
from .stats import per_30_days, split_index, upper_bound

VERDICTS = ("approved", "edited", "rejected", "expired")
NONE = "(none)"
PRUNE_EVERY = 4096
MAX_LISTED = 200          # held-out rejected or edited actions listed per recommendation
_APPROVAL, _ALLOW = RANK["require_approval"], RANK["allow"]


class RecommendError(Exception):
    """A recommendation that cannot be made: `code` is stable, `message` lowercase, without final period."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Gated(NamedTuple):
    """One action the policy sent to humans in the replay."""
    idx: int                  # its place in replay order
    t: float
    tool: Optional[str]
    verdict: Optional[str]    # approved | edited | rejected | expired, None without one
    route: str
    place: Tuple[str, str]    # (rule, at) of the binding approval reason
    action_id: Any
    src: str                  # the file it was read from (one string shared by all its records)
    line: int                 # … and the line
    by: Any
    routes: Tuple[str, ...] = ()   # every route it waited on
    acts: Any = None          # `human.acts` as the history wrote it (the quorum lever's evidence), else None
    nums: Tuple[Tuple[str, float], ...] = ()   # the action's top-level numeric args (the grant lever's evidence)


class Counts(NamedTuple):
    """Actions let through, by what humans had done with them."""
    auto_allowed: int
    approved: int
    edited: int
    rejected: int
    expired: int
    no_verdict: int

    @property
    def reviewed(self) -> int:
        """Actions with a verdict: the trials of the bound."""
        return self.approved + self.edited + self.rejected + self.expired

    @property
    def changed(self) -> int:
        """Actions humans did not approve unchanged: the failures of the bound."""
        return self.edited + self.rejected + self.expired


def count(verdicts: List[Optional[str]]) -> Counts:
    """The Counts of a list of verdicts."""
    c = {v: 0 for v in VERDICTS}
    none = 0
    for v in verdicts:
        if v in c:
            c[v] += 1
        else:
            none += 1
    return Counts(len(verdicts), c["approved"], c["edited"], c["rejected"], c["expired"], none)


class Choice(NamedTuple):
    """A lever's new value chosen on the fit part: the value, how many actions it lets through, their counts."""
    value: Any
    taken: int                # points let through (a prefix of the loosening order)
    counts: Counts
    bound: float


def loosening_order(op: str, values: List[float]) -> List[int]:
    """Indices of `values` in the order a lever tested as `v OP N` lets them through as N moves."""
    descending = op in (">=", ">")
    return sorted(range(len(values)), key=lambda i: -values[i] if descending else values[i])


def new_value(op: str, last: Any, excluded: Optional[float]) -> Any:
    """The lever's value that lets through everything up to `last` (the last value taken in the loosening
    order) and not `excluded` (the next one)."""
    if op in ("<=", ">="):
        return last
    if op == "<":
        return excluded if excluded is not None else last + 1
    return excluded if excluded is not None else last - 1


def choose(points: List[Tuple[Any, Optional[str]]], op: Optional[str], confidence: float,
           max_risk: float) -> Tuple[Optional[Choice], Optional[Choice]]:
    """The loosest move that lets through no action a human rejected and keeps the upper bound on the
    rate of actions humans changed (edited, rejected, let expire) at or below `max_risk`; and the best
    move found that failed (the loosest before the first rejection), to explain why none was chosen.

    `points` are (value, verdict) of the fit part's actions the lever lets through when moved all the way;
    `op` None: a level lever, all or nothing. Equal values are let through together.
    """
    if not points:
        return None, None
    if op is None:
        c = count([v for _, v in points])
        b = upper_bound(c.changed, c.reviewed, confidence)
        got = Choice(None, len(points), c, b)
        return (got, None) if c.rejected == 0 and b <= max_risk else (None, got)
    values = [p[0] for p in points]
    order = loosening_order(op, values)
    # every prefix of the loosening order that ends between two values, up to the first rejection:
    # (taken, counts, next value or None, last value taken)
    prefixes: List[Tuple[int, Counts, Any, Any]] = []
    tally = {v: 0 for v in VERDICTS}
    none = 0
    i = 0
    while i < len(order):
        j = i
        v0 = values[order[i]]
        while j < len(order) and values[order[j]] == v0:
            verdict = points[order[j]][1]
            if verdict in tally:
                tally[verdict] += 1
            else:
                none += 1
            j += 1
        if tally["rejected"]:
            break
        c = Counts(j, tally["approved"], tally["edited"], tally["rejected"], tally["expired"], none)
        prefixes.append((j, c, values[order[j]] if j < len(order) else None, v0))
        i = j
    if not prefixes:
        return None, None
    # the loosest prefix whose bound holds; bounds are computed from the loosest down, only as needed
    for taken, c, excluded, last in reversed(prefixes):
        b = upper_bound(c.changed, c.reviewed, confidence)
        if b <= max_risk:
            return Choice(new_value(op, last, excluded), taken, c, b), None
    taken, c, excluded, last = prefixes[-1]
    return None, Choice(new_value(op, last, excluded), taken, c, upper_bound(c.changed, c.reviewed, confidence))


def lets_through(op: Optional[str], v: Any, value: Any) -> bool:
    """Does an action with value `v` pass a lever tested as `v OP value`? (level levers: always)."""
    if op is None:
        return True
    return (v >= value if op == ">=" else v > value if op == ">" else v <= value if op == "<=" else v < value)


@dataclass
class Recommendation:
    """One lever moved: where, from what to what, and the evidence (fit part, held-out part)."""
    lever: Lever
    value: Any
    change: str
    tools: List[str]
    places: List[Tuple[str, str]]
    fit: Counts
    bound: float
    through: set = field(default_factory=set, repr=False)   # replay indices the move lets through (first order)
    fit_verified: Optional[Counts] = None
    holdout: Optional[Counts] = None
    holdout_listed: List[Dict[str, Any]] = field(default_factory=list)
    by_route_fit: Dict[str, int] = field(default_factory=dict)
    by_route_holdout: Dict[str, int] = field(default_factory=dict)


class _Deferred(MemoryLedger):
    """The baseline's ledger: what a step counts waits until the levers have decided the same action,
    so that every lever sees the ledger as it was before that action, exactly as the policy did."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: List[Tuple[Any, float, float]] = []

    def add(self, key: Any, t: float, amount: float) -> None:
        """Hold the entry until `flush`."""
        self.pending.append((key, t, amount))

    def flush(self) -> None:
        """Record the held entries."""
        for key, t, amount in self.pending:
            MemoryLedger.add(self, key, t, amount)
        self.pending.clear()


def _runs(policy: Policy) -> Callable[[str], Any]:
    g = policy.graph
    table = {name: n.run for name, n in g.tools.items()}
    default = g.default.run if g.default is not None else None
    return lambda tool: table.get(tool, default)


def _records(history: History, external: bool) -> Iterator[List[Record]]:
    """The history's batches with the cyclic GC paused, as `Simulation.run_batches` does: the search holds
    hundreds of thousands of small records (the waiting actions), which every collection would walk
    again (at 1M actions, three quarters of the time). A young-generation pass every 64 batches frees
    what cycles there are."""
    with paused_gc():
        for k, batch in enumerate(history.batches(external=external), 1):
            yield batch
            if not k % 64:
                gc.collect(1)


@dataclass
class Baseline:
    """What the first replay found."""
    n: int
    times: Any                                   # array('d') of record times, replay order
    ranks: bytearray                             # each record's outcome rank under the policy
    gated: List[Gated]
    hits: Dict[int, List[Tuple[int, Any]]]       # lever index → (gated index, value) it lets through
    verdicts: int                                # records with a human verdict
    verdicts_elsewhere: int                      # … on actions the policy does not send to humans
    external: bool


def _numbers(action: Any) -> Tuple[Tuple[str, float], ...]:
    """The top-level numeric arguments of an action (booleans are not numbers), as a grant's `max` reads them."""
    args = action.get("args") if action.__class__ is dict else None
    if args.__class__ is not dict:
        return ()
    return tuple((k, float(v)) for k, v in args.items()
                 if v.__class__ in (int, float) and math.isfinite(v))


def baseline(policy: Policy, levers: List[Lever], history: History,
             progress: Optional[Callable[[int], None]] = None) -> Baseline:
    """Replay the history through `policy`; for each action it sends to humans, decide it again with every
    lever that could let it through moved all the way (a comparison replaced by its passing value, a risk
    line at the lower level), against the same ledger."""
    program = policy.program
    places = levers_by_place(levers)
    index = {id(lv): i for i, lv in enumerate(levers)}
    extremes: List[Tuple[Callable[[str], Any], Policy]] = []
    # the moved programs skip schema validation: only actions the policy sent to humans are asked, each
    # one has passed its schema already, and no lever touches a schema (a third of the replay's time)
    bare = dataclasses.replace(program, schemas={})
    for lv in levers:
        p = Policy(moved(bare, [replacement(lv, lv.passes_as if lv.kind == "threshold" else None)],
                         [(lv.section, lv.name)]))
        extremes.append((_runs(p), p))

    def attempt(external: bool) -> Baseline:
        step = stepper(policy)
        ledger = _Deferred()
        window = policy.max_window()
        times: Any = array("d")
        ranks = bytearray()
        gated: List[Gated] = []
        hits: Dict[int, List[Tuple[int, Any]]] = {i: [] for i in range(len(levers))}
        verdicts = elsewhere = 0
        n = 0
        pruned = float("-inf")
        for batch in _records(history, external):
            for rec in batch:
                row = step(rec, ledger)
                t, rank = row[0], row[2]
                times.append(t)
                ranks.append(rank)
                human = row[8]
                verdict = human.get("verdict") if human.__class__ is dict else None
                if verdict not in VERDICTS:
                    verdict = None
                else:
                    verdicts += 1
                if rank == _APPROVAL:
                    reasons = row[4]
                    binding = [r for r in reasons if r.outcome == "require_approval" and not r.advisory]
                    first = binding[0] if binding else None
                    routes = binding_routes(reasons)
                    tool = row[7]
                    action = rec[2]
                    g = len(gated)
                    gated.append(Gated(n, t, tool, verdict, routes[0] if routes else NONE,
                                       (first.rule, first.at) if first else (NONE, NONE), row[5],
                                       rec[3], rec[4], human.get("by") if human.__class__ is dict else None,
                                       tuple(routes), human.get("acts") if human.__class__ is dict else None,
                                       _numbers(action)))
                    if rec[5] is None and action.__class__ is dict:
                        mine: List[Lever] = list(places.get(("tool", tool), ())) if tool else []
                        if row[3] is not None:
                            mine += places.get(("category", row[3]), ())
                        for r in reasons:
                            if r.rule.startswith("check "):
                                mine += places.get(("check", r.rule[6:]), ())
                        for lv in mine:
                            if lv.risk_level:
                                # a risk line's lever changes a decision only by changing the level: a line
                                # made to give the level the action already has, or one that did not give
                                # it, changes nothing
                                fires = lv.kind == "threshold" and lv.passes_as
                                if (row[3] == lv.risk_level) == fires:
                                    continue
                            if lv.kind == "threshold":
                                v = lv.value(action) if lv.value is not None else None
                                if v is None or lv.already(v):
                                    continue   # no value to move past, or the comparison already lets it by
                            else:
                                v = True
                            k = index[id(lv)]
                            runs, pol = extremes[k]
                            try:
                                if rec[6] and tool is not None:
                                    got = runs(tool)(action, t, ledger)[0]
                                else:
                                    now = None if action.get("timestamp") is not None else \
                                        datetime.fromtimestamp(t, timezone.utc)
                                    got = pol.decide(action, ledger, now).outcome
                            except Exception:   # fail closed: a lever that errs lets nothing through
                                continue
                            if got == "allow":
                                hits[k].append((g, v))
                elif verdict is not None:
                    elsewhere += 1
                ledger.flush()
                n += 1
                if window and not n % PRUNE_EVERY and t - window > pruned:
                    pruned = t - window
                    ledger.prune(pruned)
                if progress is not None and not n % 65536:
                    progress(n)
        return Baseline(n, times, ranks, gated, hits, verdicts, elsewhere, external)

    try:
        return attempt(False)
    except OutOfOrder:
        if history.has_stdin:
            raise
        return attempt(True)


def verify(candidate: Policy, base: Baseline, history: History,
           progress: Optional[Callable[[int], None]] = None) -> Tuple[List[int], Dict[str, int], List[Tuple[int, str, str]]]:
    """Replay the history through the recommended policy with its own ledger, as `signoff diff --history`
    does: the replay indices it auto-allows where the policy waited for humans, the count of every other
    transition (`old→new`), and the looser ones among them (index, old, new)."""
    step = stepper(candidate)
    ledger = MemoryLedger()
    window = candidate.max_window()
    ranks = base.ranks
    allowed: List[int] = []
    other: Dict[str, int] = {}
    looser: List[Tuple[int, str, str]] = []
    from ..decide.decision import OUTCOMES
    n = 0
    pruned = float("-inf")
    for batch in _records(history, base.external):
        for rec in batch:
            row = step(rec, ledger)
            if n >= len(ranks):
                raise RecommendError("history_changed", "the history changed while it was read")
            old, new = ranks[n], row[2]
            if old != new:
                if old == _APPROVAL and new == _ALLOW:
                    allowed.append(n)
                else:
                    k = f"{OUTCOMES[old]}→{OUTCOMES[new]}"
                    other[k] = other.get(k, 0) + 1
                    if new < old:
                        looser.append((n, OUTCOMES[old], OUTCOMES[new]))
            n += 1
            t = row[0]
            if window and not n % PRUNE_EVERY and t - window > pruned:
                pruned = t - window
                ledger.prune(pruned)
            if progress is not None and not n % 65536:
                progress(n)
    if n != base.n:
        raise RecommendError("history_changed", "the history changed while it was read")
    return allowed, other, looser


@dataclass
class Search:
    """Everything a report needs: the options, the baseline, the chosen recommendations, what was not chosen."""
    policy: Policy
    options: Dict[str, Any]
    base: Baseline
    cut: int
    recommendations: List[Recommendation]
    considered: List[Dict[str, Any]]
    explanation: Optional[str]
    other_transitions: Dict[str, int] = field(default_factory=dict)
    allowed_count: int = 0                       # approval → allow over the whole history (exact replay)
    other_looser: int = 0                        # looser transitions that are not approval → allow
    side_effects: Counts = field(default_factory=lambda: count([]))
    candidate: Optional[Policy] = None
    levers: List[Lever] = field(default_factory=list)
    quorum: List[Any] = field(default_factory=list)   # QuorumRecommendation (engine.recommend.quorum)
    allowed_idx: set = field(default_factory=set)      # replay indices the recommended levers auto-allow
    grants: List[Any] = field(default_factory=list)    # GrantRecommendation (engine.recommend.grants)


def _change(lv: Lever, value: Any) -> str:
    if lv.kind == "level":
        return f"risk {lv.node.level} → risk {lv.level}"
    new = _swapped_text(lv, value)
    return f"{lv.text} → {new}"


def _swapped_text(lv: Lever, value: Any) -> str:
    from policy_lang.printer import expr_text
    return expr_text(replacement(lv, value)[1])




def needed(confidence: float, max_risk: float) -> int:
    """How many actions approved unchanged (and none changed) the bound needs to reach `max_risk`."""
    return int(math.ceil(math.log1p(-confidence) / math.log1p(-max_risk) - 1e-9))


def search(policy: Policy, history: History, confidence: float = 0.95, max_risk: float = 0.01,
           holdout: float = 0.3, progress: Optional[Callable[[int], None]] = None) -> Search:
    """Find the recommendations for `policy` on `history` (see the module docstring).

    The cyclic GC is paused throughout: the search holds one small record per action that waited for
    humans (hundreds of thousands), makes no reference cycles, and every full collection would walk
    them all again (at 1M actions, more than the replays themselves)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _search(policy, history, confidence, max_risk, holdout, progress)
    finally:
        if enabled:
            gc.enable()


def _search(policy: Policy, history: History, confidence: float, max_risk: float, holdout: float,
            progress: Optional[Callable[[int], None]]) -> Search:
    if not 0 < confidence < 1:
        raise RecommendError("bad_option", "`--confidence` must be between 0 and 1")
    if not 0 < max_risk < 1:
        raise RecommendError("bad_option", "`--max-risk` must be between 0 and 1")
    if not 0 <= holdout < 1:
        raise RecommendError("bad_option", "`--holdout` must be at least 0 and below 1")
    options = {"confidence": confidence, "max_risk": max_risk, "holdout": holdout}
    levers = find_levers(policy.program)
    base = baseline(policy, levers, history, progress)
    cut = split_index(base.n, holdout)
    result = Search(policy, options, base, cut, [], [], None, levers=levers)
    fit_gated = [g for g in base.gated if g.idx < cut]
    if base.n == 0:
        result.explanation = "the history holds no actions: nothing to recommend"
        return result
    if base.verdicts == 0:
        result.explanation = ("the history holds no human verdicts (`human.verdict`): a recommendation needs "
                              "what humans did with the actions the policy sent them, as `signoff audit export` "
                              "writes it")
        return result
    reviewed = sum(1 for g in base.gated if g.verdict is not None)
    if reviewed == 0:
        result.explanation = (f"the history's {base.verdicts} human verdicts are all on actions this policy does "
                              "not send to humans: they contradict its outcomes (was the history recorded under "
                              "another policy?); nothing to recommend")
        return result
    if not fit_gated:
        result.explanation = "the fit part of the history holds no action this policy sends to humans"
        return result
    # ---- one choice per lever, on the fit part
    cands: List[Tuple[Lever, Choice, List[int]]] = []
    for k, lv in enumerate(levers):
        pts = [(v, base.gated[g].verdict) for g, v in base.hits[k] if base.gated[g].idx < cut]
        op = lv.op if lv.kind == "threshold" else None
        best, tried = choose(pts, op, confidence, max_risk)
        if best is not None:
            through = [g for g, v in base.hits[k] if lets_through(op, v, best.value)]
            cands.append((lv, best, through))
        elif tried is not None or pts:
            c = tried.counts if tried is not None else count([p[1] for p in pts])
            why = ("a human rejected the first action it would let through" if tried is None else
                   f"{c.reviewed} reviewed actions, {c.changed} changed: upper bound "
                   f"{upper_bound(c.changed, c.reviewed, confidence):.2%} > {max_risk:.2%} "
                   f"(at least {needed(confidence, max_risk)} approved unchanged needed)")
            result.considered.append({"lever": lv.text, "at": lv.at, "kind": lv.kind,
                                      "level": lv.level or None, "reason": why,
                                      "auto_allowed": c.auto_allowed, "rejected": c.rejected,
                                      "edited": c.edited, "expired": c.expired})
    # ---- the greedy pick: most approvals saved first, one change per line and per tool (two moves that
    # let the same tool's actions through would let through together what neither does alone)
    cands.sort(key=lambda x: (-x[1].taken, x[0].span.line, x[0].line))
    chosen: List[Recommendation] = []
    used = set()
    used_tools: set = set()
    from .output import lints_clean
    for lv, best, through in cands:
        gs = [base.gated[g] for g in through]
        tools = {g.tool for g in gs}
        if lv.key in used or tools & used_tools:
            if tools & used_tools and lv.key not in used:
                result.considered.append({"lever": lv.text, "at": lv.at, "kind": lv.kind, "level": lv.level or None,
                                          "reason": "supported, but a move with more evidence already lets the same "
                                                    "tool's actions through (recommend again after shipping it)",
                                          "auto_allowed": best.counts.auto_allowed, "rejected": best.counts.rejected,
                                          "edited": best.counts.edited, "expired": best.counts.expired})
            continue
        fit_gs = [g for g in gs if g.idx < cut]
        rec = Recommendation(lv, best.value, _change(lv, best.value),
                             sorted({g.tool or NONE for g in fit_gs}), sorted({g.place for g in fit_gs}),
                             best.counts, best.bound, {g.idx for g in gs})
        # a move whose policy would not lint clean (a level no tool reaches any more) is not made
        if not lints_clean(result, chosen + [rec]):
            result.considered.append({"lever": lv.text, "at": lv.at, "kind": lv.kind, "level": lv.level or None,
                                      "reason": "the policy with this change would not lint clean",
                                      "auto_allowed": best.counts.auto_allowed, "rejected": best.counts.rejected,
                                      "edited": best.counts.edited, "expired": best.counts.expired})
            continue
        used.add(lv.key)
        used_tools |= tools
        chosen.append(rec)
    # ---- the exact replay of the policy with every chosen move; drop moves that fail it
    for _ in range(4):
        if not chosen:
            break
        cand = Policy(moved(policy.program, [replacement(r.lever, r.value) for r in chosen],
                            [(r.lever.section, r.lever.name) for r in chosen]))
        allowed, other, looser = verify(cand, base, history, progress)
        bad = _attribute(chosen, base, cut, allowed, confidence, max_risk, result)
        if not bad:
            result.candidate = cand
            result.other_transitions = other
            result.other_looser = len(looser)
            result.allowed_count = len(allowed)
            result.allowed_idx = set(allowed)
            break
        chosen = [r for r in chosen if r not in bad]
    else:
        chosen = []
    if result.candidate is None:
        chosen = []
    result.recommendations = chosen
    # ---- the quorum lever: judged on the order of the human acts, not by a replay (it changes no decision)
    from .quorum import search_quorum
    result.quorum, refused = search_quorum(policy.program, base, cut, confidence, max_risk, result.allowed_idx)
    result.considered += refused
    # ---- standing grants: a runtime record, not a policy change (never written by `--out`)
    from .grants import search_grants
    result.grants, refused_grants = search_grants(policy.program, base, cut, confidence, max_risk,
                                                  result.allowed_idx)
    result.considered += refused_grants
    if not chosen and not result.quorum:
        clean = [c["auto_allowed"] for c in result.considered
                 if c["kind"] != "quorum" and not (c["rejected"] or c["edited"] or c["expired"])]
        if not [c for c in result.considered if c["kind"] != "quorum"]:
            result.explanation = "no lever of this policy could let through any action that waited for humans"
        elif clean and max(clean) < needed(confidence, max_risk):
            result.explanation = (f"too few verdicts: the most any lever would let through, all approved unchanged, "
                                  f"is {max(clean)}; the bound needs at least {needed(confidence, max_risk)} "
                                  f"(or a higher --max-risk); humans changed or rejected what the others would let "
                                  "through (see `considered`)")
        else:
            result.explanation = ("no lever can be moved: humans changed or rejected what a looser policy would "
                                  "have let through, or too few reviewed it (see `considered`)")
        if refused:
            result.explanation += "; no quorum lowered: " + "; ".join(c["reason"] for c in refused)
    return result


def _attribute(chosen: List[Recommendation], base: Baseline, cut: int, allowed: List[int], confidence: float,
               max_risk: float, result: Search) -> List[Recommendation]:
    """Give each action the exact replay auto-allows to the first recommendation that lets it through;
    return the recommendations that fail on the fit part once counted exactly."""
    by_idx = {g.idx: g for g in base.gated}
    per: Dict[int, List[Gated]] = {i: [] for i in range(len(chosen))}
    side: List[Gated] = []
    for idx in allowed:
        g = by_idx[idx]
        owner = next((i for i, r in enumerate(chosen) if idx in r.through), None)
        (per[owner] if owner is not None else side).append(g)
    bad = []
    for i, r in enumerate(chosen):
        fit = [g for g in per[i] if g.idx < cut]
        held = [g for g in per[i] if g.idx >= cut]
        r.fit_verified = count([g.verdict for g in fit])
        r.holdout = count([g.verdict for g in held])
        r.by_route_fit, r.by_route_holdout = {}, {}
        for g in fit:
            r.by_route_fit[g.route] = r.by_route_fit.get(g.route, 0) + 1
        for g in held:
            r.by_route_holdout[g.route] = r.by_route_holdout.get(g.route, 0) + 1
        r.holdout_listed = [{"action_id": g.action_id, "where": f"{g.src}:{g.line}", "tool": g.tool, "verdict": g.verdict,
                             "by": g.by} for g in held if g.verdict in ("rejected", "edited")][:MAX_LISTED]
        fv = r.fit_verified
        r.bound = upper_bound(fv.changed, fv.reviewed, confidence)
        if fv.rejected or r.bound > max_risk:
            bad.append(r)
    if side:
        c = count([g.verdict for g in side if g.idx < cut])
        result.side_effects = count([g.verdict for g in side])
        if c.rejected and not bad:
            bad.append(chosen[-1])
    return bad


def fit_span(base: Baseline, cut: int) -> Tuple[Optional[float], Optional[float]]:
    """First and last time of the fit part."""
    if cut == 0:
        return None, None
    return base.times[0], base.times[cut - 1]


def holdout_span(base: Baseline, cut: int) -> Tuple[Optional[float], Optional[float]]:
    """First and last time of the held-out part."""
    if cut >= base.n:
        return None, None
    return base.times[cut], base.times[base.n - 1]


def rate(n: int, s: Tuple[Optional[float], Optional[float]]) -> Optional[float]:
    """`n` per 30 days over span `s`."""
    return per_30_days(n, s[0], s[1])

