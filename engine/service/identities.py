"""The directory behind `signoff identities add|list|revoke|rotate`: identities, their kind and their API keys."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

from engine import Identity, Store, StoreError

from .keys import KINDS, key_hash, new_key

__all__ = ["IdentityRecord", "add_identity", "list_identities", "revoke_identity", "rotate_key"]


@dataclass(frozen=True)
class IdentityRecord:
    """One identity as `identities list` shows it: id, kind, roles, tenant, live keys and whether it is revoked."""
    id: str
    kind: str
    roles: List[str]
    tenant: Optional[str]
    keys: int
    revoked: bool


def add_identity(store: Store, ident_id: str, roles: Sequence[str], tenant: Optional[str] = None,
                 kind: str = "human") -> str:
    """Register (or re-register) an identity and give it a new API key; returns the key (shown once: the
    store keeps its hash). ValueError for a bad id, role, tenant or kind; re-registering revokes older keys."""
    if kind not in KINDS:
        raise ValueError(f"kind `{kind}` is not agent or human")
    if not roles:
        raise ValueError("an identity needs at least one `--role`")
    ident = Identity(ident_id, frozenset(roles), tenant)
    key = new_key()
    now = time.time()
    with store.transaction() as tx:
        tx.revoke_api_keys(ident.id, now)
        tx.put_identity(ident)
        tx.set_identity_kind(ident.id, kind)
        tx.add_api_key(ident.id, key_hash(key), now)
    return key


def _record(info: dict) -> IdentityRecord:
    return IdentityRecord(info["id"], info["kind"], sorted(info["roles"]), info["tenant"], info["keys"],
                          info["revoked_at"] is not None)


def list_identities(store: Store) -> List[IdentityRecord]:
    """Every identity, by id."""
    with store.snapshot() as tx:
        return [_record(i) for i in tx.list_identity_info()]


def revoke_identity(store: Store, ident_id: str) -> None:
    """Revoke an identity and every key of it; StoreError when there is no such identity."""
    with store.transaction() as tx:
        if not tx.revoke_identity(ident_id, time.time()):
            raise StoreError(f"no identity `{ident_id}`")


def rotate_key(store: Store, ident_id: str) -> str:
    """Revoke the identity's keys and give it a new one (returned, shown once); StoreError when it does not
    exist or was revoked (register it again with `add`)."""
    key = new_key()
    now = time.time()
    with store.transaction() as tx:
        info = tx.identity_info(ident_id)
        if info is None:
            raise StoreError(f"no identity `{ident_id}`")
        if info["revoked_at"] is not None:
            raise StoreError(f"identity `{ident_id}` is revoked: register it again with `identities add`")
        tx.revoke_api_keys(info["id"], now)
        tx.add_api_key(info["id"], key_hash(key), now)
    return key
