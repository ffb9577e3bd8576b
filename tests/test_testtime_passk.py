"""pass@k (Chen et al. 2021) against exact rational arithmetic, and the attempts table."""

from fractions import Fraction
from math import comb

import numpy as np
import pandas as pd
import pytest

import scalinglaws  # noqa: F401  (float64)
from scalinglaws.testtime import load_attempts, mean_pass_at_k, pass_at_k


def exact(n, c, k):
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def test_small_cases_equal_the_combinatorial_formula():
    worst = 0.0
    for n in range(1, 13):
        for c in range(n + 1):
            values = pass_at_k([n], [c], list(range(1, n + 1)))[:, 0]
            for k in range(1, n + 1):
                worst = max(worst, abs(values[k - 1] - exact(n, c, k)))
    assert worst < 1e-15


@pytest.mark.parametrize(
    "c, k",
    [
        (0, 1),
        (1, 1),
        (1, 9_999),
        (3, 5_000),
        (37, 100),
        (500, 10),
        (9_000, 1_000),
        (10_000, 10_000),
        (2, 7_000),
    ],
)
def test_large_n_is_finite_and_exact(c, k):
    n = 10_000
    value = pass_at_k([n], [c], k)[0]
    assert np.isfinite(value)
    assert abs(value - exact(n, c, k)) < 1e-12


def test_vectorised_over_problems_and_k():
    n = np.array([5, 10, 10, 20])
    c = np.array([1, 0, 10, 3])
    ks = [1, 2, 5]
    got = pass_at_k(n, c, ks)
    want = np.array([[exact(a, b, k) for a, b in zip(n, c)] for k in ks])
    np.testing.assert_allclose(got, want, atol=1e-15)
    assert pass_at_k(n, c, 1).shape == (4,)
    # pass@1 is the share of correct samples.
    np.testing.assert_allclose(pass_at_k(n, c, 1), c / n, atol=1e-15)


def test_mean_pass_at_k_per_model():
    table = pd.DataFrame(
        {
            "problem": [0, 1, 0, 1],
            "n": [4, 4, 4, 4],
            "c": [1, 0, 4, 2],
            "model": ["a", "a", "b", "b"],
        }
    )
    np.testing.assert_allclose(mean_pass_at_k(table, [1, 2], model="a"), [0.125, 0.25])
    np.testing.assert_allclose(mean_pass_at_k(table, [1], model="b"), [0.75])
    with pytest.raises(ValueError, match="no such model"):
        mean_pass_at_k(table, 1, model="c")
    with pytest.raises(ValueError, match="several models"):
        load_attempts(table).for_model(None)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match=r"c > n"):
        pass_at_k([5], [6], 1)
    with pytest.raises(ValueError, match="negative counts"):
        pass_at_k([5], [-1], 1)
    with pytest.raises(ValueError, match="negative counts"):
        load_attempts({"problem": [0], "n": [-3], "c": [0]})
    with pytest.raises(ValueError, match="non-integer"):
        pass_at_k([5], [1.5], 1)
    with pytest.raises(ValueError, match="positive integer"):
        pass_at_k([5], [1], 0)
    with pytest.raises(ValueError, match="positive integer"):
        pass_at_k([5], [1], -2)
    with pytest.raises(ValueError, match="needs k <= n"):
        pass_at_k([5, 10], [1, 1], 6)
    with pytest.raises(ValueError, match="n must be at least 1"):
        load_attempts({"problem": [0], "n": [0], "c": [0]})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['c'\]"):
        load_attempts({"problem": [0], "n": [3]})
    with pytest.raises(ValueError, match="missing or non-numeric"):
        load_attempts({"problem": [0], "n": [3], "c": ["x"]})
    with pytest.raises(ValueError, match="no such file"):
        load_attempts("/nonexistent/attempts.csv")
    with pytest.raises(TypeError, match="expected a CSV path"):
        load_attempts(3.0)


def test_huge_n_uses_little_memory():
    import tracemalloc

    tracemalloc.start()
    n = 10**12
    got = pass_at_k([n, n, n], [0, 3, 10**9], [1, 100, 10**6])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200e6  # O(min(k, c)), not O(n) (8 TB)
    # pass@k = 1 - prod_{i<k} (1 - c/(n - i)), summed here term by term
    want = [-np.expm1(np.log1p(-3 / (n - np.arange(k, dtype=float))).sum()) for k in (1, 100, 10**6)]
    np.testing.assert_allclose(got[:, 1], want, rtol=1e-12)
    np.testing.assert_array_equal(got[:, 0], 0.0)
    assert got[0, 2] == pytest.approx(1e-3, rel=1e-9)


def test_large_k_and_c_branch_agrees_with_the_product():
    from scalinglaws.testtime._passk import _log_fail_all

    n, k, c = 10**8, 5 * 10**6, 5 * 10**6 + 3  # both above 2**22: Stirling's series
    direct = np.log1p(-c / (n - np.arange(k, dtype=float))).sum()
    assert abs(_log_fail_all(n, k, np.array([c]))[0] / direct - 1) < 1e-9
