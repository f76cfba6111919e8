"""The OpenAI Agents SDK adapter (`signoff[openai-agents]`): the policy decides every function-tool call.

`Signoff(gate, agent=..., approver=...).tools([...])` returns copies of the agent's function tools in which:

- `needs_approval` proposes the call to the gate (idempotency key from the call id): it is True exactly when
  the policy says `require_approval`, and the draft is then in the store, not only in the run;
- a tool input guardrail rejects, with the policy's reason, every call that is not approved in the store
  (`deny`, `ask`, `escalate`, a draft still waiting, a rejection, any error);
- the tool's body runs only through the gate: claimed once (`Gate.claim`, decided again, counted in the
  budgets), run with the arguments as approved (edits applied), completed with its result in the audit log.

`approve(state, item)` and `reject(state, item, reason)` record the human's act in the gate, by an identity
the application configures (never one the model names), and then mark the SDK's run state; `settle(state)`
carries verdicts given elsewhere (the inbox, `signoff approvals`) onto a run state, also one restored from
JSON in a new process: the draft is found again by its key and runs once. Everything fails closed: an error
never runs the tool; the model gets a tool error that says why and the operator a line on the
`signoff.adapters.openai_agents` logger.

May import: engine's and policy_lang's public API, plus the `agents` package.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

import jsonschema
from agents import (FunctionTool, RunContextWrapper, RunState, ToolApprovalItem, ToolGuardrailFunctionOutput,
                    ToolInputGuardrail, ToolInputGuardrailData)
from agents.tool_context import ToolContext

from engine import (Gate, GateError, Handle, Identity, InputError, PatchError, PermissionDenied, StateError,
                    StoreError, json_value, load_policy, open_store)
from policy_lang import strict_json_loads

__all__ = ["Signoff", "Refused"]

log = logging.getLogger("signoff.adapters.openai_agents")

# states in which the tool may run (approved: claim it now; executed: hand back the recorded result)
_MAY_RUN = ("approved", "executed")


@dataclass(frozen=True)
class Refused:
    """Why a call cannot go ahead when no draft could say it: `code` is stable, `message` is for the model."""
    code: str
    message: str


class _Broken:
    """Stands in for a gate that could not be opened (the policy failed to load, the store is unreachable)."""

    def __init__(self, why: str):
        self.why = why


def _tool_error(tool: str, message: str) -> str:
    return f"signoff: `{tool}` did not run: {message}"


class Signoff:
    """Gate the function tools of an OpenAI Agents SDK agent with a policy.

    `gate` decides and records; `agent` is the identity that proposes every call (the action's `agent.id` and
    tenant come from it); `approver` is who `approve`/`reject` act as when not told otherwise: an identity from
    the application's configuration, never from the model. `fields` are the action's other fields (`tenant`
    with its attributes, `confidence`, `context`…). `key_prefix` goes before each call id to make the
    idempotency key: give one per conversation when call ids might repeat across conversations.
    """

    def __init__(self, gate: Union[Gate, _Broken], agent: Identity, approver: Optional[Identity] = None,
                 fields: Optional[Mapping[str, Any]] = None, key_prefix: str = "openai-agents"):
        if not isinstance(agent, Identity):
            raise TypeError("`agent` must be an Identity")
        if approver is not None and not isinstance(approver, Identity):
            raise TypeError("`approver` must be an Identity")
        self.gate = gate
        self.agent = agent
        self.approver = approver
        self.fields = dict(fields or {})
        if agent.tenant is not None and "tenant" not in self.fields:
            self.fields["tenant"] = {"id": agent.tenant}
        self.key_prefix = key_prefix
        self._schemas: Dict[str, Any] = {}   # the parameters' validator of each tool wrapped, by name

    @classmethod
    def open(cls, policy: str, store: str, agent: Identity, approver: Optional[Identity] = None,
             fields: Optional[Mapping[str, Any]] = None, key_prefix: str = "openai-agents",
             **gate_options: Any) -> "Signoff":
        """Load the policy file and open the store (a path or a PostgreSQL URL). When either fails the error is
        logged and the adapter refuses every call with it, so the agent keeps answering but no tool runs."""
        gate: Union[Gate, _Broken]
        try:
            loaded = load_policy(policy)
        except Exception as e:   # fail closed: without its policy no gated tool may run
            codes = ", ".join(getattr(e, "codes", None) or ())
            gate = _Broken(f"the policy `{policy}` failed to load" + (f" ({codes})" if codes else ""))
        else:
            try:
                gate = Gate(loaded, open_store(store), **gate_options)
            except Exception as e:
                gate = _Broken("the approval store cannot be opened")
                # the store's own words for the operator only (they may name paths or hosts)
                log.error("signoff: the store cannot be opened: %s", _describe(e, "internal error") if
                          not isinstance(e, StoreError) else (e.args[0] if e.args else "store error"))
        if isinstance(gate, _Broken):
            log.error("signoff: every gated tool is refused: %s", gate.why)
        return cls(gate, agent, approver, fields, key_prefix)

    # ------------------------------------------------------------ wrapping tools
    def tools(self, tools: Iterable[FunctionTool]) -> List[FunctionTool]:
        """Gated copies of `tools` (see `tool`)."""
        return [self.tool(t) for t in tools]

    def tool(self, tool: FunctionTool) -> FunctionTool:
        """A copy of `tool` whose calls the policy decides; the original is left as it was. Tools the policy
        does not declare are decided by its `unknown tools` line like any other call."""
        if not isinstance(tool, FunctionTool):
            raise TypeError("only function tools can be gated: wrap the function with @function_tool")
        if tool.needs_approval is not False:
            raise ValueError(f"`{tool.name}` already has needs_approval: the policy decides which calls wait, "
                             "remove it")
        name, body = tool.name, tool.on_invoke_tool
        cls = jsonschema.validators.validator_for(tool.params_json_schema)
        cls.check_schema(tool.params_json_schema)
        params_schema = cls(tool.params_json_schema)

        def propose(args: Any, call_id: Optional[str]) -> Union[Handle, Refused]:
            return self._propose(name, _fits(params_schema, args), call_id)

        async def needs_approval(ctx: RunContextWrapper[Any], params: Dict[str, Any], call_id: str) -> bool:
            found = propose(params, call_id)
            # any other answer goes on to the guardrail, which refuses it with the reason
            return isinstance(found, Handle) and found.state == "drafted"

        def guard(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
            ctx = data.context
            found = propose(_parse(ctx.tool_arguments), ctx.tool_call_id)
            if isinstance(found, Handle) and (found.state in _MAY_RUN or found.state == "drafted"
                                              and _before_approval(ctx)):
                # a waiting draft passes only the SDK's pre-approval run of the guardrail (the run then
                # pauses for it); the run after the approval, and the gated body, refuse it
                return ToolGuardrailFunctionOutput.allow(output_info={"draft": found.id, "state": found.state})
            return ToolGuardrailFunctionOutput.reject_content(_refusal(name, found),
                                                              output_info=_info(found))

        async def invoke(ctx: ToolContext[Any], arguments: str) -> Any:
            return await self._run(name, body, ctx, propose(_parse(arguments), ctx.tool_call_id))

        self._schemas[name] = params_schema

        return dataclasses.replace(
            tool, needs_approval=needs_approval, on_invoke_tool=invoke,
            tool_input_guardrails=[ToolInputGuardrail(guardrail_function=guard, name="signoff"),
                                   *(tool.tool_input_guardrails or [])])

    # ------------------------------------------------------------ the human side
    def draft(self, item: ToolApprovalItem) -> Union[Handle, Refused]:
        """The draft behind an interruption (found by its call id), or why there is none."""
        name = item.name or ""
        args = _parse(item.arguments)
        schema = self._schemas.get(name)
        return self._propose(name, _fits(schema, args) if schema is not None else args, item.call_id)

    def approve(self, state: RunState, item: ToolApprovalItem, by: Optional[Identity] = None,
                comment: Optional[str] = None, edits: Any = None) -> Union[Handle, Refused]:
        """Approve the draft behind `item` as `by` (default: the configured approver), then let the run state
        go on once the gate says the call may run: a quorum not yet met leaves the item waiting, a decision
        made stricter rejects it with the reason. `edits` (a merge patch or a JSON Patch of the arguments) are
        decided again first, and the tool runs with the edited arguments. An approver the route does not accept raises PermissionDenied
        (an application error); a call that cannot be proposed is rejected in the state and returned as Refused,
        and one the gate cannot answer now (the store unreachable) is left waiting and returned as Refused."""
        who = self._who(by)
        found = self.draft(item)
        if isinstance(found, Handle) and found.state == "drafted":
            found = self._gate().approve(found.id, by=who, edits=edits, comment=comment)
        self._mark(state, item, found)
        return found

    def reject(self, state: RunState, item: ToolApprovalItem, reason: str,
               by: Optional[Identity] = None) -> Union[Handle, Refused]:
        """Reject the draft behind `item` as `by` (default: the configured approver) with `reason`, which the
        model reads. The run state is marked rejected whatever the draft's state (a call that cannot be proposed
        included); an approver the route does not accept raises PermissionDenied and changes nothing."""
        who = self._who(by)
        found = self.draft(item)
        if isinstance(found, Handle) and found.state in ("drafted", "approved"):
            found = self._gate().reject(found.id, by=who, reason=reason)
        state.reject(item, rejection_message=_refusal(item.name or "", found))
        return found

    def settle(self, state: RunState) -> List[ToolApprovalItem]:
        """Carry the store's verdicts onto `state` (approved in the inbox or the CLI, rejected, expired…) and
        return the interruptions still waiting for people. A call that cannot be proposed (bad arguments) is
        rejected with the reason; one the gate cannot answer now (store unreachable) is left waiting."""
        return [item for item in state.get_interruptions() if not self._mark(state, item, self.draft(item))]

    # ------------------------------------------------------------ inside
    def _gate(self) -> Gate:
        if isinstance(self.gate, _Broken):
            raise StateError(self.gate.why)
        return self.gate

    def _who(self, by: Optional[Identity]) -> Identity:
        who = by if by is not None else self.approver
        if not isinstance(who, Identity):
            raise PermissionDenied("no approver: configure `approver=` or pass `by=` an Identity")
        return who

    def _mark(self, state: RunState, item: ToolApprovalItem, found: Union[Handle, Refused]) -> bool:
        """Approve or reject `item` in the run state as the gate's answer says; False when it still waits (a
        draft short of its quorum, or a gate that cannot answer now: the store unreachable)."""
        if isinstance(found, Handle) and found.state in _MAY_RUN:
            state.approve(item)
        elif isinstance(found, Handle) and found.state == "drafted" or \
                isinstance(found, Refused) and found.code != "invalid_call":
            return False
        else:
            state.reject(item, rejection_message=_refusal(item.name or "", found))
        return True

    def _propose(self, tool: str, args: Any, call_id: Optional[str]) -> Union[Handle, Refused]:
        """Propose the call (a retry of the same call id finds the same draft); never raises."""
        try:
            if isinstance(args, Refused):
                raise InputError(args.message)
            if not isinstance(call_id, str) or not call_id:
                raise InputError("the call has no call id")
            if not isinstance(args, dict):
                raise InputError("the arguments are not a JSON object")
            gate = self._gate()
            action = {**self.fields, "tool": tool, "args": args, "agent": {**self.fields.get("agent", {}),
                                                                           "id": self.agent.id}}
            return gate.propose(action, by=self.agent, idempotency_key=f"{self.key_prefix}:{call_id}")
        except Exception as e:   # fail closed: whatever went wrong, this call has no approval to run on
            refused = Refused(_code(e), _describe(e, "internal error"))
            log.warning("signoff: `%s` (call %s) refused: %s", tool, call_id, refused.message)
            return refused

    async def _run(self, tool: str, body: Any, ctx: ToolContext[Any], found: Union[Handle, Refused]) -> Any:
        """The gated body: claim the approved draft, run the tool once with its arguments, record the outcome."""
        if not isinstance(found, Handle) or found.state not in _MAY_RUN:
            return _tool_error(tool, _refusal_text(found))
        if found.state == "executed":   # this call ran already (a run resumed twice): its recorded result
            return found.result
        gate = self._gate()
        try:
            claim = gate.claim(found.id, by=self.agent)
        except Exception as e:   # claimed elsewhere, or decided again and no longer approved
            message = _describe(e, "internal error")
            log.warning("signoff: `%s` (draft %s) not claimed: %s", tool, found.id, message)
            return _tool_error(tool, message)
        try:
            output = await body(ctx, json.dumps(claim.args))
        except Exception as e:
            # the tool's own words go to the audit log, for the person who reconciles the failure
            _complete(gate, claim, self.agent, False, str(e) or "the tool raised an error")
            raise   # the tool's own failure: the SDK's failure handling decides what the model sees
        _complete(gate, claim, self.agent, True, _recordable(output))
        return output


def _before_approval(ctx: ToolContext[Any]) -> bool:
    """Whether this run of the guardrail may be the SDK's pre-approval one (`ToolExecutionConfig`): the guardrail
    cannot tell it from the run after the approval, so a draft the gate still holds is let through both times,
    and the gated body refuses it after an approval given only in the run state."""
    execution = getattr(ctx.run_config, "tool_execution", None)
    return bool(getattr(execution, "pre_approval_tool_input_guardrails", False))


def _complete(gate: Gate, claim: Any, agent: Identity, ok: bool, result: Any) -> None:
    try:
        gate.complete(claim.id, claim.lease, ok, result, by=agent)
    except Exception as e:   # the tool ran; the lease will be settled as interrupted for a person to check
        log.error("signoff: draft %s ran but its outcome could not be recorded: %s", claim.id,
                  _describe(e, "internal error"))


def _parse(arguments: Optional[str]) -> Union[Dict[str, Any], Refused]:
    """The model's argument text as a JSON object (strict: no duplicate keys, no NaN), or why not."""
    if not isinstance(arguments, str):
        return Refused("invalid_arguments", "the arguments are missing")
    try:
        value = strict_json_loads(arguments)
    except json.JSONDecodeError as e:
        return Refused("invalid_arguments", f"the arguments are not valid JSON (line {e.lineno}, column {e.colno})")
    except ValueError as e:   # strict_json_loads's own: a duplicate key, NaN, a lone surrogate, a huge integer
        return Refused("invalid_arguments", f"the arguments are not valid JSON: {e}")
    except RecursionError:
        return Refused("invalid_arguments", "the arguments are nested too deeply")
    if not isinstance(value, dict):
        return Refused("invalid_arguments", "the arguments are not a JSON object")
    return value


