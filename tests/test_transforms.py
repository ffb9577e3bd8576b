"""Laws and the fitter under jit, vmap and grad (lineax-style transformation tests)."""

import jax
import jax.numpy as jnp
import numpy as np

import scalinglaws as sl
from scalinglaws import laws
from scalinglaws.fit import fit_arrays, make_parameterization, random_starts

X = {"N": jnp.geomspace(1e7, 1e10, 7), "D": jnp.geomspace(1e9, 1e12, 7)}
LAW = laws.Chinchilla(E=1.82, A=478.0, B=2144.0, alpha=0.347, beta=0.367)


def test_log_space_equals_direct_formula():
    direct = LAW.E + LAW.A / X["N"] ** LAW.alpha + LAW.B / X["D"] ** LAW.beta
    np.testing.assert_allclose(LAW(N=X["N"], D=X["D"]), direct, rtol=1e-13)
    np.testing.assert_allclose(LAW(X), direct, rtol=1e-13)


def test_jit_equals_eager():
    np.testing.assert_allclose(jax.jit(lambda law, x: law.predict(x))(LAW, X), LAW.predict(X), rtol=1e-14)


def test_vmap_over_a_batched_law():
    alphas = jnp.array([0.3, 0.35, 0.4])
    batched = jax.vmap(lambda a: LAW.replace(alpha=a))(alphas)
    assert batched.alpha.shape == (3,) and batched.E.shape == (3,)
    out = jax.vmap(lambda law: law.predict(X))(batched)
    for i, a in enumerate(alphas):
        np.testing.assert_allclose(out[i], LAW.replace(alpha=a).predict(X), rtol=1e-14)


def test_gradient_of_law_matches_finite_differences():
    def loss_at(alpha):
        return LAW.replace(alpha=alpha).predict(X).sum()

    eps = 1e-6
    fd = (loss_at(0.347 + eps) - loss_at(0.347 - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.grad(loss_at)(0.347), fd, rtol=1e-6)


def _power_data():
    rng = np.random.default_rng(3)
    c = np.geomspace(1e17, 1e22, 30)
    truth = laws.PowerLaw(E=1.7, A=700.0, alpha=0.15, variable="C")
    y = np.asarray(truth.predict({"C": c})) * np.exp(rng.normal(0, 0.01, 30))
    return truth, {"C": jnp.asarray(c)}, jnp.asarray(y)


def test_fit_under_jit_equals_eager_fit():
    truth, x, y = _power_data()
    starts = random_starts(make_parameterization(truth), 64, seed=0)
    # `sl.fit` validates and orchestrates in Python; `fit_arrays` is the same search as one
    # pure function that a user can put under their own `jax.jit`.
    reference = sl.fit(truth, {"C": np.asarray(x["C"]), "loss": np.asarray(y)}, starts=starts, loss="squared")
    jitted = jax.jit(lambda y_: fit_arrays(truth, x, y_, starts=starts, loss="squared"))(y)
    for name in ("E", "A", "alpha"):
        np.testing.assert_allclose(getattr(jitted.law, name), reference.coefficients[name], rtol=1e-8)
    assert bool(jitted.converged)


def test_gradient_of_fitted_coefficients_wrt_data_implicit_vs_finite_differences():
    truth, x, y = _power_data()
    starts = random_starts(make_parameterization(truth), 64, seed=0)

    @jax.jit
    def fitted_alpha(y_):
        return fit_arrays(truth, x, y_, starts=starts, loss="squared", rtol=1e-12, atol=1e-14).law.alpha

    grad = jax.jit(jax.grad(fitted_alpha))(y)
    assert grad.shape == y.shape and bool(jnp.all(jnp.isfinite(grad)))
    for i in (0, 12, 29):
        eps = 1e-5 * float(y[i])
        up = fitted_alpha(y.at[i].add(eps))
        down = fitted_alpha(y.at[i].add(-eps))
        np.testing.assert_allclose(grad[i], (up - down) / (2 * eps), rtol=2e-3, atol=1e-8)
