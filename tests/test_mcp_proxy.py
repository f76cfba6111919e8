"""`signoff mcp-proxy` end to end: the real `mcp` client over stdio, the proxy as a subprocess, and a real
upstream MCP server (tests/data/mcp_upstream.py) that logs every call it runs, so each test counts runs."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

anyio = pytest.importorskip("anyio", reason="the mcp extra (signoff[mcp]) is not installed")
pytest.importorskip("mcp", reason="the mcp extra (signoff[mcp]) is not installed")

import mcp_types as types  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from engine import Gate, Identity, SQLiteStore, load_policy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "tests" / "data" / "mcp_upstream.py"

POLICY = """\
policy "mcp-test"
route review {
  approvers "team_lead"
}
tool lookup_order {
  risk low when context.mcp.annotations.readOnlyHint
  risk high
}
tool issue_refund { risk medium }
tool delete_repo {
  risk high when context.mcp.annotations.destructiveHint
  risk medium
}
tool crash { risk low }
tool garbage { risk low }
category low { allow }
category medium { require approval via review }
category high { deny "destructive tools never run" }
check order_named on lookup_order { require args.order_id present else ask "Which order?" }
check vip on lookup_order { require args.order_id missing or args.order_id != "VIP" else escalate to "vip_desk" }
unknown tools deny
"""


class Proxy:
    """A proxy's command line, its store and the upstream's log of calls."""

    def __init__(self, tmp: Path, policy: str = POLICY, store: str = None, extra=()):
        self.tmp = tmp
        (tmp / "p.policy").write_text(policy)
        self.store = store or str(tmp / "s.db")
        self.log = tmp / "upstream.log"
        self.stderr = tmp / "proxy.stderr"
        self.args = ["-m", "cli", "mcp-proxy", str(tmp / "p.policy"), "--store", self.store,
                     "--inbox-url", "http://127.0.0.1:8000", *extra, "--", sys.executable, str(UPSTREAM)]
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), UPSTREAM_LOG=str(self.log))

    def runs(self, tool=None):
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if tool is None or c["tool"] == tool]

    def gate(self):
        store = SQLiteStore(self.store)
        return Gate(load_policy(str(self.tmp / "p.policy")), store,
                    identities=[Identity("lea", {"team_lead"})]), store

    def session(self, mode="legacy", elicit=None):
        params = StdioServerParameters(command=sys.executable, args=self.args, env=self.env, cwd=str(ROOT))
        errlog = open(self.stderr, "a")
        return Client(stdio_client(params, errlog=errlog), mode=mode, elicitation_callback=elicit, cache=None)


def register_lea(proxy):
    gate, store = proxy.gate()
    store.close()


def text(result):
    return " ".join(c.text for c in result.content if getattr(c, "text", None))


def code(result):
    return ((result.meta or {}).get("signoff") or {}).get("code")


def run(fn):
    return anyio.run(fn)


def test_lists_upstream_tools_and_allow_forwards_with_annotations_in_the_policy(tmp_path):
    proxy = Proxy(tmp_path)

    async def go():
        async with proxy.session() as c:
            names = [t.name for t in (await c.list_tools()).tools]
            ok = [await c.call_tool("lookup_order", {"order_id": "A1"}) for _ in range(2)]
            destructive = await c.call_tool("delete_repo", {"name": "core"})
            wipe, missing = await c.call_tool("wipe", {}), await c.call_tool("no_such_tool", {})
            ask, vip = await c.call_tool("lookup_order", {}), await c.call_tool("lookup_order", {"order_id": "VIP"})
            return names, ok, destructive, wipe, missing, ask, vip
    names, ok, destructive, wipe, missing, ask, vip = run(go)
    # ask and escalate: tool errors with the question and the target, nothing forwarded
    assert ask.is_error and code(ask) == "ask" and "Which order?" in text(ask)
    assert vip.is_error and code(vip) == "escalated" and "vip_desk" in text(vip)
    assert names == ["lookup_order", "issue_refund", "delete_repo", "wipe", "crash", "garbage"]
    # readOnlyHint reached the policy as context.mcp.annotations: risk low, allowed, forwarded
    assert not ok[0].is_error and json.loads(text(ok[0])) == {"tool": "lookup_order", "args": {"order_id": "A1"}}
    # the same allowed call made twice runs twice: two proposals, not a replay of the first answer
    assert not ok[1].is_error and ok[0].meta["signoff"]["draft"] != ok[1].meta["signoff"]["draft"]
    # destructiveHint: risk high, denied with the policy's reason, never forwarded
    assert destructive.is_error and code(destructive) == "denied"
    assert "destructive tools never run" in text(destructive)
    # a tool the policy does not declare: `unknown tools deny`; one the upstream does not list: never sent
    assert wipe.is_error and code(wipe) == "denied" and "unknown tools" in text(wipe)
    assert missing.is_error and code(missing) == "unknown_tool" and "no_such_tool" in text(missing)
    assert [c["tool"] for c in proxy.runs()] == ["lookup_order", "lookup_order"]


def test_without_elicitation_the_call_waits_and_the_retry_runs_it_once_approved(tmp_path):
    proxy = Proxy(tmp_path)
    register_lea(proxy)

    async def first_call():
        async with proxy.session() as c:
            await c.call_tool("lookup_order", {"order_id": "A1"})
            return await c.call_tool("issue_refund", {"amount": 40})
    pending = run(first_call)
    assert not pending.is_error and code(pending) == "pending"
    draft = pending.meta["signoff"]["draft"]
    assert draft in text(pending) and f"http://127.0.0.1:8000/inbox/drafts/{draft}" in text(pending)
    assert proxy.runs("issue_refund") == []

    async def retry():   # a new client session (and proxy process): the draft lives in the store
        async with proxy.session() as c:
            return await c.call_tool("issue_refund", {"amount": 40})
    still = run(retry)
    assert code(still) == "pending" and still.meta["signoff"]["draft"] == draft
    assert proxy.runs("issue_refund") == []

    gate, store = proxy.gate()
    assert gate.approve(draft, by="lea").state == "approved"   # this gate has no executor: it waits
    store.close()

    async def retries():
        async with proxy.session() as c:
            done = await c.call_tool("issue_refund", {"amount": 40})
            again = await c.call_tool("issue_refund", {"amount": 40})
            lookup = await c.call_tool("lookup_order", {"order_id": "A1"})
            return done, again, lookup
    done, again, lookup = run(retries)
    # an allowed call made again in a new proxy process runs again: an old result is never replayed
    assert not lookup.is_error and len(proxy.runs("lookup_order")) == 2
    assert not done.is_error and done.meta["signoff"] == {"draft": draft, "state": "executed"}
    assert json.loads(text(done)) == {"tool": "issue_refund", "args": {"amount": 40}}
    assert len(proxy.runs("issue_refund")) == 1
    # the second retry runs nothing: the call was answered, so the same call again is a new proposal
    assert code(again) == "pending" and again.meta["signoff"]["draft"] != draft
    assert len(proxy.runs("issue_refund")) == 1

    gate, store = proxy.gate()
    assert gate.get(draft).state == "executed"
    kinds = [e["kind"] for e in store_events(store, draft)]
    assert kinds[:2] == ["proposed", "decided"] and "approved" in kinds and kinds[-1] == "executed"
    assert gate.verify().ok
    store.close()


def store_events(store, draft):
    with store.snapshot() as tx:
        return list(tx.events(draft))


ANSWERS = [  # (the person's answer, the draft's state after it, the answer's code)
    (types.ElicitResult(action="accept", content={"approve": True, "comment": "fine"}), "executed", None),
    (types.ElicitResult(action="decline"), "rejected", "rejected"),
    (types.ElicitResult(action="accept", content={"approve": False}), "rejected", "rejected"),
    (types.ElicitResult(action="cancel"), "drafted", "approval_dismissed"),
    (types.ElicitResult(action="accept", content={}), "drafted", "approval_dismissed"),   # no verdict given
]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_elicitation_accept_runs_once_and_decline_cancel_or_dismiss_never_run(tmp_path, mode):
    """Over the handshake era (elicitation/create mid-call) and 2026-07-28 (InputRequiredResult and retry)."""
    proxy = Proxy(tmp_path, extra=["--approver", "lea"])
    register_lea(proxy)
    asked = []

    async def elicit(ctx, params):
        asked.append(params.message)
        return ANSWERS[len(asked) - 1][0]

    async def go():
        async with proxy.session(mode, elicit) as c:
            return [await c.call_tool("issue_refund", {"amount": 10 + i}) for i in range(len(ANSWERS))]
    results = run(go)
    assert len(asked) == len(ANSWERS)
    assert "issue_refund" in asked[0] and '"amount": 10' in asked[0] and "`lea`" in asked[0]
    accepted = results[0]
    assert not accepted.is_error and json.loads(text(accepted))["args"] == {"amount": 10}
    assert [r["args"] for r in proxy.runs("issue_refund")] == [{"amount": 10}]   # only the accepted one ran
    gate, store = proxy.gate()
    for (answer, state, expect), result in zip(ANSWERS, results):
        assert code(result) == expect
        assert result.is_error == (expect is not None)
        assert gate.get(result.meta["signoff"]["draft"]).state == state
    approved = [e for e in store_events(store, accepted.meta["signoff"]["draft"]) if e["kind"] == "approved"]
    assert [e["actor"] for e in approved] == ["lea"]
    store.close()


def test_a_client_without_elicitation_gets_the_waiting_answer_even_with_an_approver(tmp_path):
    proxy = Proxy(tmp_path, extra=["--approver", "lea"])
    register_lea(proxy)

    async def go():
        async with proxy.session() as c:   # no elicitation callback: the capability is not declared
            return await c.call_tool("issue_refund", {"amount": 3})
    assert code(run(go)) == "pending" and proxy.runs() == []


def test_undeclared_tools_follow_the_unknown_tools_line(tmp_path):
    proxy = Proxy(tmp_path, policy=POLICY.replace("unknown tools deny", "unknown tools require approval via review"))

    async def go():
        async with proxy.session() as c:
            return await c.call_tool("wipe", {})
    assert code(run(go)) == "pending"                   # not passed through: it waits, as the line says
    assert proxy.runs() == []


def test_an_upstream_out_of_spec_or_crashed_is_a_tool_error_and_later_calls_run_nothing(tmp_path):
    proxy = Proxy(tmp_path)

    async def go():
        async with proxy.session() as c:
            garbage = await c.call_tool("garbage", {})
            crashed = await c.call_tool("crash", {})
            return garbage, crashed, await c.call_tool("lookup_order", {"order_id": "A1"})
    garbage, crashed, after = run(go)
    assert garbage.is_error and code(garbage) == "upstream_failed" and "out of spec" in text(garbage)
    assert "validation" not in text(garbage).lower()   # no pydantic dump for the model
    assert crashed.is_error and code(crashed) == "upstream_failed" and "may or may not" in text(crashed)
    assert after.is_error and code(after) == "upstream_unavailable" and "not called" in text(after)
    assert [c["tool"] for c in proxy.runs()] == ["garbage", "crash"]
    assert "upstream" in proxy.stderr.read_text()


def test_a_policy_that_does_not_load_refuses_every_call(tmp_path):
    proxy = Proxy(tmp_path, policy=POLICY.replace("category low { allow }", "category low { allow when }"))

    async def go():
        async with proxy.session() as c:
            names = [t.name for t in (await c.list_tools()).tools]
            return names, await c.call_tool("lookup_order", {"order_id": "A1"})
    names, result = run(go)
    assert "lookup_order" in names
    assert result.is_error and code(result) == "policy_unavailable" and "does not load" in text(result)
    assert proxy.runs() == []
    assert "does not load" in proxy.stderr.read_text()


def test_a_store_that_cannot_be_opened_refuses_every_call(tmp_path):
    proxy = Proxy(tmp_path, store=str(tmp_path / "missing-dir" / "s.db"))

    async def go():
        async with proxy.session() as c:
            return await c.call_tool("lookup_order", {"order_id": "A1"})
    result = run(go)
    assert result.is_error and code(result) == "store_unavailable"
    assert proxy.runs() == []
    assert "store" in proxy.stderr.read_text()


def rpc(proc, message):
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    if "id" not in message:
        return None
    while True:
        line = proc.stdout.readline()
        assert line, "the proxy closed its output"
        reply = json.loads(line)
        if reply.get("id") == message["id"]:
            return reply


def test_arguments_that_are_not_an_object_are_a_tool_error(tmp_path):
    proxy = Proxy(tmp_path)
    proc = subprocess.Popen([sys.executable, *proxy.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(proxy.stderr, "w"), env=proxy.env, cwd=str(ROOT))
    try:
        init = rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                          "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                     "clientInfo": {"name": "raw", "version": "0"}}})
        assert "result" in init
        rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        for bad in (["A1"], "A1", 5):
            reply = rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                               "params": {"name": "lookup_order", "arguments": bad}})
            result = reply["result"]
            assert result["isError"] is True and result["_meta"]["signoff"]["code"] == "invalid_arguments"
            assert "must be a JSON object" in result["content"][0]["text"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proxy.runs() == []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http(tmp_path):
    proxy = Proxy(tmp_path)
    port = free_port()
    args = [a for a in proxy.args]
    args[args.index("--")] = f"--http=127.0.0.1:{port}"
    args.insert(args.index(sys.executable), "--")
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(proxy.stderr, "w"), env=proxy.env, cwd=str(ROOT))
    try:
        for _ in range(2400):   # wait for the port to open (not a timed assertion: a bound on waiting)
            assert proc.poll() is None, proxy.stderr.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)

        async def go():
            async with Client(f"http://127.0.0.1:{port}/mcp", cache=None) as c:
                return await c.call_tool("lookup_order", {"order_id": "H1"}), await c.call_tool("delete_repo", {})
        ok, denied = run(go)
        assert not ok.is_error and json.loads(text(ok))["args"] == {"order_id": "H1"}
        assert denied.is_error and code(denied) == "denied"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert [c["tool"] for c in proxy.runs()] == ["lookup_order"]


def test_the_docs_example_runs(tmp_path):
    """docs/integrations.md's MCP section: its policy and command line, with the test server for `shop_server.py`."""
    import re
    import shlex
    doc = (ROOT / "docs" / "integrations.md").read_text()
    doc = doc[doc.index("\n## MCP\n"):]
    policy = re.search(r"```policy file=shop-mcp.policy\n(.*?)```", doc, re.S).group(1)
    [command] = [line for line in re.findall(r"```text\n(.*?)```", doc, re.S)[0].splitlines()
                 if line.startswith("signoff mcp-proxy")]
    argv = shlex.split(command)
    assert argv[-2:] == ["python", "shop_server.py"] and len(policy.strip().splitlines()) <= 10
    (tmp_path / "shop-mcp.policy").write_text(policy)
    store = SQLiteStore(str(tmp_path / "shop.db"))
    Gate(load_policy(str(tmp_path / "shop-mcp.policy")), store, identities=[Identity("lea", {"team_lead"})])
    store.close()
    args = ["-m", "cli", *argv[1:-2], sys.executable, str(UPSTREAM)]
    log = tmp_path / "upstream.log"
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(tmp_path),
                                   env=dict(os.environ, PYTHONPATH=str(ROOT), UPSTREAM_LOG=str(log)))

    async def accept(ctx, params):
        return types.ElicitResult(action="accept", content={"approve": True})

    async def go():
        async with Client(stdio_client(params, errlog=open(tmp_path / "err", "w")), mode="legacy",
                          elicitation_callback=accept, cache=None) as c:
            return (await c.call_tool("lookup_order", {"order_id": "A1"}), await c.call_tool("issue_refund", {"amount": 9}),
                    await c.call_tool("delete_repo", {"name": "core"}))
    lookup, refund, delete = run(go)
    assert not lookup.is_error and not refund.is_error
    assert delete.is_error and code(delete) == "denied"
    assert [json.loads(line)["tool"] for line in log.read_text().splitlines()] == ["lookup_order", "issue_refund"]


