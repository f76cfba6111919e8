"""The LangGraph / LangChain adapter end to end: a scripted model, create_agent, the policy, people and the store."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

pytest.importorskip("langchain", reason="the adapter needs the `langgraph` extra: pip install 'signoff[langgraph]'")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.prebuilt.tool_node import ToolCallRequest  # noqa: E402
from langgraph.types import Command  # noqa: E402

from click.testing import CliRunner  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from cli.audit_cmd import audit  # noqa: E402
from engine import Gate, Identity, SQLiteStore, load_policy  # noqa: E402
from engine.adapters.langgraph import SignoffMiddleware  # noqa: E402

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)

POLICY = """
policy "agent-test"
version "1"

route team_review {
  approvers "team_lead"
  quorum 1
  timeout 4h
}
route finance_review {
  approvers "finance_manager", "cfo"
  quorum 2
}

tool lookup_order {
  risk low
}
tool issue_refund {
  schema {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}
  risk medium when args.amount <= 100
  risk high otherwise
}
tool close_account {
  risk low
}

category low {
  allow
}
category medium {
  require approval via team_review
}
category high {
  require approval via finance_review
}

check refund_cap on issue_refund {
  require args.amount <= 500 else deny "refund over 500"
}
check reason_given on issue_refund {
  require args.reason present else ask "Why is the refund due?"
}
check closing_needs_ops on close_account {
  require false else escalate to "ops_oncall"
}

unknown tools require approval via team_review
"""

TENANT = {"tenant": {"id": "acme", "plan": "business"}, "confidence": 0.95}
BOT = Identity("support-bot", {"agent"}, "acme")
LEA = Identity("lea", {"team_lead"}, "acme")
FIONA = Identity("fiona", {"finance_manager"}, "acme")
CARL = Identity("carl", {"cfo"}, "acme")


class ScriptedModel(GenericFakeChatModel):
    """A chat model that says what the test scripted; tools are bound by create_agent and ignored here."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self


def calls(*specs: tuple) -> AIMessage:
    """An AI message calling tools: (name, args, id) each."""
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i, "type": "tool_call"} for n, a, i in specs])


class Ran:
    """The tools of the test agent, counting every real execution."""

    def __init__(self) -> None:
        self.log: List[tuple] = []

        @tool
        def lookup_order(order_id: str) -> str:
            """Look up an order."""
            self.log.append(("lookup_order", order_id))
            return f"order {order_id} shipped"

        @tool
        def issue_refund(amount: int, reason: str = "") -> str:
            """Refund a customer."""
            self.log.append(("issue_refund", amount))
            return f"refunded {amount}"

        @tool
        def close_account(account: str) -> str:
            """Close an account."""
            self.log.append(("close_account", account))
            return "closed"

        @tool
        def wire_money(amount: float) -> str:
            """A tool the policy does not declare."""
            self.log.append(("wire_money", amount))
            return "wired"

        self.tools = [lookup_order, issue_refund, close_account, wire_money]


@pytest.fixture
def env(tmp_path: Path):
    (tmp_path / "agent.policy").write_text(POLICY, encoding="utf-8")
    policy = load_policy(str(tmp_path / "agent.policy"))
    store = SQLiteStore(str(tmp_path / "signoff.db"))
    gate = Gate(policy, store, clock=lambda: NOW, identities=[BOT, LEA, FIONA, CARL])
    yield {"dir": tmp_path, "policy": policy, "store": store, "gate": gate}
    store.close()


def agent(signoff: SignoffMiddleware, script: List[AIMessage], ran: Ran, checkpointer: Any = "memory") -> Any:
    model = ScriptedModel(messages=iter(script + [AIMessage(content="done")] * 3))
    saver = InMemorySaver() if checkpointer == "memory" else checkpointer
    return create_agent(model, tools=ran.tools, middleware=[signoff], checkpointer=saver)


def config(thread: str = "t1", **extra: Any) -> Dict[str, Any]:
    return {"configurable": {"thread_id": thread, **extra}}


