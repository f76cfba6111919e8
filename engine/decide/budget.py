"""Budget lines' ledger keys and amounts, computed alike by the compiled graph and the reference interpreter."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Tuple

from .values import EvalError, kind

if TYPE_CHECKING:
    from .graph import BudgetNode


def bucket_value(v: Any) -> Any:
    """Budget key values as dict keys: 1 and 1.0 share a bucket, `true` and 1 do not."""
    t = v.__class__
    if t is str:
        return v
    if t is bool:
        return ("b", v)
    if t is int or t is float:
        return ("n", float(v))
    import json
    return ("j", json.dumps(v, sort_keys=True, default=str))


def budget_fns(node: BudgetNode) -> Tuple[Callable[[dict], Tuple], Callable[[dict], Any]]:
    """(key_of, amount_of) for a budget line: the ledger key of an action and the amount it counts.
    Both raise EvalError when the action lacks what the line needs. One key (the usual `per tenant`)
    gets its own closure, as does count()."""
    bucket, keys, texts = node.bucket, node.keys, node.key_texts
    one_key = getattr(keys[0], "one_key", None) if len(keys) == 1 else None   # set by ExprCompiler.getter
    if one_key is not None:
        (root, k0), text = one_key, texts[0]

        def key_of(a: dict) -> Tuple:  # `per tenant`: tenant.id read inline
            v = a.get(root)
            v = v.get(k0) if v.__class__ is dict else None
            if v.__class__ is str:
                return (bucket, (v,))
            if v is None:
                raise EvalError(f"budget key `{text}` is missing")
            return (bucket, (bucket_value(v),))
    else:
        def key_of(a: dict) -> Tuple:
            vals = []
            for get, text in zip(keys, texts):
                v = get(a, None)
                if v is None:
                    raise EvalError(f"budget key `{text}` is missing")
                vals.append(bucket_value(v))
            return (bucket, tuple(vals))
    amount, amount_text = node.amount, node.amount_text
    amount_key = getattr(amount, "one_key", None)
    if amount is None:
        def amount_of(a: dict) -> Any:
            return 1
    elif amount_key is not None:
        root_a, k_a = amount_key

        def amount_of(a: dict) -> Any:  # `sum(args.amount)`: read inline
            v = a.get(root_a)
            v = v.get(k_a) if v.__class__ is dict else None
            if v.__class__ is float and not v - v or v.__class__ is int:
                return v
            if v is None:
                raise EvalError(f"`{amount_text}` is missing")
            raise EvalError(f"`{amount_text}` is {kind(v)}, expected a finite number")
    else:
        def amount_of(a: dict) -> Any:
            v = amount(a, None)
            if v is None:
                raise EvalError(f"`{amount_text}` is missing")
            if (v.__class__ is not int and v.__class__ is not float) or v - v:
                raise EvalError(f"`{amount_text}` is {kind(v)}, expected a finite number")
            return v
    return key_of, amount_of
