"""Live use: the approval workflow (`Gate`), its store and audit log, notification channels,
patches, canonical identities and the `@gate.tool` SDK.

`workflow.Gate` is a facade of the public verbs over step modules by concern: `proposals`,
`grants`, `human` (approve, edit, reject, timeouts), `execution` (claim, run, resume) and `views`
(handles, route progress, history), with `shared` for what they share. They work on the typed
records of `records` (Draft, Approval, Grant, Route), where every state change goes through
`transition()`; `store` (the Store/Tx contract), `sqlite` and `postgres` keep rows as dicts, their SQL
shared in `sqlstore` (one Tx over a small dialect hook);
`opening.open_store` turns a path or a `postgresql://` URL into a store, `migrate` copies one into another.

May import: policy_lang, engine.decide and engine.live; never engine.replay or engine.report.
"""