def _fits(schema: Any, args: Any) -> Any:
    """`args` when they match the tool's own parameters, else why not: a human is never asked to approve a call
    the tool would refuse (the SDK validates only after the approval)."""
    if not isinstance(args, dict):
        return args
    error = next(iter(sorted(schema.iter_errors(args), key=lambda e: list(e.path))), None)
    if error is None:
        return args
    where = ".".join(str(p) for p in error.path)
    return Refused("invalid_arguments", "the arguments do not match the tool's parameters"
                   + (f": `{where}`" if where else "") + f": {error.message}")


def _recordable(output: Any) -> Any:
    """The tool's output as the audit log can hold it: JSON as it is, anything else as its text."""
    try:
        return json_value(output, "result")
    except (PatchError, RecursionError, TypeError, ValueError):
        return str(output)


def _code(e: BaseException) -> str:
    if isinstance(e, (StoreError, sqlite3.Error, OSError)):
        return "unavailable"
    if isinstance(e, (InputError, PermissionDenied)):
        return "invalid_call"
    if isinstance(e, GateError):
        return "refused"
    return "internal"


def _describe(e: BaseException, fallback: str) -> str:
    """An error in words for the model and the log: a gate's own message, never a class name or a traceback."""
    if isinstance(e, (StoreError, sqlite3.Error, OSError)):
        return "the approval store cannot be reached"
    if isinstance(e, GateError) and e.args and isinstance(e.args[0], str):
        return e.args[0]
    message = getattr(e, "message", None)
    if isinstance(message, str) and message:
        return message
    return fallback


def _refusal_text(found: Union[Handle, Refused]) -> str:
    if isinstance(found, Refused):
        return found.message
    if found.state == "drafted":
        return f"it waits for approval (draft `{found.id}`): {found.message}"
    if found.state == "executing":
        return f"it is running or was interrupted (draft `{found.id}`)"
    return found.message or found.state


def _refusal(tool: str, found: Union[Handle, Refused]) -> str:
    return _tool_error(tool, _refusal_text(found))


def _info(found: Union[Handle, Refused]) -> Dict[str, Any]:
    if isinstance(found, Refused):
        return {"code": found.code}
    return {"draft": found.id, "state": found.state}
