"""Analyses of a checked program shared by lint, the structural diff and the recommender.

What lives here: `Logic` (conditions as DNF over atoms, with a satisfiability test: what lint
proves), `SchemaView` (read-only walks over a tool's JSON Schema) and the constant helpers they
rest on. These modules may import the rest of policy_lang (ast, printer, regex) but never
`policy_lang.lint`, engine or cli: they know nothing of diagnostics or rules.
"""
from .logic import DNF, FALSE, MAX_DNF, MAX_PRODUCT, TRUE, Atom, Conj, Logic, paths_in
from .schema import SchemaView
from .values import FLIP, NEGATE, NO, ORDER, const_compare, is_num, json_equal, type_tag, value_kind

__all__ = ["Logic", "SchemaView", "Atom", "Conj", "DNF", "TRUE", "FALSE", "MAX_DNF", "MAX_PRODUCT", "NO",
           "FLIP", "NEGATE", "ORDER", "paths_in", "is_num", "type_tag", "value_kind", "json_equal",
           "const_compare"]