@pytest.mark.parametrize("argv, message", [
    (["--http", "0.0.0.0:8000"], "serves without authentication"),
    (["--http", "8000"], "takes HOST:PORT"),
    (["--approver", "Bot", "--agent", "bot"], "is the proposer"),
])
def test_the_command_refuses_unsafe_or_malformed_options(tmp_path, argv, message):
    from click.testing import CliRunner
    from cli.main import cli
    r = CliRunner().invoke(cli, ["mcp-proxy", str(tmp_path / "p.policy"), "--store", str(tmp_path / "s.db"), *argv,
                                 "--", sys.executable, str(UPSTREAM)], prog_name="signoff")
    assert r.exit_code == 2 and r.output.startswith("error: ") and message in r.output, r.output
    assert not (tmp_path / "s.db").exists()


def test_an_accept_that_cannot_be_recorded_runs_nothing(tmp_path):
    proxy = Proxy(tmp_path, extra=["--approver", "nobody"])   # not registered in the store

    async def accept(ctx, params):
        return types.ElicitResult(action="accept", content={"approve": True})

    async def go():
        async with proxy.session("legacy", accept) as c:
            return await c.call_tool("issue_refund", {"amount": 1})
    result = run(go)
    assert result.is_error and code(result) == "approval_not_recorded" and "not recorded" in text(result)
    assert "did not run" in text(result) and result.meta["signoff"]["draft"] in text(result)
    assert proxy.runs() == []
    assert "was not recorded" in proxy.stderr.read_text()


