"""Random sequences of workflow operations never break the state machine's invariants (hypothesis stateful)."""
import json
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import timedelta

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.live.identity import id_key, same_id
from engine.live.store import Identity
from engine.live.workflow import STATES, TERMINAL, TRANSITIONS, GateError, args_hash
from workflow_helpers import PEOPLE, Clock, make_gate, refund, store_path, tx_rows


def reachable(src):
    seen, todo = {src}, [src]
    while todo:
        for nxt in TRANSITIONS.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


EDITS = [None, {"amount": 40}, {"amount": 300}, {"amount": 800}, {"amount": 13},
         [{"op": "remove", "path": "/invoice_id"}], {"note": "checked"}]


# eligible approvers drawn more often than the rest, so quorums are actually reached
APPROVERS = ["lea", "lea", "fiona", "fiona", "carl", "carl", "sam"] + [p.id for p in PEOPLE]
# the same people spelled otherwise (spec §6, v1.1): one canonical id each, never an extra approver
ALIASES = ["LEA", "Ｆｉｏｎａ", "CARL", "ｃａｒｌ", "BOT", "ｂｏｔ", "Fiona"]
AGENTS = ["bot", "bot", "BOT", "ｂｏｔ"]
BY_KEY = {id_key(p.id): p for p in PEOPLE}


