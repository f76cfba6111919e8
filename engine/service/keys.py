"""API keys: 256-bit random tokens, of which the store keeps only the SHA-256 hash."""
from __future__ import annotations

import hashlib
import secrets

__all__ = ["KINDS", "KEY_PREFIX", "new_key", "key_hash"]

KINDS = ("agent", "human")
KEY_PREFIX = "sk_"


def new_key() -> str:
    """A new API key: 32 random bytes (256 bits) from the OS, URL-safe, with a recognisable prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What the store keeps of a key: its SHA-256 (a 256-bit random key needs no slow hash)."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
