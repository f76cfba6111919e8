"""Opening a store from the string a user gives: a file path (SQLite) or a `postgresql://` URL."""
from __future__ import annotations

import os

from .store import Store, StoreError

__all__ = ["open_store", "is_postgres_url"]


def is_postgres_url(spec: str) -> bool:
    """Whether `spec` names a PostgreSQL store (`postgresql://` or `postgres://`)."""
    return spec.startswith(("postgresql://", "postgres://"))


def open_store(spec: str, create: bool = True) -> Store:
    """The store `spec` names: a `postgresql://` URL is a PostgresStore, `sqlite:PATH` or a plain path an
    SQLiteStore. `create=False` refuses a file that does not exist (a mistyped path must not look like an
    empty inbox); a database is never created here, only migrated."""
    if not isinstance(spec, str) or not spec:
        raise StoreError("a store is a file path or a `postgresql://` URL")
    if is_postgres_url(spec):
        from .postgres import PostgresStore
        return PostgresStore(spec)
    path = spec[len("sqlite:"):] if spec.startswith("sqlite:") else spec
    if not create and not os.path.exists(path):
        raise StoreError(f"store `{path}` does not exist")
    from .sqlite import SQLiteStore
    return SQLiteStore(path)
