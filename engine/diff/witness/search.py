"""The witness search for one tool as ordered steps over one state (`STEPS`, walked like the compiler's
`PASSES`), its verdict as a `ToolResult`, and the search over every tool two versions name."""
from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from policy_lang import ast as A
from policy_lang.checker import Program, ResolvedSchema

from ...decide.evaluator import Policy
from ..structural import schema_key
from ..records import (CHANGED, LOOSER, NOT_PROVEN, PROVEN, STRICTER, WITNESS, BudgetLine, DirectionResult,
                       ToolResult, Witness, compare)
from .analysis import Analysis
from .budgets import FakeLedger, budget_sig, budget_witness, decide_with, history_for
from .candidates import BASE_TIME, NOW, Var, assignments, count_assignments, merge_base, put_path
from .schemas import schema_consts, schema_example

MAX_COMBINATIONS = 200_000      # above this a tool is searched by sampling and never reported proven
SAMPLE = 40_000
UNKNOWN_TOOL = "tool_neither_version_declares"

Key = Tuple[str, int]           # a budget line: its check's name and the line's index in the check


def _rules_for(p: Program, tool: Optional[str]) -> Tuple[List[Any], List[BudgetLine]]:
    """The conditions that can matter for `tool` (None: an undeclared tool) and its budget lines."""
    conds: List[Any] = []
    budgets: List[BudgetLine] = []
    tool = _target(p, tool)
    t = p.tools.get(tool) if tool is not None else None
    if t is not None:
        conds += [r.when for r in t.risks if r.when is not None]
        for cat in p.categories.values():
            conds += [cl.when for cl in cat.lines if cl.when is not None]
    for c in p.checks.values():
        if c.targets is None or (tool is not None and tool in c.targets):
            for i, ln in enumerate(c.lines):
                if isinstance(ln, A.Require):
                    conds.append(ln.cond)
                else:
                    budgets.append(BudgetLine(c.name, i, ln, c.advisory))
    return conds, budgets


def _target(p: Program, tool: Optional[str]) -> Optional[str]:
    """The tool whose rules decide `tool`: itself, or the tool it is an alias of."""
    return p.aliases[tool].target if tool is not None and tool in p.aliases else tool


def _tool_names(old: Program, new: Program) -> List[Optional[str]]:
    """The tools searched: every tool and alias either version declares or a check names, then None."""
    names: List[Optional[str]] = []
    for p in (old, new):
        for n in [*p.tools, *p.aliases]:
            if n not in names:
                names.append(n)
    for p in (old, new):
        for c in p.checks.values():
            for n in c.targets or ():
                if n not in names:
                    names.append(n)
    names.append(None)  # every tool neither version declares or names
    return names


@dataclass
class Search:
    """One tool's search: what the steps read and decide, filled in by `STEPS` in order."""
    old_p: Policy
    new_p: Policy
    tool: Optional[str]                 # None: every tool neither version declares or names
    seed: int
    name: str                           # the tool the candidate actions name
    an: Analysis
    budgets: Dict[str, List[BudgetLine]] = field(default_factory=dict)   # "old", "new": the tool's lines
    so: Optional[ResolvedSchema] = None                                  # the tool's schema, old and new
    sn: Optional[ResolvedSchema] = None
    base_args: Dict[str, Any] = field(default_factory=dict)              # a schema-valid example
    shared: List[Key] = field(default_factory=list)       # budget lines the same in both versions
    differing: List[Key] = field(default_factory=list)    # budget lines added, removed or changed
    fixed: Dict[str, Any] = field(default_factory=dict)   # the fields every candidate action has
    vars_: Dict[Tuple[str, ...], Var] = field(default_factory=dict)
    args_var: bool = False
    ledgers: List[Set[Key]] = field(default_factory=list)  # the states of the shared lines: the exhausted
    total: int = 0                                         # candidates × ledger states
    exhaustive: bool = True
    checked: int = 0
    # the first witness of each kind in enumeration order: looser and stricter are searched for
    # independently (one does not stop the search for the other); `changed` (same outcome, other route,
    # category…) is kept only for when no outcome changes
    found: Dict[str, Witness] = field(default_factory=dict)
    unconfirmed: Set[str] = field(default_factory=set)  # seen under a stand-in ledger, no history reproduced it

    @classmethod
    def start(cls, old_p: Policy, new_p: Policy, tool: Optional[str], seed: int = 0) -> "Search":
        """The state before the first step."""
        old, new = old_p.program, new_p.program
        name = tool if tool is not None else UNKNOWN_TOOL
        an = Analysis({k: c.value for k, c in old.consts.items()}, {k: c.value for k, c in new.consts.items()})
        an.tool_name = name
        return cls(old_p, new_p, tool, seed, name, an)

    @property
    def method(self) -> str:
        """How the candidates are drawn: every partition, or a sample."""
        return "partition" if self.exhaustive else "sampling"

    @property
    def both_found(self) -> bool:
        """A looser and a stricter witness are found: nothing more to look for."""
        return LOOSER in self.found and STRICTER in self.found


