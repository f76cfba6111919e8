"""The signoff decision engine: compile a checked policy to a decision graph and decide actions."""
from .decide.actions import ActionError, InputSyntaxError, loads_action, parse_timestamp
from .decide.decision import OUTCOMES, Decision, Reason
from .decide.evaluator import Policy, load_policy
from .decide.ledger import Ledger, MemoryLedger

__all__ = ["ActionError", "InputSyntaxError", "loads_action", "parse_timestamp", "OUTCOMES", "Decision",
           "Reason", "Policy", "load_policy", "Ledger", "MemoryLedger"]
