"""The MCP gating proxy (`signoff mcp-proxy`): an MCP server that lists an upstream server's tools as its own
and decides every `tools/call` with the policy, through the Gate.

How a call goes: the proxy builds a spec §2 action (`tool`, `args`, `agent`, `tenant`, and the upstream's
tool annotations under `context.mcp.annotations`), proposes it with an idempotency key made from the action
itself, and maps the handle to an MCP answer. `allow` forwards the call upstream (the Gate's executor) and
returns the upstream's result. `require_approval` asks the person in the client with an elicitation when
the client can answer one and an approver identity is configured (accept records that identity's approval;
decline rejects the draft; cancel, dismiss or any failure leaves it waiting and nothing runs); otherwise it
returns a result saying the call waits, with the draft id and inbox link. The same call retried proposes the
same action with the same key, so it finds the same draft and runs it once it is approved, exactly once. A draft whose call has had its final answer is
passed over (the key carries a generation), so the same call made again later is a new proposal, and a
result is never replayed to a later call, even after a restart.
`deny`, `ask` and `escalate` come back as tool errors (`isError`) with the reason.

Fail closed: a policy that does not load, a store that cannot be opened or fails, arguments that are not an
object, a tool the upstream does not list, an upstream that crashed or answered out of spec, and any
unforeseen error are each a tool error to the client and a line on the `signoff.mcp` logger; none runs a
tool. A tool the policy does not declare is decided by its `unknown tools` line, like any other action.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server.lowlevel import Server
from mcp_types.version import is_version_at_least
from pydantic import ValidationError

from engine import (Channel, Gate, GateError, Handle, InputError, PermissionDenied, Policy, Store, StoreError,
                    draft_link, load_policy, open_store)
from policy_lang import PolicyError

__all__ = ["ProxyConfig", "GatingProxy", "McpFault", "serve_proxy", "list_upstream_tools", "action_for",
           "annotations_of", "ELICIT_KEY", "APPROVAL_SCHEMA", "HINT_DEFAULTS"]

log = logging.getLogger("signoff.mcp")

ELICIT_KEY = "signoff_approval"
"""The key of the proxy's question in an `InputRequiredResult` (2026-07-28 clients) and its answers."""

APPROVAL_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Approve", "description": "Run this call now"},
        "comment": {"type": "string", "title": "Comment", "description": "Why (kept in the audit log)"},
    },
    "required": ["approve"],
}
"""What the elicitation asks: `approve` must be true for an accept to count as an approval."""

HINT_DEFAULTS: Dict[str, bool] = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False,
                                  "openWorldHint": True}
"""The MCP spec's defaults for hints a tool leaves out: what `context.mcp.annotations` holds for them."""

INPUT_REQUIRED_VERSION = "2026-07-28"   # from this protocol version on, a question rides InputRequiredResult
MAX_GENERATIONS = 100_000   # drafts of one identical call a lookup walks past before it gives up
META_KEY = "signoff"          # the `_meta` entry of every answer the proxy makes itself