class Workflow(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.clock = Clock()
        self.calls = Counter()

        def executor(args, ctx):
            self.calls[ctx.action_id] += 1
            if args.get("amount") == 13:
                raise RuntimeError("unlucky")
            return "ok"

        self.gate = make_gate(store_path(self.dir), self.clock, {"issue_refund": executor},
                              approval_ttl=timedelta(hours=6))
        self.ids = []
        self.seen = {}        # last observed state per action
        self.keys = ["k1", "k2", "k3"]

    def teardown(self):
        self.gate.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(amounts=st.lists(st.sampled_from([50, 80, 300, 450]), min_size=1, max_size=4))
    def drafts(self, amounts):
        # start with drafts waiting, so the human rules have something to act on from step one
        for a in amounts:
            self.ids.append(self.gate.propose(refund(a, 0.5)).id)

    def _draft(self, i):
        return self.ids[i % len(self.ids)]

    @rule(amount=st.sampled_from([10, 13, 50, 80, 300, 450, 900]), confidence=st.sampled_from([0.5, 0.95]),
          invoice=st.sampled_from([True, True, True, False]), tenant=st.sampled_from(["acme", "acme", "globex"]),
          key=st.sampled_from([None, None, "k1", "k2"]), agent=st.sampled_from(AGENTS))
    def propose(self, amount, confidence, invoice, tenant, key, agent):
        extra = {"id": key} if key else {}
        try:
            h = self.gate.propose(refund(amount, confidence, "INV-1" if invoice else None, tenant=tenant,
                                         agent=agent, **extra))
        except GateError:
            return
        if h.id not in self.ids:
            self.ids.append(h.id)

    @precondition(lambda self: self.ids)
    @rule(i=st.integers(0, 50), who=st.sampled_from(APPROVERS), edits=st.sampled_from(EDITS))
    def approve(self, i, who, edits):
        try:
            self.gate.approve(self._draft(i), by=who, edits=edits)
        except GateError:
            pass

    @precondition(lambda self: self.ids)
    @rule(i=st.integers(0, 50), alias=st.sampled_from(ALIASES), lookup=st.booleans())
    def approve_as_alias(self, i, alias, lookup):
        # by the directory (a canonical lookup) or by an Identity the caller vouches for, spelled otherwise
        person = BY_KEY[id_key(alias)]
        by = alias if lookup else Identity(alias, person.roles, person.tenant)
        try:
            self.gate.approve(self._draft(i), by=by)
        except GateError:
            pass

    @precondition(lambda self: self.ids)
    @rule(i=st.integers(0, 50), who=st.sampled_from([p.id for p in PEOPLE]), edits=st.sampled_from(EDITS[1:]))
    def edit(self, i, who, edits):
        try:
            self.gate.edit(self._draft(i), by=who, edits=edits)
        except GateError:
            pass

    @precondition(lambda self: self.ids)
    @rule(i=st.integers(0, 50), who=st.sampled_from([p.id for p in PEOPLE]))
    def reject(self, i, who):
        try:
            self.gate.reject(self._draft(i), by=who, reason="no")
        except GateError:
            pass

    @precondition(lambda self: self.ids)
    @rule(i=st.integers(0, 50))
    def execute(self, i):
        self.gate.execute(self._draft(i))

    @rule(who=st.sampled_from(["lea", "fiona", "carl", "sam", "nora"]),
          route=st.sampled_from(["team_review", "finance_review", "security_review"]),
          cap=st.sampled_from([None, 100]))
    def grant(self, who, route, cap):
        try:
            self.gate.grant(who, route, "issue_refund", self.clock.now + timedelta(hours=10),
                            constraints={"amount": {"max": 100}}, spend_cap=cap,
                            spend_path="amount" if cap is not None else None)
        except GateError:
            pass

    @rule(minutes=st.sampled_from([1, 1, 30, 120, 300, 1000]))
    def wait(self, minutes):
        self.clock.advance(minutes=minutes)

    @rule()
    def expire(self):
        self.gate.expire_due()

    @rule()
    def resume(self):
        self.gate.resume()

    # ------------------------------------------------------------ invariants
    def _records(self):
        with self.gate.store.snapshot() as tx:
            recs = tx.list_actions()
            approvals = {r["id"]: tx.approvals(r["id"]) for r in recs}
            ledger = tx_rows(tx, "SELECT key, t, amount, action_id FROM ledger ORDER BY t")
            events = defaultdict(list)
            for e in tx.events():
                events[e["action_id"]].append(e["kind"])
        return recs, approvals, ledger, events

    @invariant()
    def states_only_move_forward(self):
        recs, *_ = self._records()
        for r in recs:
            assert r["state"] in STATES
            old = self.seen.get(r["id"])
            if old is not None and old != r["state"]:
                assert old not in TERMINAL, (old, r["state"])
                assert r["state"] in reachable(old), (old, r["state"])
            self.seen[r["id"]] = r["state"]

    @invariant()
    def each_action_executes_at_most_once_and_only_when_its_state_says(self):
        recs, approvals, ledger, events = self._records()
        counted = Counter(row[3] for row in ledger)
        for r in recs:
            n = self.calls[r["id"]]
            assert n <= 1
            assert (n == 1) == (r["state"] in ("executed", "failed")), (r["state"], n)
            assert events[r["id"]].count("executing") == n
            # every execution was counted in the budget, nothing else was
            assert (counted[r["id"]] > 0) == (n == 1)
            if n:
                assert r["executed_args"] == r["args"] and args_hash(r["tool"], r["executed_args"]) == r["args_hash"]

    @invariant()
    def executed_drafts_had_their_quorum_from_eligible_people(self):
        recs, approvals, _, _ = self._records()
        for r in recs:
            if r["state"] not in ("executed", "failed") or r["required"] != "require_approval":
                continue
            valid = [a for a in approvals[r["id"]] if a["args_hash"] == r["args_hash"]]
            for a in valid:
                assert not same_id(a["approver"], r["proposer"]), (a["approver"], r["proposer"])
                assert (BY_KEY[id_key(a["approver"])].tenant or "") == r["tenant"]
            for route in r["routes"]:
                # distinct people, not distinct spellings
                who = {id_key(a["approver"]) for a in valid if set(a["roles"]) & set(route["approvers"])}
                assert len(who) >= route["quorum"], (route, who)
                if route["grants_never"]:
                    assert not any(a["grant_id"] for a in valid if set(a["roles"]) & set(route["approvers"]))

    @invariant()
    def no_budget_window_is_overspent(self):
        _, _, ledger, _ = self._records()
        per_key = defaultdict(list)
        for key, t, amount, _ in ledger:
            per_key[key].append((t, amount))
        for key, rows in per_key.items():
            if json.loads(key)[0][0] != "refund_budget":
                continue
            for t, _ in rows:
                assert sum(a for u, a in rows if t - 86400 < u <= t) <= 1000

    @invariant()
    def the_audit_log_verifies_and_the_state_is_its_replay(self):
        res = self.gate.verify()
        assert res.ok and not res.problems, (res.problem, res.problems)


Workflow.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
test_workflow_state_machine = Workflow.TestCase


class WorkflowOnPostgres(Workflow):
    """The same machine on the PostgreSQL store (fewer examples: every example migrates a fresh schema and each
    step is a round trip to the server)."""

    def __init__(self):
        import pg
        import workflow_helpers
        pg.postgres_or_skip()
        workflow_helpers.BACKEND = "postgres"
        try:
            super().__init__()
        finally:
            workflow_helpers.BACKEND = "sqlite"


WorkflowOnPostgres.TestCase.settings = settings(max_examples=15, stateful_step_count=30, deadline=None,
                                                suppress_health_check=[HealthCheck.too_slow])
test_workflow_state_machine_on_postgres = WorkflowOnPostgres.TestCase