def read_rules(st: Search) -> None:
    """Each version's conditions and budget lines for the tool: its variables and their constants."""
    an = st.an
    for side, prog in (("old", st.old_p.program), ("new", st.new_p.program)):
        an.cur = {k: c.value for k, c in prog.consts.items()}
        an.tool_name = _target(prog, st.tool) if st.tool is not None else st.name  # what `tool` reads here
        conds, bl = _rules_for(prog, st.tool)
        for c in conds:
            an.cond(c)
        st.budgets[side] = bl
        for line in bl:
            _read_budget(an, line.line)


def _read_budget(an: Analysis, b: A.Budget) -> None:
    """A budget line's keys are variables; a summed path is a number partitioned at 0 and the limit."""
    for k in b.keys:
        kp = an.path_of(A.Path(k.root, ("id",)) if not k.keys and k.root in ("tenant", "agent") else k)
        if kp is None:
            an.out(k, "budget key")
        else:
            an.var(kp)
    if b.path is not None:
        pp = an.path_of(b.path)
        if pp is None:
            an.out(b.path, "summed path")
        else:
            v = an.var(pp)
            v.numeric_use = True
            v.numbers.update([b.limit, 0])


def read_schemas(st: Search) -> None:
    """The tool's schemas: an example to lay candidates over, their bounds as constants; a proof needs
    them the same in both versions and made of handled keywords."""
    old, new, tool, an = st.old_p.program, st.new_p.program, st.tool, st.an
    st.so = so = old.schemas.get(_target(old, tool) or "") if tool is not None else None
    st.sn = sn = new.schemas.get(_target(new, tool) or "") if tool is not None else None
    for s in (so, sn):
        if s is not None:
            _read_schema(an, s, st.base_args)
    if (so is None) != (sn is None) or (so and sn and schema_key(so) != schema_key(sn)):
        an.out(None, "the schema changed")
    for s in (so, sn):
        if s is not None and st.base_args is not None:
            if not s.validator().is_valid(st.base_args):
                an.out(None, "no example instance found for the schema")


def _read_schema(an: Analysis, s: ResolvedSchema, base_args: Dict[str, Any]) -> None:
    """One schema: its example's fields into `base_args` (the first schema's win), its constants."""
    ex = schema_example(s.value, s.value)
    if isinstance(ex, dict):
        for k, v in ex.items():
            base_args.setdefault(k, v)
    else:
        an.out(None, "no example instance found for the schema")
    unhandled: Set[str] = set()
    found: List[Tuple[Tuple[str, ...], Any]] = []
    schema_consts(s.value, ("args",), s.value, found, unhandled)
    for p, c in found:
        if "[]" in p:
            continue
        if p in an.vars:
            an.add_const(an.vars[p], c)
    if unhandled - {"items"}:
        an.out(None, f"schema keywords {', '.join(sorted(unhandled - {'items'}))}")