def test_a_waiting_call_notifies_the_configured_channels(tmp_path):
    import http.server
    import threading
    got = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = tmp_path / "signoff.toml"
    config.write_text(f'[server]\npublic_url = "http://127.0.0.1:8001"\n\n[notifications]\nallow_hosts = ["127.0.0.1"]\n'
                      f'[[notifications.webhook]]\nurl = "http://127.0.0.1:{hook.server_address[1]}/hook"\n')
    proxy = Proxy(tmp_path, extra=["--config", str(config)])
    proxy.args.remove("--inbox-url")
    proxy.args.remove("http://127.0.0.1:8000")   # the link comes from the config's server.public_url

    async def go():
        async with proxy.session() as c:
            return await c.call_tool("issue_refund", {"amount": 2})
    try:
        result = run(go)
    finally:
        hook.shutdown()
    draft = result.meta["signoff"]["draft"]
    assert code(result) == "pending" and f"http://127.0.0.1:8001/inbox/drafts/{draft}" in text(result)
    assert [(n["kind"], n["action_id"]) for n in got] == [("approval_needed", draft)], got
    gate, store = proxy.gate()
    assert "notified" in [e["kind"] for e in store_events(store, draft)]
    store.close()


def test_the_action_carries_every_hint_with_the_spec_defaults():
    from engine import MemoryLedger
    from engine.adapters.mcp_proxy import HINT_DEFAULTS, ProxyConfig, action_for
    config = ProxyConfig(policy="p.policy", store="s.db", upstream=("srv",), tenant="acme")
    bare = types.Tool(name="issue_refund", input_schema={"type": "object"})
    assert action_for(config, bare, {"amount": 1}, "shop") == {
        "tool": "issue_refund", "args": {"amount": 1}, "agent": {"id": "mcp-agent"}, "tenant": {"id": "acme"},
        "context": {"mcp": {"server": "shop", "annotations": HINT_DEFAULTS}}}
    titled = types.Tool(name="lookup_order", input_schema={"type": "object"},
                        annotations=types.ToolAnnotations(title="Look up", read_only_hint=True))
    hints = action_for(config, titled, {}, None)["context"]["mcp"]["annotations"]
    assert hints == {"readOnlyHint": True, "destructiveHint": True, "idempotentHint": False,
                     "openWorldHint": True, "title": "Look up"}
    # a policy reading a hint the server left out sees the default, never a missing path (which would deny)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        Path(d, "p.policy").write_text(POLICY)
        policy = load_policy(str(Path(d, "p.policy")))
    undeclared = types.Tool(name="delete_repo", input_schema={"type": "object"})
    decision = policy.decide(action_for(config, undeclared, {}, None), MemoryLedger())
    assert decision.category == "high" and decision.outcome == "deny"
    assert [r["rule"] for r in decision.to_dict()["reasons"]] == ["category high"]   # no evaluation error
