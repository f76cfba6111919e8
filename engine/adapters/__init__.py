"""Home of the LangGraph, OpenAI Agents and MCP adapters (issue 15); empty for now.

May import: the live API only (the public names of engine and engine.live: Gate, Identity,
stores, `@gate.tool`), never engine internals.
"""
