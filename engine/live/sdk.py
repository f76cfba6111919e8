"""`@gate.tool("name")`: gate a plain sync or async function; a call proposes it and returns the result or a handle."""
from __future__ import annotations

import contextvars
import functools
import inspect
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator

from .handles import Executor, Handle, Pending

if TYPE_CHECKING:    # Gate.tool imports this module: a runtime import of workflow would be a cycle
    from .workflow import Gate

__all__ = ["gated_tool", "acting", "Handle", "Pending"]

_FIELDS: contextvars.ContextVar[Dict[str, Any]] = contextvars.ContextVar("signoff_action_fields", default={})
_RESERVED = ("tool", "args")


@contextmanager
def acting(**fields: Any) -> Iterator[None]:
    """Set the action's other fields (`agent`, `tenant`, `confidence`, `context`, `id`…) for calls made inside."""
    bad = [k for k in fields if k in _RESERVED]
    if bad:
        raise ValueError(f"`{bad[0]}` comes from the call itself and cannot be set with acting()")
    token = _FIELDS.set({**_FIELDS.get(), **fields})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def _signature(name: str, fn: Callable) -> inspect.Signature:
    sig = inspect.signature(fn)
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
            raise TypeError(f"gated tool `{name}` cannot take positional-only or *args parameters: "
                            "its arguments must have names the policy can read")
    return sig


def _arguments(sig: inspect.Signature, a: tuple, kw: dict) -> Dict[str, Any]:
    bound = sig.bind(*a, **kw)
    args: Dict[str, Any] = {}
    for pname, p in sig.parameters.items():
        # a default of None means "not given": left out, as JSON null counts as missing anyway
        if pname not in bound.arguments and p.default is not p.empty and p.default is not None:
            args[pname] = p.default
    for pname, value in bound.arguments.items():
        if sig.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
            args.update(value)
        else:
            args[pname] = value
    return args


def _action(gate: Gate, name: str, args: Dict[str, Any]) -> Dict[str, Any]:
    return {**gate.defaults, **_FIELDS.get(), "tool": name, "args": args}


def _outcome(h: Handle) -> Any:
    if h.exception is not None:
        raise h.exception
    if h.state == "executed":
        return h.result
    return h


def gated_tool(gate: Gate, name: str, fn: Callable, idempotent: bool = False) -> Callable:
    """Register `fn` as the executor of `name` and return a wrapper with the same call shape that proposes.
    The wrapper returns `fn`'s result when the action ran, re-raises what `fn` raised, and otherwise returns
    the Handle (a Pending one while humans decide) for the agent to report."""
    sig = _signature(name, fn)
    if inspect.iscoroutinefunction(fn):
        async def run_async(args: Dict[str, Any], ctx: Any) -> Any:
            return await fn(**args)
        gate.register(name, Executor(run_async, idempotent))

        @functools.wraps(fn)
        async def async_wrapper(*a: Any, **kw: Any) -> Any:
            return _outcome(await gate.apropose(_action(gate, name, _arguments(sig, a, kw))))
        async_wrapper.signoff_tool = name  # type: ignore[attr-defined]
        return async_wrapper

    def run(args: Dict[str, Any], ctx: Any) -> Any:
        return fn(**args)
    gate.register(name, Executor(run, idempotent))

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        return _outcome(gate.propose(_action(gate, name, _arguments(sig, a, kw))))
    wrapper.signoff_tool = name  # type: ignore[attr-defined]
    return wrapper
