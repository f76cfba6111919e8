"""Issue 12, property: for random policy pairs (tests/strategies.py), every witness the solver search
prints decides as it claims, and whenever replaying a history finds a looser action for a tool, the
search does not claim `proven` for that tool's looser direction (and likewise for stricter).

The history is one record of executed actions shared by both versions (every action counts as
executed), so both versions' budgets see the same past, as the solver's ledger state assumes."""
from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
from strategies import NOW, actions, policies  # noqa: E402

from engine import MemoryLedger, Policy  # noqa: E402
from engine.diff.records import LOOSER, PROVEN, STRICTER, classify  # noqa: E402
from engine.diff.witness.search import UNKNOWN_TOOL, _tool_names  # noqa: E402
from engine.diff.witness.smt import LedgerState, smt_search  # noqa: E402
from policy_lang import PolicyError, print_module  # noqa: E402
from policy_lang.checker import load  # noqa: E402

SCALE = max(1, int(os.environ.get("SIGNOFF_PROPERTY_SCALE", "1")))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much])


def compiled(path: str, gp) -> Policy:
    try:
        return Policy(load(path, print_module(gp.decls)))
    except PolicyError as e:  # pragma: no cover - a strategy bug, reported with the text
        raise AssertionError(f"generated policy does not load:\n{e}") from None


def decide_again(po: Policy, pn: Policy, w) -> tuple:
    if w.history is None:
        led_o = led_n = LedgerState.from_list(w.ledger)
    else:
        led_o, led_n = MemoryLedger(), MemoryLedger()
        for h in w.history:
            po.record(h, led_o, NOW)
            pn.record(h, led_n, NOW)
    return po.decide(w.action, led_o, NOW), pn.decide(w.action, led_n, NOW)


@settings(max_examples=12 * SCALE, phases=[Phase.generate], **SETTINGS)
@given(a=policies(max_tools=2), b=policies(max_tools=2), data=st.data())
def test_witnesses_decide_as_claimed_and_replay_never_contradicts_a_proof(tmp_path_factory, a, b, data):
    folder = tmp_path_factory.mktemp("pair")
    po, pn = compiled(str(folder / "old.policy"), a), compiled(str(folder / "new.policy"), b)
    results = {}
    for tool in _tool_names(po.program, pn.program):
        r = smt_search(po, pn, tool, 0, timeout=2.0)
        results[r.tool] = r
        for w in r.witnesses:
            do, dn = decide_again(po, pn, w)
            assert (do.outcome, dn.outcome) == (w.old["outcome"], w.new["outcome"]), w
            assert w.direction in classify(do, dn, po.program, pn.program), w
    # a history of executed actions, replayed through both versions with their own ledgers
    led_o, led_n = MemoryLedger(), MemoryLedger()
    acts = data.draw(st.lists(st.one_of(actions(a), actions(b)), min_size=1, max_size=12))
    for act in acts:
        do, dn = po.decide(act, led_o, NOW), pn.decide(act, led_n, NOW)
        tool = act.get("tool")
        name = tool if tool in results else UNKNOWN_TOOL
        for kind in classify(do, dn, po.program, pn.program):
            r = results[name]
            status = r.looser if kind == LOOSER else r.stricter
            assert status != PROVEN, (kind, name, act, do, dn, r)
        po.record(act, led_o, NOW)
        pn.record(act, led_n, NOW)
    assert STRICTER   # (the directions are the records' constants)