class McpFault(Exception):
    """A call the proxy refuses or cannot complete: a stable `code` and a lowercase message for the client."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProxyConfig:
    """What `signoff mcp-proxy` was started with.

    `upstream` is the command (and its arguments) that starts the upstream MCP server over stdio; `agent`
    and `tenant` are the proposer's `agent.id` and `tenant.id`; `approver` is the identity (registered in the
    store) whose approval an accepted elicitation records, None to never elicit; `inbox_url` the base of the
    inbox links (`signoff serve`'s public URL); `channels(store, digest)` makes the notification channels told
    of new drafts and escalations once the store is open (their deliveries are recorded in its audit log).
    """
    policy: str
    store: str
    upstream: Tuple[str, ...]
    agent: str = "mcp-agent"
    tenant: Optional[str] = None
    approver: Optional[str] = None
    inbox_url: Optional[str] = None
    name: str = "signoff"
    env: Optional[Mapping[str, str]] = field(default=None, compare=False)
    channels: Optional[Callable[[Store, Callable[[], str]], Sequence[Channel]]] = field(default=None, compare=False)


def annotations_of(tool: types.Tool) -> Dict[str, Any]:
    """The tool's annotation hints as the policy sees them: the four hints always present (the spec's
    defaults for those the upstream leaves out), and `title` when the upstream gives one."""
    out: Dict[str, Any] = dict(HINT_DEFAULTS)
    ann = tool.annotations
    if ann is not None:
        for key, value in (("readOnlyHint", ann.read_only_hint), ("destructiveHint", ann.destructive_hint),
                           ("idempotentHint", ann.idempotent_hint), ("openWorldHint", ann.open_world_hint)):
            if isinstance(value, bool):
                out[key] = value
        if isinstance(ann.title, str):
            out["title"] = ann.title
    return out


def action_for(config: ProxyConfig, tool: types.Tool, args: Dict[str, Any], server: Optional[str]) -> Dict[str, Any]:
    """The spec §2 action the proxy proposes for one call of `tool` with `args`."""
    action: Dict[str, Any] = {"tool": tool.name, "args": args, "agent": {"id": config.agent},
                              "context": {"mcp": {"server": server, "annotations": annotations_of(tool)}}}
    if config.tenant is not None:
        action["tenant"] = {"id": config.tenant}
    return action


def _base_key(action: Dict[str, Any]) -> str:
    """The idempotency key of an action: the same tool, arguments and context give the same key."""
    text = json.dumps(action, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "mcp:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def _text(message: str) -> List[Any]:
    return [types.TextContent(type="text", text=message)]


def tool_error(code: str, message: str, draft: Optional[str] = None) -> types.CallToolResult:
    """A tool error (`isError`) the client shows the model: `signoff: MESSAGE`, the code in `_meta`."""
    meta: Dict[str, Any] = {"code": code}
    if draft is not None:
        meta["draft"] = draft
    return types.CallToolResult(content=_text(f"signoff: {message}"), is_error=True, _meta={META_KEY: meta})


def _stored(result: types.CallToolResult) -> Dict[str, Any]:
    """An upstream result as JSON the store keeps (the wire form, without `_meta` and `resultType`)."""
    data = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("_meta", None)
    data.pop("resultType", None)
    return data


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


class GatingProxy:
    """The proxy's handlers over a connected upstream `Client`; `server()` is the MCP server to run."""

    def __init__(self, config: ProxyConfig, upstream: Client):
        self.config = config
        self.upstream = upstream
        self.tools: Dict[str, types.Tool] = {}
        self._gate: Optional[Gate] = None
        self._store: Optional[Store] = None
        self._policy: Optional[Policy] = None
        self._upstream_down: Optional[str] = None
        # per action: how many of its drafts have already been answered finally (executed, denied, …), so
        # the same call made again afterwards is a new proposal, while a retry of a waiting one finds it
        self._generation: Dict[str, int] = {}
        self._locks: Dict[str, anyio.Lock] = {}
        self._channels: List[Channel] = []
        self._ran: set = set()   # drafts whose executor ran in this process and whose result is not answered yet

    # ------------------------------------------------------------ setup
    @property
    def server_name(self) -> Optional[str]:
        """The upstream's `serverInfo.name`, when it gave one."""
        info = self.upstream.server_info
        return info.name if info is not None else None

    async def refresh_tools(self) -> None:
        """Read the upstream's tool list (every page); the proxy lists and forwards only these tools."""
        tools: Dict[str, types.Tool] = {}
        cursor: Optional[str] = None
        for _ in range(100):   # a paginator that never ends cannot hang the proxy
            page = await self.upstream.list_tools(cursor=cursor, cache_mode="refresh")
            for t in page.tools:
                tools[t.name] = t
            cursor = page.next_cursor
            if cursor is None:
                break
        self.tools = tools
        if self._gate is not None:
            self._register(self._gate)

    def _register(self, gate: Gate) -> None:
        for name in self.tools:
            gate.register(name, self._forward)

    def gate(self) -> Gate:
        """The Gate, opened on first use; a policy or store that failed is tried again on the next call."""
        if self._gate is not None:
            return self._gate
        if self._policy is None:
            try:
                self._policy = load_policy(self.config.policy)
            except PolicyError as e:
                first = e.diagnostics[0] if e.diagnostics else None
                where = f"{first.span.file}:{first.span.line}: {first.message}" if first else "load errors"
                raise McpFault("policy_unavailable",
                               f"the policy `{self.config.policy}` does not load ({_one_line(where)}): "
                               "no call runs until it does") from None
            except OSError as e:
                raise McpFault("policy_unavailable",
                               f"cannot read the policy `{self.config.policy}`: "
                               f"{(e.strerror or str(e)).lower()}: no call runs until it can be read") from None
        if self._store is None:
            try:
                self._store = open_store(self.config.store)
            except (StoreError, OSError) as e:
                raise McpFault("store_unavailable", f"the approval store cannot be opened ({_one_line(e)}): "
                               "no call runs until it can") from None
        policy = self._policy
        channels = list(self.config.channels(self._store, lambda: policy.digest)) if self.config.channels else []
        self._channels = channels
        gate = Gate(policy, self._store, channels=channels)
        self._register(gate)
        self._gate = gate
        return gate

    def close(self) -> None:
        """Close the channels (delivering what they still hold) and the store; the upstream is closed by whoever
        opened it."""
        for ch in self._channels:
            stop = getattr(ch, "close", None)
            if callable(stop):
                try:
                    stop(10.0)
                except Exception as e:   # a channel that fails to close must not keep the store open
                    log.error("signoff.mcp: a notification channel did not close: %s", _one_line(e))
        self._channels = []
        if self._store is not None:
            self._store.close()
            self._store = None
            self._gate = None

    def server(self) -> Server[Any]:
        """The MCP server whose `tools/list` and `tools/call` are this proxy's."""
        srv: Server[Any] = Server(self.config.name, version="1", on_list_tools=self.list_tools,
                                  on_call_tool=self.call_tool)
        srv.middleware.append(_ArgumentsGuard())
        return srv

    # ------------------------------------------------------------ executor: the call upstream
    async def _forward(self, args: Dict[str, Any], ctx: Any) -> Dict[str, Any]:
        self._ran.add(ctx.action_id)
        if self._upstream_down is not None:
            raise RuntimeError(self._upstream_down)
        try:
            result = await self.upstream.call_tool(ctx.tool, args)
        except ValidationError:   # the answer is not what the MCP spec says a tool result is
            raise RuntimeError("the upstream MCP server answered out of spec") from None
        except Exception as e:   # the upstream crashed, closed or refused
            reason = _one_line(getattr(e, "message", None) or e).lower() or "no answer"
            if "closed" in reason:
                self._upstream_down = "the upstream MCP server is not running (its connection closed)"
            raise RuntimeError(reason) from None
        if not isinstance(result, types.CallToolResult):
            raise RuntimeError("the upstream MCP server answered out of spec")
        return _stored(result)

    # ------------------------------------------------------------ tools/list
    async def list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        """The upstream's tools, without their `outputSchema` (a waiting answer is not the tool's output)."""
        if self._upstream_down is None:
            try:
                await self.refresh_tools()
            except Exception as e:
                log.error("signoff.mcp: cannot list the upstream's tools: %s", _one_line(e))
        return types.ListToolsResult(tools=[t.model_copy(update={"output_schema": None})
                                            for t in self.tools.values()])

    # ------------------------------------------------------------ tools/call
    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> Any:
        """Decide one call with the policy and answer it (see the module docstring)."""
        name = params.name
        try:
            return await self._call(ctx, params)
        except McpFault as e:
            log.error("signoff.mcp: `%s` refused (%s): %s", name, e.code, e.message)
            return tool_error(e.code, e.message)
        except Exception:   # fail closed: anything unforeseen is a tool error, never a pass-through
            log.exception("signoff.mcp: internal error deciding `%s`", name)
            return tool_error("internal_error", f"internal error in the proxy while deciding `{name}` (a bug: "
                                                "the proxy's log has the details)")

    async def _call(self, ctx: Any, params: types.CallToolRequestParams) -> Any:
        name = params.name
        args = params.arguments if params.arguments is not None else {}
        if not isinstance(args, dict):
            raise McpFault("invalid_arguments", f"the arguments of `{name}` must be a JSON object")
        tool = self.tools.get(name)
        if tool is None and self._upstream_down is None:
            try:
                await self.refresh_tools()
            except Exception as e:
                log.error("signoff.mcp: cannot list the upstream's tools: %s", _one_line(e))
            tool = self.tools.get(name)
        if tool is None:
            raise McpFault("unknown_tool", f"the upstream MCP server has no tool `{name}`: nothing was called")
        if self._upstream_down is not None:
            raise McpFault("upstream_unavailable", f"{self._upstream_down}: `{name}` was not called")
        gate = self.gate()
        action = action_for(self.config, tool, args, self.server_name)
        base = _base_key(action)
        lock = self._locks.setdefault(base, anyio.Lock())
        async with lock:
            for _ in range(MAX_GENERATIONS):
                key = f"{base}.{self._generation.get(base, 0)}"
                h = await self._propose(gate, action, key)
                if h.state not in ("executed", "failed") or h.id in self._ran:
                    break
                # it ran in an earlier call (of this process or one before it): its result was that call's,
                # so this call is a new proposal, decided afresh; an old result is never replayed
                self._generation[base] = self._generation.get(base, 0) + 1
            else:
                raise McpFault("refused", f"`{name}` was called with these arguments too many times")
            if h.state == "drafted":
                try:
                    asked = await self._ask_in_client(ctx, params, gate, h)
                except _Unanswered as e:   # nothing ran and the draft still waits: an error the model sees
                    return self._unanswered(h, e)
                if isinstance(asked, types.InputRequiredResult):
                    return asked
                h = asked
            answer = self._answer(h, args)
            self._ran.discard(h.id)
            if not h.pending:
                # answered for good: the same call made again is a new proposal, decided afresh
                self._generation[base] = self._generation.get(base, 0) + 1
            return answer

    async def _propose(self, gate: Gate, action: Dict[str, Any], key: str) -> Handle:
        try:
            return await gate.apropose(action, idempotency_key=key)
        except StoreError as e:
            raise McpFault("store_unavailable", f"the approval store failed ({_one_line(e)}): "
                                                "the call did not run") from None
        except PermissionDenied as e:
            raise McpFault("refused", f"{_one_line(e)}: the call did not run") from None
        except InputError as e:
            raise McpFault("invalid_arguments", f"{_one_line(e)}: the call did not run") from None
        except GateError as e:
            raise McpFault("refused", f"{_one_line(e)}: the call did not run") from None

    # ------------------------------------------------------------ elicitation
    def _can_elicit(self, ctx: Any) -> bool:
        if self.config.approver is None:
            return False
        caps = ctx.session.client_capabilities
        el = caps.elicitation if caps is not None else None
        # a bare `elicitation: {}` (before modes existed) means form support; url-only does not
        return el is not None and (el.form is not None or el.url is None)

    def _question(self, h: Handle) -> str:
        routes = "; ".join(f"{r['name']} ({r['quorum']} of {', '.join(r['approvers'])})" for r in h.routes)
        args = json.dumps(h.args, sort_keys=True, ensure_ascii=False)
        return (f"signoff: the agent wants to call `{h.tool}` with {args}. The policy requires approval via "
                f"{routes}. Approve it as `{self.config.approver}`? (draft {h.id})")

    async def _ask_in_client(self, ctx: Any, params: types.CallToolRequestParams, gate: Gate,
                             h: Handle) -> Any:
        """Ask the person in the client: the handle after their answer, or the question to send (2026-07-28);
        _Unanswered when the answer is no verdict (dismissed, failed, not recordable)."""
        if not self._can_elicit(ctx):
            return h
        state = f"{h.id}:{h.args_hash}"
        version = getattr(ctx, "protocol_version", None)
        modern = isinstance(version, str) and is_version_at_least(version, INPUT_REQUIRED_VERSION)
        if modern:
            answer = (params.input_responses or {}).get(ELICIT_KEY)
            if answer is None or params.request_state != state:
                request = types.ElicitRequest(params=types.ElicitRequestFormParams(
                    message=self._question(h), requested_schema=APPROVAL_SCHEMA))
                return types.InputRequiredResult(input_requests={ELICIT_KEY: request}, request_state=state)
            if not isinstance(answer, types.ElicitResult):
                raise _Unanswered("approval_failed", "the client answered the approval question with something "
                                                     "else")
            result = answer
        else:
            try:
                result = await ctx.session.elicit_form(self._question(h), APPROVAL_SCHEMA,
                                                       related_request_id=ctx.request_id)
            except Exception as e:   # the client failed or cannot be asked: nothing runs, the draft waits
                raise _Unanswered("approval_failed", f"the approval question failed in the client "
                                                     f"({_one_line(e).lower() or 'no answer'})") from None
        return await self._act_on(gate, h, result)

    async def _act_on(self, gate: Gate, h: Handle, result: types.ElicitResult) -> Handle:
        approver = self.config.approver
        content = result.content or {}
        said = content.get("comment")
        comment = said if isinstance(said, str) else None
        try:
            if result.action == "accept" and content.get("approve") is True:
                h = gate.approve(h.id, by=approver, comment=comment or "approved in the MCP client",
                                 expected_hash=h.args_hash)
                if h.state == "approved":
                    h = await gate.aexecute(h.id)
                log.info("signoff.mcp: draft %s approved by %s in the client: %s", h.id, approver, h.state)
                return h
            if result.action == "decline" or (result.action == "accept" and content.get("approve") is False):
                h = gate.reject(h.id, by=approver, reason=comment or "declined in the MCP client")
                log.info("signoff.mcp: draft %s declined by %s in the client", h.id, approver)
                return h
        except StoreError as e:
            raise McpFault("store_unavailable", f"the approval store failed ({_one_line(e)}): "
                                                "the call did not run") from None
        except GateError as e:   # not permitted, not registered, changed meanwhile: recorded nothing, it waits
            raise _Unanswered("approval_not_recorded", f"the answer of `{approver}` in the client was not "
                                                       f"recorded ({_one_line(e)})") from None
        raise _Unanswered("approval_dismissed", "the approval question was dismissed in the client")

    def _unanswered(self, h: Handle, e: "_Unanswered") -> types.CallToolResult:
        link = draft_link(self.config.inbox_url, h.id)
        where = f" (inbox: {link})" if link else ""
        log.error("signoff.mcp: draft %s (`%s`): %s; it waits", h.id, h.tool, e.message)
        return tool_error(e.code, f"{e.message}: `{h.tool}` did not run. It waits for approval as draft {h.id}"
                                  f"{where}; call it again with the same arguments to be asked again", h.id)

    # ------------------------------------------------------------ the answer
    def _answer(self, h: Handle, args: Dict[str, Any]) -> types.CallToolResult:
        meta = {"draft": h.id, "state": h.state}
        if h.state == "executed":
            try:
                out = types.CallToolResult.model_validate(h.result)
            except Exception:
                log.error("signoff.mcp: draft %s: the recorded result is not a tool result", h.id)
                return tool_error("upstream_failed", "the upstream's recorded result is out of spec", h.id)
            if h.args != args:   # a person edited the arguments before approving: the model must know
                edited = json.dumps(h.args, sort_keys=True, ensure_ascii=False)
                out.content.insert(0, types.TextContent(type="text", text=f"signoff: run with the arguments "
                                                                          f"a person approved: {edited}"))
            out.meta = {**(out.meta or {}), META_KEY: meta}
            return out
        if h.pending:
            link = draft_link(self.config.inbox_url, h.id)
            where = f"; inbox: {link}" if link else ""
            if h.state == "drafted":
                text = (f"signoff: `{h.tool}` waits for approval (draft {h.id}: {h.message}){where}. It has not "
                        "run. Call it again with the same arguments once it is approved: it runs then, once.")
            else:
                text = (f"signoff: `{h.tool}` is {h.message} (draft {h.id}){where}. Call it again with the same "
                        "arguments for its result.")
            meta["code"] = "pending"
            if link:
                meta["inbox"] = link
            log.info("signoff.mcp: `%s` waits (draft %s, %s)", h.tool, h.id, h.state)
            return types.CallToolResult(content=_text(text), _meta={META_KEY: meta})
        code, message = self._refusal(h)
        log.info("signoff.mcp: `%s` %s (draft %s): %s", h.tool, code, h.id, message)
        return tool_error(code, message, h.id)

    def _refusal(self, h: Handle) -> Tuple[str, str]:
        rules = [r.get("rule") for r in (h.decision or {}).get("reasons", []) if isinstance(r, dict)]
        if h.state == "denied" and rules == ["unknown tools"]:
            return "denied", (f"`{h.tool}` is not declared in the policy, whose `unknown tools` line denies it. "
                              "It did not run")
        reasons = "; ".join(h.reasons) if h.reasons else "the policy says so"
        if h.state == "denied":
            return "denied", f"`{h.tool}` is denied: {reasons}. It did not run"
        if h.state == "asked":
            return "ask", f"`{h.tool}` needs information first: {'; '.join(h.ask) or reasons}. It did not run"
        if h.state == "escalated":
            return "escalated", (f"`{h.tool}` was escalated to {h.escalate_to or 'a person'}: {reasons}. "
                                 "It did not run")
        if h.state == "rejected":
            return "rejected", f"`{h.tool}` was {h.message}. It did not run"
        if h.state == "expired":
            return "expired", f"`{h.tool}` {h.message}. It did not run"
        if h.state == "failed":
            error = (h.error or "").split(": ", 1)[-1]
            return "upstream_failed", (f"`{h.tool}` failed upstream ({_one_line(error) or 'no reason given'}); "
                                       "it may or may not have taken effect")
        return "refused", f"`{h.tool}` is {h.state}: it did not run"


