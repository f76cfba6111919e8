"""LangGraph and LangChain adapter (`signoff[langgraph]`): the policy decides every tool call an agent makes.

`SignoffMiddleware` is an `AgentMiddleware` for `langchain.agents.create_agent`; its `wrap_tool_call` and
`awrap_tool_call` also plug into a plain `langgraph.prebuilt.ToolNode` (`SignoffMiddleware.tool_node`). For
each tool call the gate decides the action with the policy:

- `allow`: the call is claimed in the store (decided once more, counted in the budgets), runs, and its result
  is recorded: exactly once, whoever re-runs the node;
- `require_approval`: the draft is created and the graph pauses with `interrupt()`, whose value reads like a
  `HumanInTheLoopMiddleware` request (per call: `type: "tool_approval"`; batched: `action_requests`). The
  resume value (`approve`, `edit`, `reject`, alone or as `{"decisions": [one]}`) is recorded as the approval
  of the person the adapter's `approver` names (never anyone the model or the resume value claims to be)
  while LangGraph validates it: a decision that cannot be recorded raises to the resumer and is not saved.
  Without an `approver` the graph waits for the inbox: a resume only means "look again";
- `ask`, `escalate`, `deny` (and a rejection, an expiry): a `ToolMessage` with the reason, the tool not run.

The idempotency key of a call is derived from the thread id and the tool-call id, so a node re-run on resume
finds its draft instead of proposing again. Anything that goes wrong before the tool runs — a policy that
does not load, a store that cannot be reached, arguments that are not a JSON object, an internal error —
fails closed: the model gets a tool error (`status="error"`, the code in `artifact["signoff"]["code"]`), the
operator a line on the `signoff.adapters.langgraph` logger, and the tool never runs.

May import: engine's public API (`from engine import ...`), policy_lang's, langgraph and langchain.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from typing import (Annotated, Any, Awaitable, Callable, Dict, Generator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import jsonpatch
from pydantic import AfterValidator
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langgraph.errors import GraphBubbleUp, is_invalid_resume
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt

from engine import (Gate, GateError, Handle, Identity, InputError, Policy, StateError, Store, StoreError, draft_link,
                    load_policy, open_store)

__all__ = ["SignoffMiddleware", "Approver", "Fields", "DECISIONS"]

logger = logging.getLogger("signoff.adapters.langgraph")

# `respond` (a person answering in the tool's place) is HumanInTheLoopMiddleware's too, but it would close a
# draft without any of signoff's verdicts: it is refused like any other unknown decision
DECISIONS = ("approve", "edit", "reject")

# who the resume value's decision is recorded as: a fixed identity (an id registered in the store, or an
# Identity), or a function of (the decision, the run's config) that authenticates it (None: not accepted)
Approver = Union[Identity, str, Callable[[Mapping[str, Any], Mapping[str, Any]], Union[Identity, str, None]]]
# the action's other fields (`tenant`, `confidence`, `context`, `agent`…): fixed, or per call from the request
Fields = Union[Mapping[str, Any], Callable[[ToolCallRequest], Mapping[str, Any]]]

ToolResult = Union[ToolMessage, Command]
# the steps of one tool call: yields the request to run, gets its result back, returns what the model gets
Steps = Generator[ToolCallRequest, ToolResult, ToolResult]


class _Refusal(Exception):
    """A reason the call cannot be decided: its stable code and the message for the model (fails closed)."""

    def __init__(self, code: str, message: str, handle: Optional[Handle] = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.handle = handle


class SignoffMiddleware(AgentMiddleware):
    """Decide every tool call with the policy: allow runs it, require_approval pauses the graph, the rest explain.

    `policy` is a policy file (loaded on the first call: a failure is every call's tool error, retried on the
    next), a `Policy` or a whole `Gate` (then `store` is None); `store` a `Store` or what `open_store` takes (a
    path or a `postgresql://` URL). `agent` is who proposes: an `Identity`, or an id (then an identity of the
    action's tenant with no roles). `fields` are the action's other fields (`tenant`, `confidence`,
    `context`…), fixed or computed per call from the `ToolCallRequest`; never from the model's arguments.
    `approver` says whose approval a resume value is (see `Approver`); None: approvals are made in the inbox
    and the graph waits for them. `inbox_url` (the address of `signoff serve`) puts each draft's inbox page in
    the pause. `clock` is the gate's (tests pass a fixed one); for notification channels, identities, the
    approvals' lifetime or the lease, pass a whole `Gate`.
    """

    def __init__(self, policy: Union[str, "os.PathLike[str]", Policy, Gate], store: Union[str, Store, None] = None,
                 *, agent: Union[Identity, str], fields: Optional[Fields] = None, approver: Optional[Approver] = None,
                 inbox_url: Optional[str] = None, clock: Optional[Callable[[], Any]] = None):
        super().__init__()
        if isinstance(policy, Gate) and store is not None:
            raise ValueError("pass a store or a gate, not both")
        if not isinstance(policy, Gate) and store is None:
            raise ValueError("a store is needed: a path, a `postgresql://` URL or a Store")
        if not isinstance(agent, (Identity, str)) or not agent:
            raise ValueError("`agent` must be an Identity or a non-empty id")
        self._policy = policy
        self._store = store
        self._clock = clock
        self._gate: Optional[Gate] = policy if isinstance(policy, Gate) else None
        self._lock = threading.Lock()
        self.agent = agent
        self.fields = fields if fields is not None else {}
        self.approver = approver
        self.inbox_url = inbox_url

    # ------------------------------------------------------------ plugging in
    def tool_node(self, tools: Sequence[Any], **kwargs: Any) -> ToolNode:
        """A `ToolNode` for `tools` whose every call goes through this gate (for graphs built by hand)."""
        return ToolNode(tools, wrap_tool_call=self.wrap_tool_call, awrap_tool_call=self.awrap_tool_call, **kwargs)

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]
                       ) -> ToolResult:
        """Decide the call; run it through `handler` only when the policy (or the people it names) let it."""
        steps = self._steps(request)
        try:
            to_run = next(steps)
            while True:
                try:
                    result = handler(to_run)
                except BaseException as e:  # GraphBubbleUp included: the steps record it, then it goes on up
                    to_run = steps.throw(e)
                else:
                    to_run = steps.send(result)
        except StopIteration as stop:
            return stop.value

    async def awrap_tool_call(self, request: ToolCallRequest,
                              handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]) -> ToolResult:
        """`wrap_tool_call` for async graphs (the gate's own calls are synchronous: they are short)."""
        steps = self._steps(request)
        try:
            to_run = next(steps)
            while True:
                try:
                    result = await handler(to_run)
                except BaseException as e:
                    to_run = steps.throw(e)
                else:
                    to_run = steps.send(result)
        except StopIteration as stop:
            return stop.value

    # ------------------------------------------------------------ the gate, opened on first use
    def gate(self) -> Gate:
        """The gate (built from the policy and the store on first use); `_Refusal` when either fails."""
        with self._lock:
            if self._gate is not None:
                return self._gate
            policy = self._policy
            if not isinstance(policy, Policy):
                try:
                    policy = load_policy(os.fspath(policy))   # type: ignore[arg-type]
                except Exception as e:  # a PolicyError or an unreadable file: the same refusal for the model
                    logger.error("signoff: the policy %s failed to load; every tool call is refused: %s",
                                 policy, e)
                    raise _Refusal("policy_unavailable", "the policy failed to load") from None
            store = self._store
            if not isinstance(store, Store):
                try:
                    store = open_store(str(store))
                except Exception as e:
                    logger.error("signoff: the store %s cannot be opened; every tool call is refused: %s", store, e)
                    raise _Refusal("store_unavailable", "the approval store cannot be reached") from None
            self._gate = Gate(policy, store, clock=self._clock)
            return self._gate

    # ------------------------------------------------------------ one tool call
    def _steps(self, request: ToolCallRequest) -> Steps:
        call = request.tool_call
        try:
            gate, h, agent, thread = self._propose(request)
            ready = self._until_runnable(gate, h, agent, thread, request)
        except GraphBubbleUp:
            raise   # the pause itself: LangGraph saves it and resumes the node later
        except Exception as e:
            if is_invalid_resume(e):
                raise   # a resume value refused: the resumer gets the error, the interrupt stays unanswered
            return _failed(call, e)
        if isinstance(ready, ToolMessage):
            return ready
        h, claim = ready
        return (yield from self._run(gate, request, h, claim, agent))

    def _until_runnable(self, gate: Gate, h: Handle, agent: Identity, thread: Optional[str],
                        request: ToolCallRequest) -> Union[ToolMessage, Tuple[Handle, Any]]:
        """Follow the draft until this run may execute it (the handle and its claim) or it closed (the message
        for the model), pausing with interrupt() while it waits for people."""
        call = request.tool_call
        asked = 0   # interrupts raised in this run of the node, in order: what replayed resume values refer to
        for _ in range(1000):   # every pass changes the draft or pauses; the bound only guards against a loop
            if h.state == "approved":
                try:
                    return h, gate.claim(h.id, by=agent)
                except StateError:
                    # decided again at the claim: sent back for approvals, closed, or claimed by another run
                    h = gate.get(h.id)
                    if h.state == "approved":
                        break
                    continue
            if h.state == "drafted":
                if thread is None:
                    logger.warning("signoff: draft %s (%s) waits for approval but the graph has no thread id "
                                   "(no checkpointer): it cannot pause", h.id, h.tool)
                    where = draft_link(self.inbox_url, h.id) or f"draft `{h.id}`"
                    raise _Refusal("cannot_pause", f"`{h.tool}` waits for approval ({where}) but this graph "
                                   "cannot pause: it has no checkpointer and thread id", h)
                note: Optional[str] = None
                while h.state == "drafted":
                    asked += 1
                    if self.approver is None:
                        value = interrupt(self._request(call, h, note))   # any resume: look again
                        h = gate.get(h.id)
                        note = "this graph takes no approvals from the resume value: approve in the inbox" \
                            if _is_decision(value) and h.state == "drafted" else None
                        continue
                    marker = f"langgraph: thread `{thread}`, tool call `{call.get('id')}`, decision {asked}"
                    # the decision is authenticated and recorded while LangGraph validates the resume value, so
                    # a refused one raises to whoever resumed and is never saved: a re-run of the node replays
                    # only decisions that were recorded, which the marker in their audit record identifies
                    schema = Annotated[Any, AfterValidator(self._answer(gate, h.id, request, marker))]
                    interrupt(self._request(call, h, None), response_schema=schema)
                    h = gate.get(h.id)
                continue
            if h.state == "executed":
                return _message(call, _content(h.result), "success", h)   # it ran already: never twice
            return _closed(call, h)
        raise _Refusal("internal_error", "signoff failed while deciding this call", h)

    def _propose(self, request: ToolCallRequest) -> Tuple[Gate, Handle, Identity, Optional[str]]:
        call = request.tool_call
        call_id, args = call.get("id"), call.get("args")
        if not isinstance(call_id, str) or not call_id:
            raise _Refusal("no_tool_call_id", "the tool call has no id, so signoff cannot tell a re-run from a new "
                           "call")
        if not isinstance(args, dict):
            raise _Refusal("invalid_arguments", "the tool call's arguments must be a JSON object")
        gate = self.gate()
        fields = self.fields(request) if callable(self.fields) else self.fields
        if not isinstance(fields, Mapping):
            raise _Refusal("internal_error", "the adapter's `fields` must be an object")
        action: Dict[str, Any] = {**fields, "tool": call.get("name"), "args": args}
        tenant = action.get("tenant")
        tenant_id = tenant.get("id") if isinstance(tenant, Mapping) else None
        agent = self.agent if isinstance(self.agent, Identity) else Identity(self.agent, frozenset(), tenant_id)
        action["agent"] = {**(action.get("agent") or {}), "id": agent.id}
        thread = _thread_id(request)
        # the same call of the same thread is the same proposal: a node re-run on resume finds its draft
        key = f"langgraph:{thread}:{call_id}" if thread is not None else None
        try:
            h = gate.propose(action, by=agent, idempotency_key=key)
        except InputError as e:
            if key is not None and "already used for a different action" in e.message:
                # a model that numbers its calls afresh each turn: the id no longer tells one call from another
                raise _Refusal("reused_tool_call_id", f"the tool-call id `{call_id}` was already used in this thread "
                               "for a call with other arguments; signoff cannot tell the two apart") from None
            raise _Refusal("invalid_arguments", f"the call is not valid input: {e.message}") from None
        except GateError as e:
            raise _Refusal("refused", e.message) from None
        except StoreError as e:
            logger.error("signoff: the store failed while deciding tool call %s: %s", call_id, e)
            raise _Refusal("store_unavailable", "the approval store cannot be reached") from None
        logger.info("signoff: tool call %s (%s) of thread %s: %s (draft %s)", call_id, action["tool"], thread,
                    h.state, h.id)
        return gate, h, agent, thread

    def _request(self, call: Mapping[str, Any], h: Handle, note: Optional[str]) -> Dict[str, Any]:
        """The interrupt's value: a HumanInTheLoopMiddleware request (per call and batched), plus the draft."""
        link = draft_link(self.inbox_url, h.id)
        how = "approve, edit or reject it here" if self.approver is not None else \
            "approve or reject it in the signoff inbox, then resume to look again"
        lines = [f"signoff: `{h.tool}` {h.message} ({how})"] + [f"- {r}" for r in h.reasons]
        if link:
            lines.append(f"inbox: {link}")
        if note:
            lines.append(f"not recorded: {note}")
        description = "\n".join(lines)
        allowed = list(DECISIONS) if self.approver is not None else []
        return {"type": "tool_approval", "tool_call_id": call.get("id"), "name": h.tool, "args": h.args,
                "description": description,
                "action_requests": [{"name": h.tool, "args": h.args, "description": description}],
                "review_configs": [{"action_name": h.tool, "allowed_decisions": allowed}],
                "signoff": {"draft": h.id, "hash": h.args_hash, "state": h.state, "message": h.message,
                            "routes": h.routes, "reasons": h.reasons, "link": link, "note": note}}

    def _answer(self, gate: Gate, draft_id: str, request: ToolCallRequest, marker: str) -> Callable[[Any], Any]:
        """The check of one interrupt's resume value: it authenticates the reviewer and records the decision on
        the draft, or raises ValueError (LangGraph then refuses the resume value and saves nothing)."""

        def check(value: Any) -> Any:
            try:
                self._record(gate, draft_id, value, request, marker)
            except ValueError as e:
                logger.warning("signoff: draft %s: a resume value was refused: %s", draft_id, e)
                raise
            except Exception:
                logger.exception("signoff: draft %s: cannot record a resume value", draft_id)
                raise ValueError("signoff could not record the decision: try again") from None
            return value

        return check

    def _record(self, gate: Gate, draft_id: str, value: Any, request: ToolCallRequest, marker: str) -> None:
        decision = _decision(value)
        if isinstance(decision, str):
            raise ValueError(decision)
        current = gate.get(draft_id)
        if current.state != "drafted" and not (current.state == "approved" and decision["type"] == "reject"):
            return   # closed or approved meanwhile (in the inbox, by a timeout): that stands
        if _recorded(gate, draft_id, marker):
            return   # a replay: a run before this one recorded it
        try:
            who = self._reviewer(decision, request)
        except Exception:
            logger.exception("signoff: draft %s: the approver function failed", draft_id)
            who = None
        if who is None:
            raise ValueError("the reviewer could not be authenticated")
        expected = decision.get("hash") if isinstance(decision.get("hash"), str) else current.args_hash
        try:
            if decision["type"] == "reject":
                reason = decision.get("message")
                reason = reason if isinstance(reason, str) and reason.strip() else "rejected by the reviewer"
                after = gate.reject(draft_id, by=who, reason=reason)
            elif decision["type"] == "edit":
                after = gate.approve(draft_id, by=who, edits=_edit_patch(current, decision), comment=marker,
                                     expected_hash=expected)
            else:
                after = gate.approve(draft_id, by=who, comment=marker, expected_hash=expected)
        except GateError as e:
            after = gate.get(draft_id)
            if after.state == current.state and after.args_hash == current.args_hash:
                raise ValueError(e.message) from None
            return   # the act changed the draft all the same (it expired first): the new state speaks
        name = who.id if isinstance(who, Identity) else who
        if after.state == "drafted" and not _recorded(gate, draft_id, marker):
            raise ValueError(f"`{name}` has approved these arguments already: another approver is needed")
        logger.info("signoff: draft %s: %s by %s: %s", draft_id, decision["type"], name, after.state)

    def _reviewer(self, decision: Mapping[str, Any], request: ToolCallRequest) -> Union[Identity, str, None]:
        a = self.approver
        if isinstance(a, (Identity, str)):
            return a
        if callable(a):
            config = getattr(getattr(request, "runtime", None), "config", None) or {}
            who = a(decision, config)
            return who if isinstance(who, (Identity, str)) and who else None
        return None

    def _run(self, gate: Gate, request: ToolCallRequest, h: Handle, claim: Any, agent: Identity) -> Steps:
        """Run the claimed call (with the arguments as approved) and record what it did."""
        call = request.tool_call
        edited = claim.args != call.get("args")
        to_run = request.override(tool_call={**call, "args": claim.args}) if edited else request
        try:
            result = yield to_run
        except GraphBubbleUp:
            _complete(gate, h, claim, agent, False, "the tool paused the graph itself, which a gated tool cannot do")
            return _refused(call, "tool_paused", f"`{h.tool}` paused the graph itself: a tool signoff gates must "
                            "not call interrupt(); it was not run to completion", h)
        except BaseException as e:
            _complete(gate, h, claim, agent, False, str(e) or "the tool raised an error")
            raise
        ok, content = _outcome(result, call.get("id"))
        _complete(gate, h, claim, agent, ok, content)
        if edited:
            return _with_notice(result, call.get("id"), claim.args)
        return result


# ---------------------------------------------------------------- helpers

def _failed(call: Mapping[str, Any], e: Exception) -> ToolMessage:
    """The model's tool error for a call that could not be decided, and the operator's log line."""
    tool, call_id = call.get("name") or "", call.get("id")
    if isinstance(e, _Refusal):
        logger.warning("signoff refused tool call %s (%s): %s", call_id, tool, e.message)
        return _refused(call, e.code, e.message, e.handle)
    logger.error("signoff: internal error while deciding tool call %s (%s)", call_id, tool, exc_info=e)
    return _refused(call, "internal_error", "signoff failed while deciding this call")


def _thread_id(request: ToolCallRequest) -> Optional[str]:
    config = getattr(getattr(request, "runtime", None), "config", None) or {}
    thread = (config.get("configurable") or {}).get("thread_id")
    return str(thread) if thread is not None and str(thread) else None


def _is_decision(value: Any) -> bool:
    return isinstance(value, Mapping) and ("type" in value or "decisions" in value)


def _decision(value: Any) -> Union[Mapping[str, Any], str]:
    """The one decision in a resume value, or why there is none."""
    if isinstance(value, Mapping) and "decisions" in value:
        decisions = value["decisions"]
        if not isinstance(decisions, list) or len(decisions) != 1:
            return "a resume value answers one tool call: `decisions` must hold exactly one decision"
        value = decisions[0]
    if not isinstance(value, Mapping) or value.get("type") not in DECISIONS:
        kind = value.get("type") if isinstance(value, Mapping) else None
        return f"the decision `{kind}` is not approve, edit or reject" if isinstance(kind, str) else \
            "a decision is an object whose `type` is approve, edit or reject"
    return value


def _edit_patch(h: Handle, decision: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The JSON Patch from the draft's arguments to the edited ones (an edit gives them whole)."""
    edited = decision.get("edited_action")
    if not isinstance(edited, Mapping) or not isinstance(edited.get("args"), dict):
        raise InputError("an edit needs `edited_action` with `args`, an object")
    if edited.get("name", h.tool) != h.tool:
        raise InputError(f"an edit cannot change the tool `{h.tool}` into another")
    return list(jsonpatch.make_patch(h.args, edited["args"]).patch)


def _recorded(gate: Gate, draft_id: str, marker: str) -> bool:
    """Whether the draft's audit log already holds the act of this decision (a replayed resume value)."""
    with gate.store.snapshot() as tx:
        for e in tx.events(draft_id):
            if e["kind"] in ("approved", "edited"):
                try:
                    payload = json.loads(e["payload"])
                except (TypeError, ValueError):
                    continue
                if isinstance(payload, dict) and payload.get("comment") == marker:
                    return True
    return False


def _outcome(result: Any, call_id: Any) -> Tuple[bool, Any]:
    """(whether the tool succeeded, what to record of its result) for a ToolMessage or a Command."""
    message = result
    if isinstance(result, Command):
        update = result.update if isinstance(result.update, dict) else {}
        found = [m for m in update.get("messages") or [] if isinstance(m, ToolMessage) and m.tool_call_id == call_id]
        if not found:
            return True, None
        message = found[0]
    if isinstance(message, ToolMessage):
        return message.status != "error", message.content
    return True, str(result)


def _complete(gate: Gate, h: Handle, claim: Any, agent: Identity, ok: bool, content: Any) -> None:
    try:
        gate.complete(h.id, claim.lease, ok, content if ok else _text(content), by=agent)
    except Exception:
        # the tool ran (or tried): its lease will settle the draft as interrupted, for a person to reconcile
        logger.exception("signoff: draft %s (%s) ran but its result could not be recorded", h.id, h.tool)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content or "the tool failed"
    return json.dumps(content, default=str)[:2000]


def _content(result: Any) -> Union[str, List[Any]]:
    if isinstance(result, str):
        return result
    if isinstance(result, list):
        return result
    return "" if result is None else json.dumps(result)


def _with_notice(result: ToolResult, call_id: Any, args: Dict[str, Any]) -> ToolResult:
    """Tell the model the tool ran with the arguments a reviewer set, not the ones it sent."""
    notice = (f"note: a reviewer changed the arguments before the tool ran; it ran with {json.dumps(args)}, "
              "which is intended: do not repeat the original call")
    if isinstance(result, ToolMessage):
        return _prepend(result, notice)
    if isinstance(result, Command) and isinstance(result.update, dict):
        messages = [_prepend(m, notice) if isinstance(m, ToolMessage) and m.tool_call_id == call_id else m
                    for m in result.update.get("messages") or []]
        return dataclasses.replace(result, update={**result.update, "messages": messages})
    return result


def _prepend(message: ToolMessage, notice: str) -> ToolMessage:
    if isinstance(message.content, str):
        return message.model_copy(update={"content": f"{notice}\n\n{message.content}"})
    return message.model_copy(update={"content": [{"type": "text", "text": notice}, *message.content]})


def _message(call: Mapping[str, Any], content: Union[str, List[Any]], status: str, h: Optional[Handle],
             code: Optional[str] = None) -> ToolMessage:
    info: Dict[str, Any] = {"code": code or (h.state if h is not None else None)}
    if h is not None:
        info.update(draft=h.id, state=h.state)
    return ToolMessage(content=content, name=call.get("name"), tool_call_id=call.get("id") or "", status=status,
                       artifact={"signoff": info})


def _refused(call: Mapping[str, Any], code: str, message: str, h: Optional[Handle] = None) -> ToolMessage:
    tool = call.get("name") or "?"
    text = message if message.startswith(f"`{tool}`") else \
        f"signoff could not decide this call, so `{tool}` was not run: {message}"
    return _message(call, text, "error", h, code)


_NEXT = {"asked": "call it again with what is asked", "escalated": "people were told; do not retry it",
         "denied": "do not retry it", "rejected": "do not retry it unless the user asks",
         "expired": "nobody approved it in time; do not retry it unless the user asks"}


def _closed(call: Mapping[str, Any], h: Handle) -> ToolMessage:
    """What the model gets for a call that closed without running (ask, escalate, deny, a human's no)."""
    why = h.message
    if h.state == "escalated" and h.reasons:
        why += ": " + "; ".join(h.reasons)
    if h.state == "executing":
        why = f"already executing in another run (draft `{h.id}`)"
    if h.state == "failed":
        why = "an earlier attempt failed: " + (h.error or "unknown error").removeprefix("ReportedFailure: ")
    advice = _NEXT.get(h.state, "do not retry it")
    return _message(call, f"{why}; `{h.tool}` was not run: {advice}", "error", h)
