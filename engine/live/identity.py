"""Identity ids (spec §6, v1.1): one function decides when two ids name the same person, and which ids are refused."""
from __future__ import annotations

import unicodedata
from typing import Any, Iterable, Optional

from policy_lang.safe_text import is_unsafe, safe_text

__all__ = ["IdentityError", "canonical_id", "id_key", "same_id", "role_keys"]

# An id is refused if it holds a character the output escapes (`policy_lang.safe_text.is_unsafe`):
# Cc controls and DEL; Cf format characters (bidi overrides and isolates, zero-width space and joiners,
# BOM, soft hyphen), which render as nothing and so let two ids that look alike differ; Cs lone
# surrogates, which cannot even be stored as UTF-8; Zl/Zp line and paragraph separators.


class IdentityError(ValueError):
    """An id that is empty, has surrounding whitespace or contains a control or format character."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _fold(s: str) -> str:
    # casefolding can de-normalise (e.g. U+0390 folds to a decomposed sequence): NFKC again after it,
    # which makes the result a fixed point (checked over every code point in tests/test_identity.py)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


def _problem(s: str) -> Optional[str]:
    if s == "":
        return "is empty"
    if s != s.strip():
        return "has surrounding whitespace"
    for ch in s:
        if is_unsafe(ch):
            return f"contains the control or format character U+{ord(ch):04X}"
    return None


def canonical_id(s: Any, what: str = "id") -> str:
    """The form ids are compared in: NFKC, case folded, NFKC again, so `Alice`, `alice` and `ａｌｉｃｅ` are one.
    Raises IdentityError for a non-string, an empty id, surrounding whitespace or a control/format
    character, before or after normalisation (NFKC can turn `¨` into a space and a combining mark)."""
    if not isinstance(s, str):
        raise IdentityError(f"{what} must be a string")
    problem = _problem(s)
    key = _fold(s) if problem is None else ""
    if problem is None:
        problem = _problem(key)
        if problem is not None:
            problem = "becomes an id that " + problem + " after unicode normalisation"
    if problem is not None:
        raise IdentityError(f"{what} `{safe_text(s)}` {problem}")  # the id itself may be unsafe to print
    return key


def id_key(s: Any) -> Optional[str]:
    """The comparison key of an id already stored (perhaps before ids were checked): the canonical id when
    it is valid, else the canonical form of what is left without controls, format characters and
    surrounding whitespace, so a legacy `Bot ` still counts as `bot` (fail closed). None for a non-string."""
    if not isinstance(s, str):
        return None
    try:
        return canonical_id(s)
    except IdentityError:
        kept = "".join(ch for ch in s if not is_unsafe(ch))
        return _fold(kept).strip()


def same_id(a: Any, b: Any) -> bool:
    """True when `a` and `b` name the same person; False when either is missing."""
    ka, kb = id_key(a), id_key(b)
    return ka is not None and ka == kb


def role_keys(roles: Iterable[Any]) -> frozenset:
    """Roles (an identity's, a route's `approvers`) compared the way ids are."""
    return frozenset(k for k in (id_key(r) for r in roles) if k)