def start(graph: Any, cfg: Dict[str, Any]) -> Any:
    return graph.invoke({"messages": [{"role": "user", "content": "help the customer"}]}, cfg, version="v2")


def tool_messages(out: Any) -> List[ToolMessage]:
    return [m for m in out.value["messages"] if isinstance(m, ToolMessage)]


def drafts(gate: Gate) -> List[dict]:
    return list(gate.history())


def events(gate: Gate, draft_id: str) -> List[tuple]:
    with gate.store.snapshot() as tx:
        return [(e["kind"], e["actor"]) for e in tx.events(draft_id)]


def only_draft(gate: Gate) -> str:
    [line] = drafts(gate)
    return line["signoff"]["draft"]


# ---------------------------------------------------------------- allow

def test_an_allowed_call_runs_once_and_the_log_has_every_step(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT)
    out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config())
    assert out.interrupts == ()
    assert ran.log == [("lookup_order", "A1")]
    [msg] = tool_messages(out)
    assert msg.content == "order A1 shipped" and msg.status == "success"
    gate = env["gate"]
    [line] = drafts(gate)
    assert line["executed"] is True and line["agent"] == {"id": "support-bot"} and line["tenant"]["id"] == "acme"
    assert [k for k, _ in events(gate, line["signoff"]["draft"])] == \
        ["proposed", "decided", "decided", "executing", "executed"]
    assert gate.get(line["signoff"]["draft"]).result == "order A1 shipped"
    assert gate.verify().ok


# ---------------------------------------------------------------- require approval: approve, edit, reject

def test_approval_pauses_with_a_hitl_request_and_the_resume_is_an_authenticated_approval(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 80, "reason": "late"}, "c1"))], ran)
    out = start(graph, config())
    assert ran.log == []                                        # nothing runs before the approval
    [pause] = out.interrupts
    value = pause.value
    draft = only_draft(env["gate"])
    # both shapes of HumanInTheLoopMiddleware's request, so its UIs read it
    assert value["type"] == "tool_approval" and value["tool_call_id"] == "c1" and value["name"] == "issue_refund"
    assert value["args"] == {"amount": 80, "reason": "late"}
    assert value["action_requests"] == [{"name": "issue_refund", "args": {"amount": 80, "reason": "late"},
                                         "description": value["description"]}]
    assert value["review_configs"] == [{"action_name": "issue_refund",
                                        "allowed_decisions": ["approve", "edit", "reject"]}]
    assert value["signoff"]["draft"] == draft and value["signoff"]["state"] == "drafted"
    assert "team_review" in value["description"]
    json.dumps(value)                                           # a checkpointer and a UI can carry it

    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert out.interrupts == ()
    assert ran.log == [("issue_refund", 80)]
    assert tool_messages(out)[-1].content == "refunded 80"
    gate = env["gate"]
    assert len(drafts(gate)) == 1                               # the node re-ran on resume: one proposal
    assert events(gate, draft) == [("proposed", "support-bot"), ("decided", "signoff"), ("approved", "lea"),
                                   ("decided", "signoff"), ("executing", "signoff"), ("executed", "signoff")]
    assert drafts(gate)[0]["human"]["approved_by"] == ["lea"]
    assert gate.verify().ok
    result = CliRunner().invoke(audit, ["verify", "--store", str(env["dir"] / "signoff.db")])
    assert result.exit_code == 0, result.output


def test_a_batched_hitl_response_is_accepted(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 60, "reason": "dup"}, "c1"))], ran)
    start(graph, config())
    out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config(), version="v2")
    assert out.interrupts == () and ran.log == [("issue_refund", 60)]


