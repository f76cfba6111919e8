"""The OpenAI Agents SDK adapter end to end: the real `agents` Runner with a scripted Model (no network, no key)."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, List, Optional

import pytest

agents = pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Agent, Model, ModelResponse, RunState, Runner, Usage, function_tool  # noqa: E402
from agents import RunConfig, ToolExecutionConfig, set_tracing_disabled  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText  # noqa: E402

from cli.main import cli  # noqa: E402
from engine import Gate, Handle, Identity, PermissionDenied, SQLiteStore, load_policy  # noqa: E402
from engine.adapters.openai_agents import Refused, Signoff  # noqa: E402

set_tracing_disabled(True)   # nothing may leave the machine

POLICY = str(Path(__file__).resolve().parent.parent / "examples" / "support-ops" / "support.policy")
BOT = Identity("support-bot", {"agent"}, "acme")
LEA = Identity("lea", {"team_lead"}, "acme")
FIONA = Identity("fiona", {"finance_manager"}, "acme")
CARL = Identity("carl", {"cfo"}, "acme")
FIELDS = {"tenant": {"id": "acme", "plan": "business"}, "confidence": 0.8}


class ScriptedModel(Model):
    """Answers each turn with the next scripted output; a turn after the script ends is a plain reply."""

    def __init__(self, *turns: List[Any]):
        self.turns = list(turns)
        self.inputs: List[Any] = []

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, **kwargs) -> ModelResponse:
        self.inputs.append(input)
        out = self.turns.pop(0) if self.turns else [reply("done")]
        return ModelResponse(output=out, usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the tests do not stream")

    def tool_outputs(self) -> dict:
        """What the model was told about each call, by call id, in the last input it saw."""
        last = self.inputs[-1] if self.inputs else []
        return {i["call_id"]: i["output"] for i in last if isinstance(i, dict) and i.get("type") ==
                "function_call_output"}


def call(tool: str, args: Any, call_id: str) -> ResponseFunctionToolCall:
    text = args if isinstance(args, str) else json.dumps(args)
    return ResponseFunctionToolCall(type="function_call", name=tool, arguments=text, call_id=call_id,
                                    id=f"fc_{call_id}", status="completed")


def reply(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(type="message", id="msg_1", role="assistant", status="completed",
                                 content=[ResponseOutputText(type="output_text", text=text, annotations=[])])


class Tools:
    """The agent's real function tools, counting what actually ran."""

    def __init__(self):
        self.ran: List[tuple] = []
        ran = self.ran

        @function_tool(strict_mode=False)   # so `invoice_id` may be left out, and the policy asks for it
        def issue_refund(amount: float, invoice_id: Optional[str] = None) -> dict:
            """Refund an invoice."""
            ran.append(("issue_refund", amount, invoice_id))
            return {"refund_id": f"re_{invoice_id}", "amount": amount}

        @function_tool
        def lookup_order(order_id: str) -> dict:
            """Look an order up."""
            ran.append(("lookup_order", order_id))
            return {"order_id": order_id, "status": "shipped"}

        @function_tool
        def wipe_disk(path: str) -> str:
            """A tool the policy never heard of."""
            ran.append(("wipe_disk", path))
            return "wiped"

        self.all = [issue_refund, lookup_order, wipe_disk]


def setup(db: Path, *turns, policy: str = POLICY, approver: Identity = LEA):
    gate = Gate(load_policy(policy), SQLiteStore(str(db)), identities=[BOT, LEA, FIONA, CARL])
    signoff = Signoff(gate, agent=BOT, approver=approver, fields=FIELDS)
    tools = Tools()
    model = ScriptedModel(*turns)
    agent = Agent(name="support", model=model, tools=signoff.tools(tools.all))
    return gate, signoff, tools, model, agent


def run(agent, what):
    return asyncio.run(Runner.run(agent, what))


def kinds(gate: Gate, draft_id: str) -> List[str]:
    with gate.store.snapshot() as tx:
        return [e["kind"] for e in tx.events(draft_id)]