def split_budgets(st: Search) -> None:
    """Budget lines the same in both versions are a free choice (exhausted or not); differing ones need
    histories, and rule out a proof."""
    sig_old = {(c, i): budget_sig(b, a) for c, i, b, a in st.budgets["old"]}
    sig_new = {(c, i): budget_sig(b, a) for c, i, b, a in st.budgets["new"]}
    st.shared = sorted(k for k in sig_old if sig_new.get(k) == sig_old[k])
    st.differing = sorted(set(sig_old) ^ set(sig_new)
                          | {k for k in sig_old if k in sig_new and sig_new[k] != sig_old[k]})
    if st.differing:
        st.an.out(None, "budget lines changed (" + ", ".join(f"{c} line {i + 1}" for c, i in st.differing) + ")")


def base_action(st: Search) -> None:
    """The fields every candidate has (the tool, the time unless a condition reads it), and the variables."""
    an = st.an
    st.fixed = {"tool": st.name, "timestamp": BASE_TIME}
    st.vars_ = vars_ = dict(an.vars)
    if ("timestamp",) in vars_:
        vars_[("timestamp",)].extra += [BASE_TIME] + an.times
        st.fixed.pop("timestamp")
    elif an.times:
        vars_[("timestamp",)] = Var(("timestamp",), extra=[BASE_TIME] + an.times)
        vars_[("timestamp",)].strings = set()
        st.fixed.pop("timestamp")
    st.args_var = ("args",) in vars_


def ledger_states(st: Search) -> None:
    """Every subset of the shared budget lines exhausted; only none and all of them when there are many."""
    shared = st.shared
    st.ledgers = [set(s) for n in range(len(shared) + 1) for s in itertools.combinations(shared, n)]
    if len(st.ledgers) > 64:
        st.ledgers = [set(), set(shared)]
        st.an.out(None, "too many budget lines to enumerate their states")


def count_combinations(st: Search) -> None:
    """How many decisions an exhaustive search compares; above MAX_COMBINATIONS the search samples."""
    st.total = count_assignments(st.vars_) * len(st.ledgers) if st.vars_ else len(st.ledgers)
    st.exhaustive = st.total <= MAX_COMBINATIONS


