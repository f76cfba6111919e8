"""What every module of the columnar engine shares: its errors, its lazily imported modules, its bounds."""
from __future__ import annotations

from typing import Any, Optional, Tuple


class EngineUnavailable(Exception):
    """The columnar engine's packages are not installed (the message names the extra to install)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.code = "engine_unavailable"


class Unsupported(Exception):
    """The columnar reader or key does not take this exactly: the row engine does it."""


def modules() -> Tuple[Any, Any, Any, Any]:
    """The modules numpy, pyarrow, pyarrow.compute and pyarrow.parquet, or EngineUnavailable naming the extra."""
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise EngineUnavailable("the columnar engine needs numpy and pyarrow: install `signoff[sim]`") from None
    return np, pa, pc, pq


def kind_of(pa: Any, t: Any) -> Optional[str]:
    """The kind of an Arrow type the columnar engine keys (str, bool, float, int, null), or None."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_float64(t):
        return "float"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t) or pa.types.is_int64(t) \
            or pa.types.is_uint8(t) or pa.types.is_uint16(t) or pa.types.is_uint32(t):
        return "int"
    if pa.types.is_null(t):
        return "null"
    return None


EXACT = 2 ** 53                                    # integers numpy compares with doubles exactly below this