def test_an_edit_is_decided_again_approved_and_run_with_the_edited_arguments(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    edit = {"type": "edit", "edited_action": {"name": "issue_refund", "args": {"amount": 40, "reason": "late"}}}
    out = graph.invoke(Command(resume=edit), config(), version="v2")
    assert ran.log == [("issue_refund", 40)]                    # the reviewer's arguments ran, not the model's
    msg = tool_messages(out)[-1]
    assert "refunded 40" in msg.content and "reviewer changed the arguments" in msg.content
    gate = env["gate"]
    draft = only_draft(gate)
    assert [k for k, _ in events(gate, draft)] == ["proposed", "decided", "edited", "decided", "approved",
                                                   "decided", "executing", "executed"]
    line = drafts(gate)[0]
    assert line["args"] == {"amount": 90, "reason": "late"}    # the proposal stays what the model asked
    assert line["signoff"]["executed_args"] == {"amount": 40, "reason": "late"}
    assert gate.verify().ok


def test_an_edit_into_a_denial_closes_the_draft_and_nothing_runs(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    edit = {"type": "edit", "edited_action": {"name": "issue_refund", "args": {"amount": 900, "reason": "late"}}}
    out = graph.invoke(Command(resume=edit), config(), version="v2")
    assert ran.log == []
    msg = tool_messages(out)[-1]
    assert msg.status == "error" and "refund over 500" in msg.content and "was not run" in msg.content
    assert env["gate"].get(only_draft(env["gate"])).state == "denied"


def test_a_rejection_reaches_the_model_with_its_reason(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    out = graph.invoke(Command(resume={"type": "reject", "message": "already refunded"}), config(), version="v2")
    assert ran.log == []
    msg = tool_messages(out)[-1]
    assert msg.status == "error" and "rejected by lea: already refunded" in msg.content
    assert msg.artifact["signoff"]["code"] == "rejected"
    gate = env["gate"]
    assert events(gate, only_draft(gate))[-1] == ("rejected", "lea")
    assert gate.verify().ok


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_quorum_of_two_pauses_twice_and_each_decision_is_its_own_reviewers(env, second):
    """The approver function authenticates each resume from the run's config. The node's re-run replays the
    first resume value: it must not be recorded again, as the second reviewer's approval, before the second
    reviewer's own decision (a rejection would then come too late)."""
    ran = Ran()
    people = {"fiona": FIONA, "carl": CARL}
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT,
                                approver=lambda decision, cfg: people.get(cfg["configurable"].get("user")))
    graph = agent(signoff, [calls(("issue_refund", {"amount": 300, "reason": "broken"}, "c1"))], ran)
    start(graph, config())
    out = graph.invoke(Command(resume={"type": "approve"}), config(user="fiona"), version="v2")
    [pause] = out.interrupts                                    # one of two: it pauses again
    assert "1 of 2" in pause.value["signoff"]["message"] and ran.log == []
    out = graph.invoke(Command(resume={"type": second, "message": "no"}), config(user="carl"), version="v2")
    gate = env["gate"]
    acts = [e for e in events(gate, only_draft(gate)) if e[0] in ("approved", "rejected")]
    assert out.interrupts == ()
    if second == "approve":
        assert ran.log == [("issue_refund", 300)]
        assert acts == [("approved", "fiona"), ("approved", "carl")]
        assert drafts(gate)[0]["human"]["approved_by"] == ["fiona", "carl"]
    else:
        assert ran.log == [] and acts == [("approved", "fiona"), ("rejected", "carl")]
    assert gate.verify().ok


def test_an_approval_after_the_routes_timeout_comes_too_late(env):
    ran = Ran()
    now = [NOW]
    gate = Gate(env["policy"], env["store"], clock=lambda: now[0])
    signoff = SignoffMiddleware(gate, agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    now[0] = NOW + timedelta(hours=5)
    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    msg = tool_messages(out)[-1]
    assert out.interrupts == () and ran.log == []
    assert msg.artifact["signoff"]["code"] == "expired" and "nobody approved within 4h" in msg.content
    assert gate.verify().ok


def test_the_same_reviewer_twice_is_one_approval_of_two(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=FIONA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 300, "reason": "broken"}, "c1"))], ran)
    start(graph, config())
    [pause] = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2").interrupts
    with pytest.raises(ValidationError, match="`fiona` has approved these arguments already"):
        graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert [i.id for i in graph.get_state(config()).interrupts] == [pause.id] and ran.log == []


