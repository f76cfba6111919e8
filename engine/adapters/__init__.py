"""Home of the LangGraph, OpenAI Agents and MCP adapters (issue 15): `openai_agents` (extra `openai-agents`).

May import: the live API only (the public names of engine and engine.live: Gate, Identity,
stores, `@gate.tool`), never engine internals; each adapter also imports its framework's package, so
none is imported here (an extra that is not installed must not break `import engine.adapters`).
"""
