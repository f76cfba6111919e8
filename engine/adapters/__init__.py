"""Home of the agent-framework adapters (issue 15), one extra each: `langgraph` (LangGraph / LangChain),
`openai_agents` (the OpenAI Agents SDK), `mcp_proxy` (an MCP server gating another's tools; `import_tools` writes a
policy from MCP or OpenAI tool definitions).

May import: the live API only (the public names of engine and engine.live: Gate, Identity,
stores, `@gate.tool`), never engine internals; each adapter also imports its framework's package, so
none is imported here (an extra that is not installed must not break `import engine.adapters`).
"""
