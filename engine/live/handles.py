"""What a proposal returns and what runs a tool: `Handle`/`Pending`, `Executor` and the execution context."""
from __future__ import annotations

import contextvars
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional


@dataclass
class ExecutionContext:
    """Given to an executor: the idempotency key stays the same across re-runs of one action."""
    action_id: str
    idempotency_key: str
    attempt: int
    tool: str
    action: Dict[str, Any]


_CURRENT: contextvars.ContextVar[Optional[ExecutionContext]] = contextvars.ContextVar("signoff_execution",
                                                                                      default=None)


def current_execution() -> Optional[ExecutionContext]:
    """The execution under way in this context (inside an executor), else None."""
    return _CURRENT.get()


@dataclass
class Executor:
    """`fn(args, ctx)` runs the tool; `idempotent` tools may be re-run after a crash mid-execution
    (with the same idempotency key), others are then marked failed for a human to reconcile."""
    fn: Callable[..., Any]
    idempotent: bool = False

    @property
    def is_async(self) -> bool:
        """Whether `fn` is a coroutine function (it then needs an event loop)."""
        return inspect.iscoroutinefunction(self.fn)


@dataclass
class Handle:
    """Where a proposal stands. `pending` while humans or an executor still have to act."""
    id: str
    state: str
    tool: str
    tenant: Optional[str]
    args: Dict[str, Any]
    args_hash: str
    decision: Dict[str, Any]
    routes: List[Dict[str, Any]] = field(default_factory=list)
    ask: List[str] = field(default_factory=list)
    escalate_to: Optional[str] = None
    reasons: List[str] = field(default_factory=list)
    result: Any = None
    error: Optional[str] = None
    message: str = ""
    exception: Optional[BaseException] = field(default=None, repr=False, compare=False)

    @property
    def pending(self) -> bool:
        """Whether humans or an executor still have to act (drafted, approved, executing)."""
        return self.state in ("drafted", "approved", "executing")

    @property
    def executed(self) -> bool:
        """Whether the action ran and its result is recorded."""
        return self.state == "executed"

    def to_dict(self) -> Dict[str, Any]:
        """The handle as JSON-ready data (the decision and the exception left out)."""
        return {"id": self.id, "state": self.state, "tool": self.tool, "tenant": self.tenant, "args": self.args,
                "args_hash": self.args_hash, "routes": self.routes, "ask": self.ask,
                "escalate_to": self.escalate_to, "reasons": self.reasons, "result": self.result,
                "error": self.error, "message": self.message}


class Pending(Handle):
    """A handle for an action that waits for humans (or for a process with the tool's executor)."""
