"""Replaying histories: readers and records of past actions (history) and the simulation that
decides them again (simulate).

May import: policy_lang, engine.decide and engine.replay; never engine.live or engine.report.
"""
