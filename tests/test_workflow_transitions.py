"""Typed records and transitions: every state change goes through `records.transition`, and a change TRANSITIONS
does not allow raises, so the transaction around it rolls back — the row, the approvals, the ledger and the audit
chain stay as they were; a stored row becomes a record only when it has the shape the workflow writes."""
from dataclasses import replace

import pytest

from engine.live.records import TRANSITIONS, Draft, create, load_draft, transition, update
from engine.live.workflow import StateError
from workflow_helpers import is_pg, raw, refund, table_names


def dump(store):
    """Every row of every table, and the audit head: 'the store is unchanged' means these are equal."""
    order = "ctid" if is_pg(store) else "rowid"
    return {n: raw(store, f"SELECT * FROM {n} ORDER BY {order}") for n in table_names(store)}


def test_a_disallowed_transition_raises_and_rolls_back_the_audit_records_with_it(env):
    gate, clock, rec = env
    h = gate.propose(refund(10))
    assert h.state == "executed"
    before = dump(gate.store)
    with pytest.raises(StateError, match="cannot go from executed to approved"):
        with gate.store.transaction() as tx:
            draft = load_draft(tx, h.id)
            # written first in the same transaction: the refusal must take these with it
            tx.append_event(h.id, "approved", "lea", "2026-11-20T10:00:00Z", gate.policy.digest, {"forged": True})
            tx.update_action(h.id, error="half-written")
            transition(tx, draft, "approved")
    assert dump(gate.store) == before
    assert gate.verify().ok and gate.get(h.id).state == "executed"


def test_transition_judges_the_stored_state_not_a_stale_record(env):
    gate, clock, rec = env
    h = gate.propose(refund(10))
    with gate.store.transaction() as tx:
        stale = replace(load_draft(tx, h.id), state="approved")   # a record read before it executed
        with pytest.raises(StateError, match="from executed to executing"):
            transition(tx, stale, "executing")


def test_unknown_states_and_state_fields_are_refused(env):
    gate, clock, rec = env
    h = gate.propose(refund(50, confidence=0.5))
    before = dump(gate.store)
    with gate.store.transaction() as tx:
        draft = load_draft(tx, h.id)
        with pytest.raises(StateError, match="cannot go from drafted to archived"):
            transition(tx, draft, "archived")
        with pytest.raises(StateError, match="goes through `transition`"):
            update(tx, draft, state="approved")
        with pytest.raises(StateError, match="cannot start executed"):
            create(tx, replace(draft, id="d_other", idem_key="other", state="executed"))
    assert dump(gate.store) == before


def test_records_round_trip_their_rows(env):
    gate, clock, rec = env
    h = gate.propose(refund(500, confidence=0.5))   # two routes, a deadline, a quorum of two
    with gate.store.snapshot() as tx:
        row = tx.get_action(h.id)
    draft = Draft.from_row(row)
    assert [r.name for r in draft.routes] == ["finance_review"] and draft.routes[0].quorum == 2
    assert draft.routes[0].timeout_seconds == 8 * 3600 and draft.routes[0].escalate_to == "finance_oncall"
    back = draft.to_row()
    assert back == {k: v for k, v in row.items() if k != "seq"}


def _drafted(gate, clock):
    return gate.propose(refund(50, confidence=0.5)).id


def _approved_elsewhere(gate, clock):
    # approved in a process without the executor, so it waits, approved, for this one
    aid = gate.propose(refund(50, confidence=0.5)).id
    ex = gate._executors.pop("issue_refund")
    assert gate.approve(aid, by="lea").state == "approved"
    gate._executors["issue_refund"] = ex
    return aid


# (what to set up, the edge removed from the table, the verb that needs that edge)
CASES = {
    "propose drafts": (None, (None, "drafted"), lambda g, c, aid: g.propose(refund(60, confidence=0.5))),
    "propose allows": (None, (None, "approved"), lambda g, c, aid: g.propose(refund(10))),
    "approve": (_drafted, ("drafted", "approved"), lambda g, c, aid: g.approve(aid, by="lea")),
    "reject": (_drafted, ("drafted", "rejected"), lambda g, c, aid: g.reject(aid, by="lea", reason="no")),
    "edit stricter": (_drafted, ("drafted", "denied"),
                      lambda g, c, aid: g.edit(aid, by="lea", edits={"amount": 600})),
    "timeout": (_drafted, ("drafted", "escalated"), lambda g, c, aid: (c.advance(hours=4), g.expire_due())),
    "execute": (_approved_elsewhere, ("approved", "executing"), lambda g, c, aid: g.execute(aid)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_verb_changes_state_through_transition(env, monkeypatch, case):
    gate, clock, rec = env
    setup, (frm, to), verb = CASES[case]
    aid = setup(gate, clock) if setup is not None else None
    before = dump(gate.store)
    monkeypatch.setitem(TRANSITIONS, frm, TRANSITIONS[frm] - {to})
    with pytest.raises(StateError, match=f"cannot (go from {frm} to|start) {to}"):
        verb(gate, clock, aid)
    assert dump(gate.store) == before
    assert rec.calls == [] and gate.verify().ok
    monkeypatch.undo()
    verb(gate, clock, aid)   # with the edge back, the same verb goes through
    assert dump(gate.store) != before


@pytest.mark.parametrize("column, value", [("last_decision", '["cfo"]'), ("routes", '{"amount": 1}'),
                                           ("routes", '[{"name": "team_review"}]'), ("args", "[]"),
                                           ("closing", '{"ask": 1}'), ("deadline", '"soon"')])
def test_a_row_of_a_shape_the_workflow_never_writes_is_a_store_error(env, column, value):
    from engine.live.store import StoreError
    gate, clock, rec = env
    ex = gate._executors.pop("issue_refund")
    aid = gate.propose(refund(50, confidence=0.5)).id
    assert gate.approve(aid, by="lea").state == "approved"
    gate._executors["issue_refund"] = ex
    if is_pg(gate.store) and column == "deadline":
        # PostgreSQL's typed column refuses the text outright: the shape cannot even be stored
        import psycopg
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            raw(gate.store, f"UPDATE actions SET {column} = ? WHERE id = ?", (value, aid))
        return
    raw(gate.store, f"UPDATE actions SET {column} = ? WHERE id = ?", (value, aid))
    for verb in (lambda: gate.get(aid), lambda: gate.execute(aid), gate.resume, gate.history):
        with pytest.raises(StoreError, match=f"holds a `{column}` the workflow never writes"):
            verb()
    assert rec.calls == []