def candidate_actions(st: Search) -> Iterator[Dict[str, Any]]:
    """Every combination of candidate values, or a sample that draws each variable's value at random."""
    if st.exhaustive:
        yield from assignments(st.vars_, st.fixed) if st.vars_ else iter([dict(st.fixed)])
        return
    rng = random.Random(st.seed)
    tops = sorted(st.vars_)
    cands = {p: st.vars_[p].candidates() for p in tops}
    for _ in range(SAMPLE // max(1, len(st.ledgers))):
        action = json.loads(json.dumps(st.fixed))
        for p in tops:
            put_path(action, p, rng.choice(cands[p]))
        yield action


def search_candidates(st: Search) -> None:
    """Decide each candidate under each ledger state with both versions; keep the first witness of each
    kind; stop when a looser and a stricter one are found."""
    for action in candidate_actions(st):
        action = merge_base(action, st.base_args, st.args_var)
        for ex in st.ledgers:
            _try(st, action, ex)
            if st.both_found:
                return


def _try(st: Search, action: Dict[str, Any], ex: Set[Key]) -> None:
    """One candidate under one ledger state; a difference under exhausted budgets counts only when a
    concrete history of earlier actions reproduces it."""
    old_p, new_p = st.old_p, st.new_p
    led = FakeLedger(ex)
    do, dn = old_p.decide(action, led, NOW), new_p.decide(action, led, NOW)
    st.checked += 1
    kind = compare(do, dn)
    if kind is None or kind in st.found:
        return
    hist = None
    if ex:
        hist = history_for(old_p, new_p, action, ex)
        if hist is None:
            st.unconfirmed.add(kind)
            return  # a budget state no concrete history reproduced; keep looking
        do, dn = decide_with(old_p, action, hist), decide_with(new_p, action, hist)
        seen, kind = kind, compare(do, dn)
        if kind != seen:
            st.unconfirmed.add(seen)
        if kind is None or kind in st.found:
            return
    st.found[kind] = Witness.of(st.name, action, do, dn, st.method, hist)


def search_budget_histories(st: Search) -> None:
    """Budget lines that differ: histories of copies of a candidate just under the limits or windows."""
    if not st.differing or st.both_found:
        return
    want = {LOOSER, STRICTER} - set(st.found)
    if not st.found:
        want.add(CHANGED)
    for kind, w in budget_witness(st.old_p, st.new_p, st.name, st.fixed, st.vars_, st.budgets, st.differing,
                                  st.base_args, want).items():
        st.found.setdefault(kind, w)


# the steps of one tool's search, in order; each reads what the ones before it filled in
STEPS: Tuple[Callable[[Search], None], ...] = (
    read_rules, read_schemas, split_budgets, base_action, ledger_states, count_combinations,
    search_candidates, search_budget_histories)


def verdict(st: Search) -> ToolResult:
    """What the steps found: witnesses, or a proof (every condition decided, every partition tried, no
    budget line changed, no unconfirmed difference), per direction and over both."""
    found, unconfirmed = st.found, st.unconfirmed
    proof = st.an.decidable and st.exhaustive and not st.differing
    per_direction = {}
    for kind in (LOOSER, STRICTER):
        per_direction[kind] = (WITNESS if kind in found
                               else PROVEN if proof and kind not in unconfirmed else NOT_PROVEN)
    witnesses = [found[k] for k in (LOOSER, STRICTER) if k in found] or [found[k] for k in (CHANGED,) if k in found]
    why = list(st.an.why)
    if not st.exhaustive:
        why.append(f"{st.total:,} combinations: sampled {st.checked:,}")
    if unconfirmed - set(found):
        why.append("a difference under exhausted budgets (" + ", ".join(sorted(unconfirmed - set(found)))
                   + ") that no concrete history reproduced")
    if witnesses:
        status = WITNESS
    elif proof and not unconfirmed:
        status = PROVEN
    else:
        status = NOT_PROVEN
    return ToolResult(st.name, status, per_direction[LOOSER], per_direction[STRICTER], st.method, st.checked,
                      st.total, why, witnesses)


# The seam for another search (issue 12: an SMT-based one): any function with this signature.
ToolSearch = Callable[[Policy, Policy, Optional[str], int], ToolResult]


def search_tool(old_p: Policy, new_p: Policy, tool: Optional[str], seed: int = 0) -> ToolResult:
    """The partition search for one tool (None: every tool neither version declares or names)."""
    st = Search.start(old_p, new_p, tool, seed)
    for step in STEPS:
        step(st)
    return verdict(st)


def find_witness(old_p: Policy, new_p: Policy, tool: Optional[str], kind: str, seed: int = 0,
                 search: Optional[ToolSearch] = None) -> DirectionResult:
    """One direction (`looser` or `stricter`) of one tool: a witness, `proven` (none exists), or `unknown`.
    The search is the solver's (`smt.smt_search`) unless another `ToolSearch` is given."""
    return (search or default_search())(old_p, new_p, tool, seed).direction(kind)


def default_search(timeout: Optional[float] = None) -> ToolSearch:
    """The search `signoff diff` runs: the solver, with `timeout` seconds per tool and direction."""
    from .smt import DEFAULT_TIMEOUT, smt_search
    t = DEFAULT_TIMEOUT if timeout is None else timeout

    def search(old_p: Policy, new_p: Policy, tool: Optional[str], seed: int) -> ToolResult:
        return smt_search(old_p, new_p, tool, seed, t)
    return search


def search_tools(old_p: Policy, new_p: Policy, seed: int = 0, search: Optional[ToolSearch] = None
                 ) -> List[ToolResult]:
    """`search` run on every tool either version names, then on the tools neither names."""
    s = search or default_search()
    return [s(old_p, new_p, tool, seed) for tool in _tool_names(old_p.program, new_p.program)]


def witness_search(old_p: Policy, new_p: Policy, seed: int = 0, search: Optional[ToolSearch] = None
                   ) -> List[Dict[str, Any]]:
    """For each tool: witness actions the versions decide differently (a looser one and a stricter one,
    searched for independently), `proven` equivalence, or `unknown`; and per direction (`looser`,
    `stricter`): `witness`, `proven` (no action of the tool changes that way) or `unknown`.
    See docs/diff.md for the method and its limits."""
    return [r.to_dict() for r in search_tools(old_p, new_p, seed, search)]
