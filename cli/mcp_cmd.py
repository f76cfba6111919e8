"""`signoff mcp-proxy` (an MCP server gating an upstream one with the policy) and `signoff import-tools` (tool
blocks and schemas from an MCP server's or OpenAI's tool definitions)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

import click

from engine.service.notify import ConfigError, close_channels, load_channels

from .init_cmd import write_new_files
from .output import echo, field
from .worker_cmd import read_config

EXIT_OK, EXIT_USAGE = 0, 2
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _fail(message: str) -> None:
    echo(f"error: {field(message)}", err=True)
    sys.exit(EXIT_USAGE)


def _need_mcp() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        _fail("this command needs the `mcp` package: pip install 'signoff[mcp]'")


class _StderrLog(logging.Handler):
    """The proxy's log lines on stderr (stdout carries the MCP protocol), escaped like all CLI output."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print one log line on stderr."""
        try:
            echo(field(record.getMessage()), err=True)
        except Exception:   # a log line must never break a call
            pass


def _host_port(value: Optional[str]) -> Optional[Tuple[str, int]]:
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        _fail(f"`--http` takes HOST:PORT, not `{value}`")
    return host.strip("[]"), int(port)


@click.command(name="mcp-proxy", context_settings={"ignore_unknown_options": True})
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", required=True, envvar="SIGNOFF_STORE", metavar="STORE",
              help="The approval store: an SQLite file (created if missing) or a `postgresql://` URL.")
@click.option("--agent", default="mcp-agent", show_default=True, help="The proposer's `agent.id`.")
@click.option("--tenant", default=None, help="The actions' `tenant.id` (none: no tenant).")
@click.option("--approver", default=None, metavar="ID",
              help="Ask in the client (elicitation) and record an accept as this identity's approval.")
@click.option("--inbox-url", default=None, metavar="URL", help="The inbox's base URL, for links to drafts.")
@click.option("--http", "http", default=None, metavar="HOST:PORT",
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio.")
@click.option("--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
              help="TOML settings: the [notifications] channels told of new drafts, server.public_url.")
@click.argument("upstream", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- UPSTREAM_CMD...")
def mcp_proxy(policy: str, store_path: str, agent: str, tenant: Optional[str], approver: Optional[str],
              inbox_url: Optional[str], http: Optional[str], config_path: Optional[str],
              upstream: Tuple[str, ...]) -> None:
    """Gate an MCP server's tools with POLICY.

    Starts UPSTREAM_CMD (an MCP server over stdio) and serves its tools as its own, over stdio (or
    streamable HTTP with --http): every tools/call is decided by the policy; allow forwards it, a required
    approval asks in the client or waits in the store (call again with the same arguments once approved),
    deny, ask and escalate are tool errors with the reason. Log lines go to stderr."""
    _need_mcp()
    from engine.adapters.mcp_proxy import McpFault, ProxyConfig, serve_proxy
    import anyio

    address = _host_port(http)
    if address is not None and address[0] not in LOOPBACK:
        # the MCP endpoint has no authentication: whoever reaches it calls tools as the agent (and, with
        # --approver, answers the approval questions)
        _fail(f"`--http` serves without authentication: give a loopback address (127.0.0.1, ::1 or localhost), "
              f"not `{address[0]}`, and put a proxy with authentication in front for other machines")
    if approver is not None:
        from engine import IdentityError, canonical_id
        try:
            same = canonical_id(approver, "`--approver`") == canonical_id(agent, "`--agent`")
        except IdentityError as e:
            _fail(e.message)
            raise
        if same:
            _fail(f"`--approver {approver}` is the proposer (`--agent`): nobody approves their own actions")
    logger = logging.getLogger("signoff.mcp")
    logger.setLevel(logging.INFO)
    logger.addHandler(_StderrLog())
    logger.propagate = False
    settings = read_config(config_path)
    server = settings.get("server") or {}
    if not isinstance(server, dict):
        _fail("`server` must be a table")
    public_url = server.get("public_url")
    if inbox_url is None and isinstance(public_url, str):
        inbox_url = public_url
    table = settings.get("notifications")
    try:   # checked now, so a bad config is exit 2 before anything starts
        close_channels(load_channels(table, base_url=public_url))
    except ConfigError as e:
        _fail(f"config `{config_path}`: {e.message}")

    def channels(store: Any, digest: Any) -> Any:
        return load_channels(table, base_url=public_url, audit=store, digest=digest)
    config = ProxyConfig(policy=policy, store=store_path, upstream=tuple(upstream), agent=agent, tenant=tenant,
                         approver=approver, inbox_url=inbox_url, channels=channels if table else None)

    def ready(uv: object) -> None:
        where = f"http://{address[0]}:{address[1]}/mcp" if address else "stdio"
        echo(f"signoff mcp-proxy: gating `{field(' '.join(upstream))}` with {field(policy)} on {field(where)}",
             err=True)

    try:
        anyio.run(lambda: serve_proxy(config, address, ready))
    except McpFault as e:
        _fail(e.message)
    except KeyboardInterrupt:
        pass


@click.command(name="import-tools", context_settings={"ignore_unknown_options": True})
@click.option("--from", "source", required=True, type=click.Choice(["mcp", "openai"]),
              help="mcp: list the tools of the MCP server started by CMD; openai: read FILE.")
@click.option("--dir", "folder", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder to write into (created when missing).")
@click.option("--name", "name", default="tools", show_default=True, metavar="NAME",
              help="The policy's name and file stem.")
@click.argument("rest", nargs=-1, required=True, type=click.UNPROCESSED, metavar="FILE | -- CMD...")
def import_tools(source: str, folder: str, name: str, rest: Tuple[str, ...]) -> None:
    """Write a policy with a tool block per imported tool.

    Each tool's input JSON Schema goes to schemas/TOOL.json beside NAME.policy, and its first risk level
    comes from the annotations: read-only low, destructive high, the rest medium (OpenAI definitions carry
    no annotations: medium). The policy loads and lints clean as written; nothing is written if a file is
    already there."""
    from engine.adapters.import_tools import ToolImportError, ToolDef, from_mcp_tools, from_openai, plan_policy

    defs: List[ToolDef]
    if source == "openai":
        if len(rest) != 1:
            _fail("`--from openai` takes one FILE of OpenAI tool definitions (JSON)")
        try:
            defs = from_openai(Path(rest[0]).read_text(encoding="utf-8"))
        except OSError as e:
            _fail(f"cannot read `{rest[0]}`: {(e.strerror or str(e)).lower()}")
            raise
        except UnicodeDecodeError:
            _fail(f"`{rest[0]}` is not UTF-8 text")
            raise
        except ToolImportError as e:
            _fail(f"`{rest[0]}`: {e}")
            raise
    else:
        _need_mcp()
        import anyio
        from engine.adapters.mcp_proxy import McpFault, list_upstream_tools
        try:
            tools = anyio.run(lambda: list_upstream_tools(list(rest), env=dict(os.environ)))
        except McpFault as e:
            _fail(e.message)
            raise
        defs = from_mcp_tools(tools)
    try:
        plan = plan_policy(defs, name)
    except ToolImportError as e:
        _fail(str(e))
        raise
    base = Path(folder)
    targets = [(base / rel, text) for rel, text in plan.files.items()]
    written = write_new_files(targets)
    for path in written:
        echo(f"wrote {field(path.as_posix())}")
    for line in plan.notes:
        echo(f"note: {field(line)}", err=True)
    echo(f"next: `signoff lint {field((base / plan.policy).as_posix())}`, then loosen or tighten each tool's risk")
