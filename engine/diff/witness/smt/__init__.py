"""The complete witness search (issue 12), for the z3 SMT solver.

Both versions' decisions for one symbolic action are encoded for z3, per tool and direction; a witness is
verified by the compiled policies before it is returned, and an answer the solver cannot give is
`unknown` with the construct that stopped it. The modules, each importing only those before it:
`values` (the optional z3 import, the bounds, symbolic values `V`, `const` and the `_and/_or/...`
helpers), `regexes` (`regex_to_z3`), `encoder` (`Dec`, `Encoder`: one version's decision), `model` (a
model read back as an action and a ledger) and `solver` (`smt_tool`, `smt_search`: the search for one
tool). They may import `policy_lang`, `engine.decide`, `engine.diff.records`, `engine.diff.structural`
and the sibling witness modules; nothing here imports the CLI.
"""
from .values import (DEFAULT_TIMEOUT, MAX_LIST, MAX_NESTING, MAX_ROUNDS, METHOD, Unsupported, V, available,
                     const)
from .regexes import regex_to_z3
from .encoder import Dec, Encoder
from .model import LedgerState, model_action, model_ledger
from .solver import (SmtOutcome, deciding_rules, history_of, same_rules, smt_search, smt_tool, verify)

__all__ = ["DEFAULT_TIMEOUT", "MAX_LIST", "MAX_NESTING", "MAX_ROUNDS", "METHOD", "Unsupported", "V", "available",
           "const", "regex_to_z3", "Dec", "Encoder", "LedgerState", "model_action", "model_ledger", "SmtOutcome",
           "deciding_rules", "history_of", "same_rules", "smt_search", "smt_tool", "verify"]
