"""Home of the HTTP service (issue 13); empty for now.

May import: engine's public API (`engine.__all__`) and policy_lang; the CLI never imports it.
"""
