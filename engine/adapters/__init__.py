"""Home of the agent-framework adapters (issue 15), one extra each: `langgraph` (LangGraph / LangChain).

May import: the live API only (the public names of engine and engine.live: Gate, Identity,
stores, `@gate.tool`), never engine internals.
"""
