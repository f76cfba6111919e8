"""Property tests of recommend's arithmetic against plain implementations: the bound, the choice, the holdout split."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.recommend.search import choose, count, lets_through
from engine.recommend.stats import betainc, split_index, upper_bound

VERDICT = st.sampled_from(["approved", "approved", "approved", "approved", "edited", "rejected", "expired", None])


def binom_cdf(k, n, p):
    """P(X <= k) for X ~ Binomial(n, p), by the plain sum."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_upper_bound_is_where_the_binomial_tail_reaches_one_minus_confidence(nk, conf):
    n, k = nk
    u = upper_bound(k, n, conf)
    if n == 0 or k == n:
        assert u == 1.0
        return
    # the definition: P(X <= k; n, u) = 1 - conf, and the tail falls as p grows
    assert abs(binom_cdf(k, n, u) - (1 - conf)) < 1e-7
    assert binom_cdf(k, n, max(0.0, u - 1e-3)) > 1 - conf - 1e-9


@settings(max_examples=100, deadline=None)
@given(st.floats(0.5, 40), st.floats(0.5, 40), st.floats(0.001, 0.999))
def test_betainc_matches_the_binomial_identity_and_symmetry(a, b, x):
    assert abs(betainc(a, b, x) + betainc(b, a, 1 - x) - 1) < 1e-9
    n, k = 12, 4   # I_x(k+1, n-k) = P(X >= k+1; n, x)
    assert abs(betainc(k + 1, n - k, x) - (1 - binom_cdf(k, n, x))) < 1e-9


def plain_choose(points, op, conf, risk):
    """For every threshold a value of the data gives, the actions it lets through; the largest such set
    that holds no rejection, with nothing rejected nearer to the current threshold, and a bound within `risk`."""
    down = op in (">=", ">")
    best = 0
    for v in sorted({p[0] for p in points}, reverse=down):
        taken = [p for p in points if (p[0] >= v if down else p[0] <= v)]
        c = count([p[1] for p in taken])
        if c.rejected:
            break
        if upper_bound(c.changed, c.reviewed, conf) <= risk:
            best = len(taken)
    return best


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30).map(lambda i: i / 10), VERDICT), max_size=80),
       st.sampled_from([">=", ">", "<=", "<"]), st.sampled_from([0.05, 0.2, 0.5]))
def test_choice_is_the_loosest_safe_prefix_and_its_value_lets_exactly_it_through(points, op, risk):
    got, _ = choose(points, op, 0.9, risk)
    want = plain_choose(points, op, 0.9, risk)
    if got is None:
        assert want == 0
        return
    through = [p for p in points if lets_through(op, p[0], got.value)]
    assert len(through) == got.taken
    c = count([p[1] for p in through])
    assert c == got.counts and c.rejected == 0
    assert upper_bound(c.changed, c.reviewed, 0.9) == got.bound <= risk
    assert got.taken == want


@given(st.integers(0, 10_000), st.floats(0, 0.99))
def test_holdout_split_keeps_the_earliest_share(n, holdout):
    fit = split_index(n, holdout)
    assert 0 <= fit <= n
    assert n - fit == math.floor(holdout * n + 1e-9)
