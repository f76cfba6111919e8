"""Live use: the approval workflow (`Gate`), its store and audit log, notification channels,
patches, canonical identities and the `@gate.tool` SDK.

May import: policy_lang, engine.decide and engine.live; never engine.replay or engine.report.
"""
