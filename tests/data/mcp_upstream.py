"""A small upstream MCP server for tests/test_mcp_proxy.py and tests/test_import_tools.py, run as a subprocess over stdio.

Every tool call it runs is appended, as one JSON line, to the file named by UPSTREAM_LOG, so a test can count
how often a tool really ran. `crash` ends the process mid-call; `garbage` answers out of the MCP spec.
"""
import json
import os
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCResponse

OBJECT = {"type": "object"}
WIRE = []   # the stdio write stream, for `garbage`
TOOLS = [
    types.Tool(name="lookup_order", description="Look an order up by its id.",
               input_schema={"type": "object", "properties": {"order_id": {"type": "string"}},
                             "required": ["order_id"]},
               annotations=types.ToolAnnotations(read_only_hint=True)),
    types.Tool(name="issue_refund", description="Refund an amount of money to a customer.",
               input_schema={"type": "object", "properties": {"amount": {"type": "number"}},
                             "required": ["amount"]}),
    types.Tool(name="delete_repo", description="Delete a repository.\nThis cannot be undone.",
               input_schema={"type": "object", "properties": {"name": {"type": "string"}}},
               annotations=types.ToolAnnotations(destructive_hint=True, read_only_hint=False)),
    types.Tool(name="wipe", description="A tool no policy declares.", input_schema=OBJECT),
    types.Tool(name="crash", description="Ends the server mid-call.", input_schema=OBJECT),
    types.Tool(name="garbage", description="Answers out of spec.", input_schema=OBJECT),
]


def record(name, arguments):
    path = os.environ.get("UPSTREAM_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": name, "args": arguments}) + "\n")


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx, params):
    record(params.name, params.arguments)
    if params.name == "crash":
        os._exit(3)
    if params.name == "garbage":
        # an answer out of spec, sent past the SDK's own checks (which would refuse it): content is not a list
        bad = JSONRPCResponse(jsonrpc="2.0", id=ctx.request_id, result={"content": "not a list", "isError": "maybe"})
        await WIRE[0].send(SessionMessage(bad))
        await anyio.sleep(3600)
    text = json.dumps({"tool": params.name, "args": params.arguments or {}}, sort_keys=True)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


server = Server("upstream", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read, write):
        WIRE.append(write)
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    if "--fail-start" in sys.argv:
        sys.exit(4)
    anyio.run(main)
