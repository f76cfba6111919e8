"""The arithmetic of a recommendation: the Clopper–Pearson upper bound, the holdout split, rates per 30 days.

scipy is not a dependency, so the beta quantile is computed here: the regularized incomplete beta
function by its continued fraction (modified Lentz, the form of Numerical Recipes §6.4, with the
prefactor from `math.lgamma`), and the quantile by bisection on it, which is monotone in x. Both are
checked against the binomial sum (`math.comb`) in tests/test_recommend_properties.py.
"""
from __future__ import annotations

import math
from typing import Optional

DAY = 86_400.0
MONTH = 30 * DAY
_EPS = 1e-15
_TINY = 1e-300


def _fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), good for x < (a + 1) / (a + b + 2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _fraction(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (to 1e-12)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return hi


def upper_bound(failures: int, trials: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper–Pearson upper bound on a rate seen as `failures` in `trials`: the p at which
    seeing `failures` or fewer has probability 1 - confidence. No trials: 1 (nothing is known)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if failures < 0 or trials < 0 or failures > trials:
        raise ValueError("failures must be between 0 and trials")
    if trials == 0 or failures == trials:
        return 1.0
    if failures == 0:  # the closed form: (1 - p)^n = 1 - confidence
        return -math.expm1(math.log1p(-confidence) / trials)
    return beta_quantile(confidence, failures + 1, trials - failures)


def split_index(n: int, holdout: float) -> int:
    """How many of `n` records (in time order) the fit part holds: the earliest ceil((1 - holdout) n)."""
    if not 0 <= holdout < 1:
        raise ValueError("holdout must be at least 0 and below 1")
    return n - int(math.floor(holdout * n + 1e-9))


def per_30_days(count: int, first: Optional[float], last: Optional[float]) -> Optional[float]:
    """`count` over the span from `first` to `last` (epoch seconds), as a rate per 30 days; None without
    a span (no records, or all at one instant)."""
    if first is None or last is None or last <= first:
        return None
    return count * MONTH / (last - first)