# ---------------------------------------------------------------- who may decide

def broken_authenticator(decision, cfg):
    raise RuntimeError("the token service is down")


@pytest.mark.parametrize("authenticate", [lambda decision, cfg: None, broken_authenticator], ids=["none", "raises"])
def test_a_resume_the_authenticator_refuses_records_nothing_and_stays_unanswered(env, authenticate):
    """As HumanInTheLoopMiddleware's per-call mode does with an answer that does not fit: the resume raises to
    whoever sent it, nothing is saved, and the same interrupt can be answered again."""
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=authenticate)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    [pause] = start(graph, config()).interrupts
    with pytest.raises(ValidationError, match="the reviewer could not be authenticated"):
        graph.invoke(Command(resume={"type": "approve", "by": "lea"}), config(), version="v2")
    assert [i.id for i in graph.get_state(config()).interrupts] == [pause.id]
    assert ran.log == [] and env["gate"].get(only_draft(env["gate"])).state == "drafted"
    assert "approved" not in [k for k, _ in events(env["gate"], only_draft(env["gate"]))]


def test_with_an_approver_an_approval_made_in_the_inbox_counts_too(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    [pause] = start(graph, config()).interrupts
    Gate(env["policy"], env["store"], clock=lambda: NOW).approve(pause.value["signoff"]["draft"], by="lea")
    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert ran.log == [("issue_refund", 90)] and out.interrupts == ()
    assert [k for k, _ in events(env["gate"], only_draft(env["gate"]))].count("approved") == 1


def test_a_refused_resume_is_not_judged_again_as_the_next_reviewers(env):
    """Mallory's approval is refused; when Lea then resumes with a rejection, the node's re-run replays
    Mallory's value first: it must not become Lea's approval (and run the refund before her rejection)."""
    ran = Ran()
    people = {"lea": LEA}
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT,
                                approver=lambda decision, cfg: people.get(cfg["configurable"].get("user")))
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    with pytest.raises(ValidationError, match="could not be authenticated"):
        graph.invoke(Command(resume={"type": "approve"}), config(user="mallory"), version="v2")
    out = graph.invoke(Command(resume={"type": "reject", "message": "no"}), config(user="lea"), version="v2")
    assert ran.log == [] and tool_messages(out)[-1].artifact["signoff"]["code"] == "rejected"


