"""Ready-made policies in the signoff DSL, loaded with `use stdlib.NAME`."""