def only_draft(gate: Gate):
    hist = list(gate.history())
    assert len(hist) == 1, hist
    return gate.get(hist[0]["signoff"]["draft"])


# ---------------------------------------------------------------- the outcomes


def test_allow_runs_the_tool_once_through_the_gate(tmp_path):
    gate, _, tools, model, agent = setup(tmp_path / "s.db", [call("lookup_order", {"order_id": "A1"}, "c1")])
    result = run(agent, "where is A1?")
    assert result.interruptions == [] and result.final_output == "done"
    assert tools.ran == [("lookup_order", "A1")]
    assert "shipped" in model.tool_outputs()["c1"]
    h = only_draft(gate)
    assert h.state == "executed" and h.result == {"order_id": "A1", "status": "shipped"}
    assert kinds(gate, h.id) == ["proposed", "decided", "decided", "executing", "executed"]
    assert gate.verify().ok


def test_require_approval_pauses_the_run_and_an_approval_runs_it_once(tmp_path):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db",
                                               [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund inv_4")
    [item] = result.interruptions
    assert tools.ran == []                                       # paused: nothing ran
    h = signoff.draft(item)
    assert isinstance(h, Handle) and h.state == "drafted" and "team_review" in h.message
    assert only_draft(gate).id == h.id                           # the draft is in the store

    state = result.to_state()
    after = signoff.approve(state, item, comment="checked the invoice")
    assert after.state == "approved"
    result = run(agent, state)
    assert result.final_output == "done" and result.interruptions == []
    assert tools.ran == [("issue_refund", 80.0, "inv_4")]
    assert "re_inv_4" in model.tool_outputs()["c1"]
    h = gate.get(h.id)
    assert h.state == "executed" and h.result == {"refund_id": "re_inv_4", "amount": 80.0}
    # every step: the model's call, the policy's decision, the human, the decision again, the one run
    assert kinds(gate, h.id) == ["proposed", "decided", "approved", "decided", "executing", "executed"]
    with gate.store.snapshot() as tx:
        [approved] = [e for e in tx.events(h.id) if e["kind"] == "approved"]
    assert approved["actor"] == "lea"                            # the configured approver, not the model
    assert gate.verify().ok


def test_a_quorum_of_two_waits_for_the_second_approver(tmp_path):
    gate, signoff, tools, _, agent = setup(tmp_path / "s.db",
                                           [call("issue_refund", {"amount": 250, "invoice_id": "inv_9"}, "c1")])
    result = run(agent, "refund inv_9")
    [item] = result.interruptions
    state = result.to_state()
    assert signoff.approve(state, item, by=FIONA).state == "drafted"     # one of two: still waiting
    assert [i.call_id for i in state.get_interruptions()] == ["c1"]
    assert signoff.approve(state, item, by=CARL).state == "approved"
    run(agent, state)
    assert tools.ran == [("issue_refund", 250.0, "inv_9")]


def test_an_approver_without_the_role_is_refused_and_nothing_runs(tmp_path):
    gate, signoff, tools, _, agent = setup(tmp_path / "s.db",
                                           [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")],
                                           approver=FIONA)
    result = run(agent, "refund")
    state = result.to_state()
    with pytest.raises(PermissionDenied):
        signoff.approve(state, result.interruptions[0])
    assert only_draft(gate).state == "drafted" and tools.ran == []


def test_reject_records_the_reason_and_the_model_reads_it(tmp_path):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db",
                                               [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund inv_4")
    state = result.to_state()
    h = signoff.reject(state, result.interruptions[0], "this customer was refunded yesterday")
    assert h.state == "rejected"
    run(agent, state)
    assert tools.ran == []
    told = model.tool_outputs()["c1"]
    assert "did not run" in told and "this customer was refunded yesterday" in told and "lea" in told
    assert "rejected" in kinds(gate, h.id)


@pytest.mark.parametrize("tool, args, state, words", [
    ("issue_refund", {"amount": 900, "invoice_id": "inv_1"}, "denied", "refund outside 0..500"),
    ("issue_refund", {"amount": 80}, "asked", "Which invoice should be refunded?"),
    ("wipe_disk", {"path": "/"}, "denied", "denied"),          # undeclared: `unknown tools deny`
])
def test_deny_ask_and_unknown_tools_come_back_as_tool_errors(tmp_path, tool, args, state, words):
    gate, _, tools, model, agent = setup(tmp_path / "s.db", [call(tool, args, "c1")])
    result = run(agent, "do it")
    assert result.interruptions == []                            # nobody is asked to approve a refusal
    assert tools.ran == []
    told = model.tool_outputs()["c1"]
    assert told.startswith(f"signoff: `{tool}` did not run") and words in told
    h = only_draft(gate)
    assert h.state == state and "executing" not in kinds(gate, h.id)
    assert result.tool_input_guardrail_results[0].output.behavior["type"] == "reject_content"


def test_unknown_tools_follow_the_policys_line(tmp_path):
    text = Path(POLICY).read_text(encoding="utf-8").replace(
        "unknown tools deny", "unknown tools require approval via team_review")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "refund.json").write_text(
        (Path(POLICY).parent / "schemas" / "refund.json").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "p.policy").write_text(text, encoding="utf-8")
    gate, signoff, tools, _, agent = setup(tmp_path / "s.db", [call("wipe_disk", {"path": "/tmp/x"}, "c1")],
                                           policy=str(tmp_path / "p.policy"))
    result = run(agent, "wipe")
    [item] = result.interruptions
    assert signoff.draft(item).state == "drafted" and tools.ran == []
    state = result.to_state()
    signoff.approve(state, item)
    run(agent, state)
    assert tools.ran == [("wipe_disk", "/tmp/x")]


def test_an_edit_in_the_gate_runs_the_tool_with_the_edited_arguments(tmp_path):
    gate, signoff, tools, _, agent = setup(tmp_path / "s.db",
                                           [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund")
    [item] = result.interruptions
    state = result.to_state()
    assert signoff.approve(state, item, edits={"amount": 60}).state == "approved"
    run(agent, state)
    assert tools.ran == [("issue_refund", 60, "inv_4")]


def test_an_edit_in_the_inbox_is_what_runs_and_a_stricter_one_closes_the_call(tmp_path):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db",
                                               [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund")
    [item] = result.interruptions
    gate.edit(signoff.draft(item).id, by=LEA, edits={"amount": 700})     # now outside 0..500: denied
    state = result.to_state()
    assert signoff.settle(state) == []
    result = run(agent, state)
    assert "refund outside 0..500" in model.tool_outputs()["c1"] and tools.ran == []
    assert result.final_output == "done" and signoff.draft(item).state == "denied"


def test_two_calls_in_one_turn_each_run_at_most_once(tmp_path):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db", [
        call("lookup_order", {"order_id": "A1"}, "c1"),
        call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c2")])
    result = run(agent, "look and refund")
    [item] = result.interruptions
    assert item.call_id == "c2"
    state = result.to_state()
    signoff.approve(state, item)
    result = run(agent, state)
    assert result.final_output == "done"
    assert sorted(tools.ran) == [("issue_refund", 80.0, "inv_4"), ("lookup_order", "A1")]
    assert {h["signoff"]["state"] for h in gate.history()} == {"executed"}


def test_a_call_claimed_elsewhere_is_not_run_again(tmp_path):
    """Another executor holds the claim (or a process died holding it): this run never runs it a second time."""
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db",
                                               [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund")
    [item] = result.interruptions
    state = result.to_state()
    h = signoff.approve(state, item)
    gate.claim(h.id, by=BOT)
    run(agent, state)
    assert tools.ran == [] and "running or was interrupted" in model.tool_outputs()["c1"]
    assert gate.get(h.id).state == "executing"


def test_a_tool_that_fails_is_recorded_as_failed(tmp_path):
    @function_tool(failure_error_function=None)   # the SDK then lets the tool's exception end the run
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        raise RuntimeError("the order service is down")
    gate = Gate(load_policy(POLICY), SQLiteStore(str(tmp_path / "s.db")))
    signoff = Signoff(gate, agent=BOT, fields=FIELDS)
    agent = Agent(name="a", model=ScriptedModel([call("lookup_order", {"order_id": "A1"}, "c1")]),
                  tools=signoff.tools([lookup_order]))
    with pytest.raises(Exception, match="the order service is down"):
        run(agent, "look")
    h = only_draft(gate)
    assert h.state == "failed" and "the order service is down" in h.error
    assert kinds(gate, h.id)[-2:] == ["executing", "failed"]


# ---------------------------------------------------------------- the SDK's approval alone is not enough


def test_approving_only_the_run_state_never_runs_the_tool(tmp_path):
    gate, _, tools, model, agent = setup(tmp_path / "s.db",
                                         [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund")
    state = result.to_state()
    state.approve(result.interruptions[0])                       # the SDK says yes, the gate was never asked
    run(agent, state)
    assert tools.ran == []
    assert "waits for approval" in model.tool_outputs()["c1"]
    assert only_draft(gate).state == "drafted"                   # still in the inbox


def test_guardrails_run_before_the_approval_too(tmp_path):
    """With the SDK's pre-approval guardrails a denial never interrupts, a draft still pauses the run."""
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db",
                                               [call("issue_refund", {"amount": 900, "invoice_id": "inv_1"}, "c1")],
                                               [call("issue_refund", {"amount": 80, "invoice_id": "inv_2"}, "c2")])
    config = RunConfig(tool_execution=ToolExecutionConfig(pre_approval_tool_input_guardrails=True))
    result = asyncio.run(Runner.run(agent, "refund", run_config=config))
    assert "refund outside 0..500" in model.tool_outputs()["c1"]   # refused at once, the model went on
    [item] = result.interruptions
    assert item.call_id == "c2" and signoff.draft(item).state == "drafted"
    state = result.to_state()
    state.approve(item)                                          # the SDK alone: the gated body refuses
    asyncio.run(Runner.run(agent, state, run_config=config))
    assert tools.ran == [] and "waits for approval" in model.tool_outputs()["c2"]


# ---------------------------------------------------------------- a restart between pause and approval


def test_the_draft_survives_a_restart_and_the_cli_approval_runs_it_once(tmp_path):
    db = tmp_path / "s.db"
    gate, signoff, tools, _, agent = setup(db, [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    result = run(agent, "refund inv_4")
    saved = result.to_state().to_string()
    draft_id = signoff.draft(result.interruptions[0]).id
    gate.store.close()                                           # the process ends

    out = CliRunner().invoke(cli, ["approvals", "approve", draft_id, "--store", str(db), "--by", "lea"])
    assert out.exit_code == 0, out.output

    for attempt in (1, 2):                                       # a new process, twice from the same JSON
        gate, signoff, tools2, model, agent = setup(db)
        state = asyncio.run(RunState.from_string(agent, saved))
        assert signoff.settle(state) == []
        result = run(agent, state)
        assert result.final_output == "done"
        assert "re_inv_4" in model.tool_outputs()["c1"]
        assert tools2.ran == ([("issue_refund", 80.0, "inv_4")] if attempt == 1 else [])
        gate.store.close()
    assert tools.ran == []
    gate = Gate(None, SQLiteStore(str(db)))
    h = gate.get(draft_id)
    assert h.state == "executed" and kinds(gate, draft_id).count("executing") == 1
    assert gate.verify().ok


def test_an_approval_in_the_inbox_service_runs_the_call_once(tmp_path):
    """The approver uses `signoff serve` (the HTTP API its inbox posts to) while the agent's process waits."""
    pytest.importorskip("starlette", reason="the server extra is not installed")
    from server_helpers import Server, identities
    from server_helpers import call as http
    db = tmp_path / "s.db"
    keys = identities(db, {"support-bot": (["agent"], "acme", "agent"), "tara": (["team_lead"], "acme", "human")})
    gate = Gate(load_policy(POLICY), SQLiteStore(str(db)))
    signoff = Signoff(gate, agent=BOT, fields=FIELDS)
    tools, model = Tools(), ScriptedModel([call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    agent = Agent(name="support", model=model, tools=signoff.tools(tools.all))
    result = run(agent, "refund")
    [item] = result.interruptions
    draft_id = signoff.draft(item).id
    server = Server(Path(POLICY), db)
    try:
        seen = http("GET", f"{server.url}/v1/drafts/{draft_id}", keys["tara"])
        assert seen.status == 200, seen
        done = http("POST", f"{server.url}/v1/drafts/{draft_id}/approve", keys["tara"], {"hash": seen.json["hash"]})
        assert done.status == 200 and done.json["state"] == "approved", done
    finally:
        server.stop()
    state = result.to_state()
    assert signoff.settle(state) == []
    run(agent, state)
    assert tools.ran == [("issue_refund", 80.0, "inv_4")]
    with gate.store.snapshot() as tx:
        assert [e["actor"] for e in tx.events(draft_id) if e["kind"] == "approved"] == ["tara"]


def test_a_waiting_draft_stays_waiting_across_a_restart(tmp_path):
    db = tmp_path / "s.db"
    gate, _, _, _, agent = setup(db, [call("issue_refund", {"amount": 80, "invoice_id": "inv_4"}, "c1")])
    saved = run(agent, "refund").to_state().to_string()
    gate.store.close()
    gate, signoff, tools, _, agent = setup(db)
    state = asyncio.run(RunState.from_string(agent, saved))
    assert [i.call_id for i in signoff.settle(state)] == ["c1"]
    after = signoff.approve(state, state.get_interruptions()[0])
    assert after.state == "approved"
    run(agent, state)
    assert tools.ran == [("issue_refund", 80.0, "inv_4")]
    assert len(list(gate.history())) == 1                        # found again by its key, never proposed twice


def test_a_call_id_reused_by_another_conversation_needs_its_own_prefix(tmp_path):
    gate, signoff, tools, _, agent = setup(tmp_path / "s.db", [call("lookup_order", {"order_id": "A1"}, "c1")])
    run(agent, "look")
    assert tools.ran == [("lookup_order", "A1")]

    def converse(adapter):
        tools2, model2 = Tools(), ScriptedModel([call("lookup_order", {"order_id": "B2"}, "c1")])
        run(Agent(name="a", model=model2, tools=adapter.tools(tools2.all)), "look")
        return tools2.ran, model2.tool_outputs()["c1"]

    ran, told = converse(signoff)                                # the same key for another action: refused
    assert ran == [] and "was already used for a different action" in told
    ran, told = converse(Signoff(gate, agent=BOT, fields=FIELDS, key_prefix="conversation-2"))
    assert ran == [("lookup_order", "B2")] and "shipped" in told


# ---------------------------------------------------------------- fail closed


@pytest.mark.parametrize("arguments, words", [
    ('["A1"]', "the arguments are not a JSON object"),
    ("not json", "the arguments are not valid JSON (line 1, column 1)"),
    ("", "the arguments are not valid JSON (line 1, column 1)"),
    ('{"order_id": "A1", "order_id": "B2"}', "duplicate key `order_id`"),
    ('{"order_id": NaN}', "`NaN` is not a JSON number"),
    ('{"order_id": 5}', "do not match the tool's parameters: `order_id`: 5 is not of type 'string'"),
    ('{"order_id": "A1", "drop": true}', "do not match the tool's parameters"),
])
def test_model_made_garbage_never_runs_the_tool(tmp_path, caplog, arguments, words):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db", [call("lookup_order", arguments, "c1")])
    caplog.set_level(logging.WARNING, "signoff.adapters.openai_agents")
    result = run(agent, "look")
    if result.interruptions:                                     # the SDK asks for approval of what it cannot read
        state = result.to_state()
        state.approve(result.interruptions[0])                   # even a careless yes at the SDK level
        signoff.settle(state)
        run(agent, state)
    assert tools.ran == []
    told = model.tool_outputs()["c1"]
    assert told.startswith("signoff: `lookup_order` did not run: ") and words in told
    assert any(words in r.getMessage() for r in caplog.records)             # and the operator sees it


def test_a_call_the_adapter_cannot_propose_is_rejected_by_settle(tmp_path):
    gate, signoff, tools, model, agent = setup(tmp_path / "s.db", [call("lookup_order", "[1, 2]", "c1")])
    result = run(agent, "look")
    [item] = result.interruptions
    refused = signoff.draft(item)
    assert isinstance(refused, Refused) and refused.code == "invalid_call"
    state = result.to_state()
    assert signoff.settle(state) == []
    run(agent, state)
    assert tools.ran == [] and "not a JSON object" in model.tool_outputs()["c1"]


def test_an_unreachable_store_never_runs_the_tool(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "signoff.adapters.openai_agents")
    db = tmp_path / "s.db"
    gate, signoff, tools, model, agent = setup(db, [call("issue_refund", {"amount": 80, "invoice_id": "i"}, "c1")])
    result = run(agent, "refund")
    [item] = result.interruptions
    gate.approve(signoff.draft(item).id, by=LEA)                 # approved, then the store goes away
    gate.store.close()
    state = result.to_state()
    assert [i.call_id for i in signoff.settle(state)] == ["c1"]  # unknown: left waiting, not approved
    state.approve(item)
    run(agent, state)
    assert tools.ran == []
    told = model.tool_outputs()["c1"]
    assert told == "signoff: `issue_refund` did not run: the approval store cannot be reached"
    assert any("refused" in r.getMessage() for r in caplog.records)


def test_a_store_that_cannot_be_opened_refuses_every_call(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "signoff.adapters.openai_agents")
    (tmp_path / "not-a-store.db").write_text("hello", encoding="utf-8")
    signoff = Signoff.open(POLICY, str(tmp_path / "not-a-store.db"), agent=BOT, approver=LEA, fields=FIELDS)
    tools, model = Tools(), ScriptedModel([call("lookup_order", {"order_id": "A1"}, "c1")])
    run(Agent(name="a", model=model, tools=signoff.tools(tools.all)), "look")
    assert tools.ran == []
    assert model.tool_outputs()["c1"] == "signoff: `lookup_order` did not run: the approval store cannot be opened"
    assert any(r.levelno == logging.ERROR and "cannot be opened" in r.getMessage() for r in caplog.records)


def test_a_policy_that_fails_to_load_refuses_every_call(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "signoff.adapters.openai_agents")
    (tmp_path / "bad.policy").write_text('policy "x"\ntool {', encoding="utf-8")
    signoff = Signoff.open(str(tmp_path / "bad.policy"), str(tmp_path / "s.db"), agent=BOT, fields=FIELDS)
    tools, model = Tools(), ScriptedModel([call("lookup_order", {"order_id": "A1"}, "c1")])
    run(Agent(name="a", model=model, tools=signoff.tools(tools.all)), "look")
    assert tools.ran == []
    told = model.tool_outputs()["c1"]
    assert "did not run" in told and "failed to load" in told
    assert any("failed to load" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_a_tool_that_already_asks_for_approval_is_refused_at_wrapping(tmp_path):
    gate, signoff, tools, _, _ = setup(tmp_path / "s.db")

    @function_tool(needs_approval=True)
    def pay(amount: float) -> str:
        """Pay."""
        return "paid"
    with pytest.raises(ValueError, match="the policy decides"):
        signoff.tool(pay)

