"""The signoff decision engine: compile a checked policy to a decision graph and decide actions."""
from .actions import ActionError, InputSyntaxError, loads_action, parse_timestamp
from .decision import OUTCOMES, Decision, Reason
from .evaluator import Policy, load_policy
from .ledger import Ledger, MemoryLedger

__all__ = ["ActionError", "InputSyntaxError", "loads_action", "parse_timestamp", "OUTCOMES", "Decision",
           "Reason", "Policy", "load_policy", "Ledger", "MemoryLedger"]