@pytest.mark.parametrize("who, amount", [(BOT, 90), (LEA, 300)], ids=["the proposer", "not on the route"])
def test_a_reviewer_the_routes_do_not_allow_records_nothing(env, who, amount):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=who)
    graph = agent(signoff, [calls(("issue_refund", {"amount": amount, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    with pytest.raises(ValidationError, match=f"`{who.id}`"):
        graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert ran.log == [] and env["gate"].get(only_draft(env["gate"])).state == "drafted"


def test_a_decision_that_is_not_approve_edit_or_reject_is_refused(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    start(graph, config())
    for bad in ({"type": "respond", "message": "done"}, "yes", {"decisions": []},
                {"type": "edit", "edited_action": {"name": "wire_money", "args": {"amount": 1}}}):
        with pytest.raises(ValidationError):
            graph.invoke(Command(resume=bad), config(), version="v2")
        assert ran.log == [] and env["gate"].get(only_draft(env["gate"])).state == "drafted"
    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert out.interrupts == () and ran.log == [("issue_refund", 90)]


def test_without_an_approver_the_graph_waits_for_the_inbox(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, inbox_url="https://signoff.example/")
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)
    out = start(graph, config())
    [pause] = out.interrupts
    assert pause.value["review_configs"][0]["allowed_decisions"] == []
    link = f"https://signoff.example/inbox/drafts/{pause.value['signoff']['draft']}"
    assert pause.value["signoff"]["link"] == link and link in pause.value["description"]
    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")   # not an approval
    [pause] = out.interrupts
    assert "inbox" in pause.value["signoff"]["note"] and ran.log == []
    # a person approves elsewhere (the inbox, the CLI): another gate on the same store
    people = Gate(env["policy"], env["store"], clock=lambda: NOW)
    people.approve(pause.value["signoff"]["draft"], by="lea")
    out = graph.invoke(Command(resume="look again"), config(), version="v2")
    assert out.interrupts == () and ran.log == [("issue_refund", 90)]
    assert env["gate"].verify().ok


# ---------------------------------------------------------------- ask, escalate, deny, unknown tools

def test_ask_escalate_and_deny_come_back_as_tool_messages_with_the_reason(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    script = [calls(("issue_refund", {"amount": 50}, "c1"), ("close_account", {"account": "x"}, "c2"),
                    ("issue_refund", {"amount": 800, "reason": "r"}, "c3"))]
    out = start(agent(signoff, script, ran), config())
    assert out.interrupts == () and ran.log == []
    by_id = {m.tool_call_id: m for m in tool_messages(out)}
    assert "Why is the refund due?" in by_id["c1"].content and by_id["c1"].artifact["signoff"]["code"] == "asked"
    assert "escalated to ops_oncall" in by_id["c2"].content
    assert "refund over 500" in by_id["c3"].content and by_id["c3"].artifact["signoff"]["code"] == "denied"
    assert all(m.status == "error" and "was not run" in m.content for m in by_id.values())
    assert env["gate"].verify().ok


def test_a_tool_the_policy_does_not_declare_follows_its_unknown_tools_line(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    out = start(agent(signoff, [calls(("wire_money", {"amount": 5}, "c1"))], ran), config())
    [pause] = out.interrupts                                    # `unknown tools require approval via team_review`
    assert pause.value["name"] == "wire_money" and ran.log == []


def test_unknown_tools_deny_is_a_denial(env, tmp_path):
    (tmp_path / "deny.policy").write_text(POLICY.replace("unknown tools require approval via team_review",
                                                         "unknown tools deny"), encoding="utf-8")
    ran = Ran()
    signoff = SignoffMiddleware(str(tmp_path / "deny.policy"), str(tmp_path / "deny.db"), agent=BOT, fields=TENANT)
    out = start(agent(signoff, [calls(("wire_money", {"amount": 5}, "c1"))], ran), config())
    [msg] = tool_messages(out)
    assert out.interrupts == () and ran.log == [] and msg.artifact["signoff"]["code"] == "denied"


# ---------------------------------------------------------------- re-runs: never twice

def test_parallel_calls_resume_without_running_the_allowed_one_twice(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"),
                                  ("issue_refund", {"amount": 70, "reason": "late"}, "c2"))], ran)
    out = start(graph, config())
    assert len(out.interrupts) == 1 and ran.log == [("lookup_order", "A1")]
    graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert sorted(ran.log) == [("issue_refund", 70), ("lookup_order", "A1")]
    assert len(drafts(env["gate"])) == 2


def test_two_calls_waiting_at_once_are_answered_by_interrupt_id(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 70, "reason": "late"}, "c1"),
                                  ("issue_refund", {"amount": 30, "reason": "dup"}, "c2"))], ran)
    out = start(graph, config())
    assert len(out.interrupts) == 2 and ran.log == []
    answers = {p.id: {"type": "approve"} if p.value["tool_call_id"] == "c1" else {"type": "reject", "message": "no"}
               for p in out.interrupts}
    out = graph.invoke(Command(resume=answers), config(), version="v2")
    assert out.interrupts == () and ran.log == [("issue_refund", 70)]
    by_id = {m.tool_call_id: m for m in tool_messages(out)}
    assert by_id["c1"].content == "refunded 70" and by_id["c2"].artifact["signoff"]["code"] == "rejected"
    assert len(drafts(env["gate"])) == 2 and env["gate"].verify().ok


def test_the_same_thread_and_call_id_is_one_proposal_a_new_thread_another(env):
    """The idempotency key is the thread id and the tool-call id: a re-run of a node (a retry after a crash
    between the tool and the checkpoint) returns the recorded result; the same id in another thread is new."""
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT)
    script = [calls(("lookup_order", {"order_id": "A1"}, "c1"))]
    start(agent(signoff, script, ran, checkpointer=InMemorySaver()), config("t1"))
    out = start(agent(signoff, script, ran, checkpointer=InMemorySaver()), config("t1"))  # checkpoint lost
    assert ran.log == [("lookup_order", "A1")] and tool_messages(out)[0].content == "order A1 shipped"
    start(agent(signoff, script, ran), config("t2"))
    assert ran.log == [("lookup_order", "A1")] * 2 and len(drafts(env["gate"])) == 2