class _Unanswered(Exception):
    """The approval question got no usable answer: the draft still waits and nothing ran."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class _ArgumentsGuard:
    """Before the SDK validates `tools/call`: arguments that are not an object become a tool error (the SDK
    would answer a protocol error the model never sees)."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        """Answer a `tools/call` whose `arguments` is not an object (nor absent) with a tool error."""
        raw = ctx.params if isinstance(ctx.params, Mapping) else None
        if ctx.method == "tools/call" and raw is not None:
            value = raw.get("arguments")
            if value is not None and not isinstance(value, Mapping):
                name = raw.get("name") if isinstance(raw.get("name"), str) else "?"
                log.error("signoff.mcp: `%s` refused (invalid_arguments): arguments are not an object", name)
                err = tool_error("invalid_arguments", f"the arguments of `{name}` must be a JSON object: "
                                                      "nothing was called")
                return err.model_dump(mode="json", by_alias=True, exclude_none=True)
        return await call_next(ctx)


def _upstream_params(config: ProxyConfig) -> StdioServerParameters:
    if not config.upstream:
        raise McpFault("upstream_missing", "give the upstream MCP server's command after `--`")
    env = dict(os.environ if config.env is None else config.env)
    return StdioServerParameters(command=config.upstream[0], args=list(config.upstream[1:]), env=env)


def _why(e: BaseException) -> str:
    """The first cause of a failed start, in words: an exception group is unwrapped, an OSError's text kept."""
    inner = getattr(e, "exceptions", None)
    while isinstance(inner, tuple) and inner:   # an exception group (also the backport on 3.10)
        e = inner[0]
        inner = getattr(e, "exceptions", None)
    if isinstance(e, OSError):
        return (e.strerror or str(e)).lower()
    text = _one_line(getattr(e, "message", None) or e).lower()
    return text or "no reason given"


