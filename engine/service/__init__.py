"""Home of the HTTP service (issue 13): `notify` (the `[notifications]` config), `worker` (timeouts and leases).

May import: engine's public API (`engine.__all__`) and policy_lang; the CLI imports only the names its
commands start (listed in tests/test_layering.py).
"""