def test_a_run_that_died_while_the_tool_ran_is_never_run_again(env):
    """A process that died between the claim and the result leaves the draft executing; the re-run of the node
    tells the model and does not run the tool a second time."""
    gate = env["gate"]
    action = {**TENANT, "tool": "lookup_order", "args": {"order_id": "A1"}, "agent": {"id": "support-bot"}}
    h = gate.propose(action, by=BOT, idempotency_key="langgraph:t1:c1")   # what the dead run had done
    gate.claim(h.id, by=BOT)
    ran = Ran()
    signoff = SignoffMiddleware(gate, agent=BOT, fields=TENANT)
    out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config("t1"))
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.artifact["signoff"]["code"] == "executing" and len(drafts(gate)) == 1


def test_a_tool_call_id_reused_with_other_arguments_runs_nothing(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT)
    graph = agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1")),
                            calls(("lookup_order", {"order_id": "B2"}, "c1"))], ran)
    out = start(graph, config())
    first, second = tool_messages(out)
    assert ran.log == [("lookup_order", "A1")] and first.status == "success"
    assert second.artifact["signoff"]["code"] == "reused_tool_call_id" and "`c1`" in second.content


# ---------------------------------------------------------------- fail closed

def test_a_policy_that_fails_to_load_runs_nothing(env, tmp_path, caplog):
    (tmp_path / "broken.policy").write_text("policy \"x\" tool {", encoding="utf-8")
    ran = Ran()
    signoff = SignoffMiddleware(str(tmp_path / "broken.policy"), str(tmp_path / "s.db"), agent=BOT, fields=TENANT)
    with caplog.at_level(logging.WARNING, logger="signoff.adapters.langgraph"):
        out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config())
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.status == "error" and msg.artifact["signoff"]["code"] == "policy_unavailable"
    assert "was not run" in msg.content and "Traceback" not in msg.content
    assert any("policy" in r.getMessage() and "failed to load" in r.getMessage() for r in caplog.records)


def test_a_store_that_cannot_be_reached_runs_nothing(env, tmp_path, caplog):
    ran = Ran()
    signoff = SignoffMiddleware(env["policy"], str(tmp_path / "no" / "such" / "dir" / "s.db"), agent=BOT,
                                fields=TENANT)
    with caplog.at_level(logging.WARNING, logger="signoff.adapters.langgraph"):
        out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config())
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.artifact["signoff"]["code"] == "store_unavailable"
    assert any("cannot be opened" in r.getMessage() for r in caplog.records)


def test_a_postgres_store_that_refuses_connections_runs_nothing(env):
    pytest.importorskip("psycopg", reason="the PostgreSQL store needs the `postgres` extra")
    ran = Ran()
    signoff = SignoffMiddleware(env["policy"], "postgresql://signoff@127.0.0.1:1/signoff", agent=BOT, fields=TENANT)
    out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config())
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.artifact["signoff"]["code"] == "store_unavailable"
    assert "postgresql" not in msg.content                     # the operator's log has the URL, not the model