async def _connect(stack: AsyncExitStack, config: ProxyConfig) -> Client:
    client = Client(_upstream_params(config), cache=None)
    try:
        return await stack.enter_async_context(client)
    except Exception as e:
        raise McpFault("upstream_failed", f"the upstream MCP server `{' '.join(config.upstream)}` did not start "
                                          f"or answer ({_why(e)})") from None


async def list_upstream_tools(command: Sequence[str], env: Optional[Mapping[str, str]] = None) -> List[types.Tool]:
    """Start an MCP server over stdio, list its tools (every page) and stop it (`signoff import-tools`)."""
    config = ProxyConfig(policy="", store="", upstream=tuple(command), env=env)
    async with AsyncExitStack() as stack:
        proxy = GatingProxy(config, await _connect(stack, config))
        try:
            await proxy.refresh_tools()
        except Exception as e:
            raise McpFault("upstream_failed", f"the MCP server did not list its tools ({_one_line(e)})") from None
        return list(proxy.tools.values())


async def serve_proxy(config: ProxyConfig, http: Optional[Tuple[str, int]] = None,
                      on_ready: Any = None) -> None:
    """Run the proxy until its client goes away: over stdio, or streamable HTTP on `http` (host, port).
    McpFault when the upstream does not start."""
    async with AsyncExitStack() as stack:
        upstream = await _connect(stack, config)
        proxy = GatingProxy(config, upstream)
        stack.callback(proxy.close)
        try:
            await proxy.refresh_tools()
        except Exception as e:
            raise McpFault("upstream_failed", f"the upstream MCP server did not list its tools "
                                              f"({_one_line(e)})") from None
        try:
            proxy.gate()
        except McpFault as e:   # the proxy still starts: every call says why it cannot run
            log.error("signoff.mcp: %s", e.message)
        server = proxy.server()
        if http is None:
            from mcp.server.stdio import stdio_server
            async with stdio_server() as (read, write):
                if on_ready is not None:
                    on_ready(None)
                await server.run(read, write, server.create_initialization_options())
            return
        import uvicorn
        host, port = http
        app = server.streamable_http_app(host=host)
        uv = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        if on_ready is not None:
            on_ready(uv)
        await uv.serve()
