"""The tracing hook behind `--explain` and rule coverage: records each rule and sub-condition."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from policy_lang import ast as A
from policy_lang.printer import expr_text

from .values import EvalError


class Tracer:
    """Records, for `--explain` and rule coverage, each rule consulted and the sub-conditions it evaluated."""
    def __init__(self) -> None:
        self.entries: List[Dict[str, Any]] = []
        self._current: List[Dict[str, Any]] = []

    def wrap_rule(self, label: str, at: str, cond: Callable) -> Callable:
        """A condition that records a rule entry (label, place, result or error) each time it is evaluated."""
        def traced(a: dict, env: Optional[dict]) -> Any:
            entry: Dict[str, Any] = {"rule": label, "at": at, "result": None, "conditions": []}
            self.entries.append(entry)
            self._current.append(entry)
            try:
                value = cond(a, env)
                entry["result"] = value
                return value
            except EvalError as x:
                entry["result"] = "error"
                entry["error"] = x.message
                raise
            finally:
                self._current.pop()
        return traced

    def expr(self, node: A.Expr, value: Any) -> None:
        """The expression hook: note a sub-condition's value (or error) under the rule being evaluated."""
        if not self._current:
            return
        shown = ("error: " + value.message) if isinstance(value, EvalError) else value
        self._current[-1]["conditions"].append({"expr": expr_text(node), "value": shown})

    def budget(self, label: str, at: str, total: float, limit: float, ok: bool) -> None:
        """Record a budget line's check: the window's total with this action, against the limit."""
        self.entries.append({"rule": label, "at": at, "result": ok,
                             "conditions": [{"expr": f"total {_num(total)} <= {_num(limit)}", "value": ok}]})

    def error(self, label: str, at: str, message: str) -> None:
        """Record a rule whose evaluation failed, with the error message (the rule denies)."""
        self.entries.append({"rule": label, "at": at, "result": "error", "error": message, "conditions": []})


def _num(v: float) -> str:
    """A number as `%g` would print it; an integer too large for a double (a budget total can be one)
    is printed whole instead of raising OverflowError."""
    try:
        return f"{v:g}"
    except OverflowError:
        return str(v)