def test_a_store_that_fails_mid_run_runs_nothing(env, caplog):
    ran = Ran()
    store = SQLiteStore(str(env["dir"] / "closing.db"))
    signoff = SignoffMiddleware(Gate(env["policy"], store, clock=lambda: NOW), agent=BOT, fields=TENANT)
    store.close()
    with caplog.at_level(logging.WARNING, logger="signoff.adapters.langgraph"):
        out = start(agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"))], ran), config())
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.status == "error" and msg.artifact["signoff"]["code"] == "internal_error"
    assert caplog.records


def test_arguments_that_are_not_a_json_object_run_nothing(env, caplog):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT)
    with caplog.at_level(logging.WARNING, logger="signoff.adapters.langgraph"):
        out = start(agent(signoff, [calls(("issue_refund", {"amount": float("nan"), "reason": "x"}, "c1"))], ran),
                    config())
    [msg] = tool_messages(out)
    assert ran.log == [] and msg.artifact["signoff"]["code"] == "invalid_arguments"
    assert any("c1" in r.getMessage() and "not valid input" in r.getMessage() for r in caplog.records)
    # args that are not an object at all, handed to the wrapper as a ToolNode would
    request = ToolCallRequest(tool_call={"name": "lookup_order", "args": ["A1"], "id": "c9", "type": "tool_call"},
                              tool=None, state={}, runtime=None)  # type: ignore[arg-type]
    msg = signoff.wrap_tool_call(request, lambda r: pytest.fail("the tool ran"))
    assert msg.artifact["signoff"]["code"] == "invalid_arguments" and drafts(env["gate"]) == []


def test_without_a_checkpointer_an_approval_cannot_pause_and_nothing_runs(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    out = agent(signoff, [calls(("lookup_order", {"order_id": "A1"}, "c1"),
                                ("issue_refund", {"amount": 90, "reason": "late"}, "c2"))], ran,
                checkpointer=None).invoke({"messages": [{"role": "user", "content": "hi"}]}, version="v2")
    by_id = {m.tool_call_id: m for m in tool_messages(out)}
    assert ran.log == [("lookup_order", "A1")]                  # allowed calls still run
    assert by_id["c2"].artifact["signoff"]["code"] == "cannot_pause" and "checkpointer" in by_id["c2"].content


def test_a_tool_that_fails_is_recorded_as_failed(env):
    @tool
    def lookup_order(order_id: str) -> str:
        """Look up an order."""
        raise RuntimeError("backend down")

    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT)
    model = ScriptedModel(messages=iter([calls(("lookup_order", {"order_id": "A1"}, "c1")), AIMessage("done")]))
    graph = create_agent(model, tools=[lookup_order], middleware=[signoff], checkpointer=InMemorySaver())
    with pytest.raises(RuntimeError, match="backend down"):
        start(graph, config())
    h = env["gate"].get(only_draft(env["gate"]))
    assert h.state == "failed" and "backend down" in (h.error or "")
    assert env["gate"].verify().ok


# ---------------------------------------------------------------- async and a hand-built graph

def test_async_agents_are_gated_the_same_way(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    graph = agent(signoff, [calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1"))], ran)

    async def go() -> Any:
        out = await graph.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, config(), version="v2")
        assert len(out.interrupts) == 1 and ran.log == []
        return await graph.ainvoke(Command(resume={"type": "approve"}), config(), version="v2")

    out = asyncio.run(go())
    assert out.interrupts == () and ran.log == [("issue_refund", 90)]


def test_a_hand_built_graph_gates_its_tool_node(env):
    ran = Ran()
    signoff = SignoffMiddleware(env["gate"], agent=BOT, fields=TENANT, approver=LEA)
    model = ScriptedModel(messages=iter([calls(("issue_refund", {"amount": 90, "reason": "late"}, "c1")),
                                         AIMessage("done")]))
    builder = StateGraph(MessagesState)
    builder.add_node("model", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_node("tools", signoff.tool_node(ran.tools))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "model")
    graph = builder.compile(checkpointer=InMemorySaver())
    assert isinstance(signoff.tool_node(ran.tools), ToolNode)
    out = start(graph, config())
    assert len(out.interrupts) == 1 and ran.log == []
    out = graph.invoke(Command(resume={"type": "approve"}), config(), version="v2")
    assert ran.log == [("issue_refund", 90)]
    assert env["gate"].verify().ok
