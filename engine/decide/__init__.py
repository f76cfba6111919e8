"""Deciding one action: the action and value model, the compiled decision graph (compiler,
expression closures, runtime), the evaluator (`Policy`), ledgers, traces, the reference
interpreter and strict JSON output.

May import: policy_lang and engine.decide only.
"""
