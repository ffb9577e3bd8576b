"""The objective's select-free forms (`huber`, `log_sum_exp`) give the values and
derivatives of the textbook forms to the last bit, special values included.

They are written without `select` so that XLA's CPU backend fuses a screen's terms and their
sum into one kernel (see `scalinglaws.fit.huber`); this checks that nothing else changed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws.fit import huber
from scalinglaws.laws import log_sum_exp
from scalinglaws.precision import in_float64

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 5e-324, 700.0, -745.0])


def two_branch_huber(r, delta):
    abs_r = jnp.abs(r)
    return jnp.where(abs_r <= delta, 0.5 * r**2, delta * (abs_r - 0.5 * delta))


def replaced_by_zero_log_sum_exp(*terms):
    terms = jnp.broadcast_arrays(*terms)
    m = terms[0]
    for t in terms[1:]:
        m = jnp.maximum(m, t)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
    total = jnp.exp(terms[0] - m)
    for t in terms[1:]:
        total = total + jnp.exp(t - m)
    return m + jnp.log(total)


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("delta", [1e-3, 0.1, 1.0])
def test_huber_matches_the_two_branch_form_bit_for_bit(delta):
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.normal(size=20_000) * scale for scale in (1e-6, 1e-3, 0.1, 10.0)])
    r = np.concatenate([r, SPECIAL, [delta, -delta, np.nextafter(delta, 0), np.nextafter(delta, 1)]])
    with in_float64():
        r = jnp.asarray(r)
        assert same_bits(jax.jit(huber)(r, delta), jax.jit(two_branch_huber)(r, delta))
        weights = jnp.asarray(rng.uniform(0.5, 2.0, r.shape))
        grad = lambda f: jax.jit(jax.grad(lambda r: jnp.sum(weights * f(r, delta))))(r)  # noqa: E731
        assert same_bits(grad(huber), grad(two_branch_huber))


def test_log_sum_exp_matches_replacing_an_infinite_max_by_zero():
    rng = np.random.default_rng(1)
    n = 200_000
    columns = []
    for _ in range(3):
        c = rng.normal(size=n) * 10 ** rng.uniform(-3, 3, size=n)
        special = rng.random(n) < 0.02
        c[special] = rng.choice(SPECIAL, special.sum())
        columns.append(c)
    with in_float64():
        columns = [jnp.asarray(c) for c in columns]
        ours, theirs = jax.jit(log_sum_exp)(*columns), jax.jit(replaced_by_zero_log_sum_exp)(*columns)
        assert same_bits(ours, theirs)
        # Derivatives too, wherever the value is finite (where it is infinite, the old form's
        # derivative could be NaN and this one's 0; neither is used: the objective is +inf).
        finite = np.isfinite(np.asarray(theirs))
        grad = lambda f: jax.jit(jax.grad(lambda *c: jnp.sum(f(*c) * 0.7), argnums=(0, 1, 2)))(*columns)  # noqa: E731
        for a, b in zip(grad(log_sum_exp), grad(replaced_by_zero_log_sum_exp), strict=True):
            assert same_bits(np.asarray(a)[finite], np.asarray(b)[finite])
