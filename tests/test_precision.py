"""Importing scalinglaws leaves `jax.config` alone, and the library still computes in float64.

`conftest.py` switches float64 on for the test process, so these checks run in fresh
subprocesses, where the caller's setting is whatever the check says it is.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Epoch AI's replication (Besiroglu et al. 2024, arXiv:2404.10102): Huber objective of the
# Chinchilla fit on their 240 points.
EPOCH_OBJECTIVE = 0.0010182740346154362


def _run(code: str, *, x64: bool | None) -> dict:
    """Run `code` in a fresh Python; the caller's `jax_enable_x64` is set by the
    environment (as a user would), and the code prints one JSON object last."""
    env = dict(os.environ, SCALINGLAWS_CACHE_DIR="off")
    env.pop("JAX_ENABLE_X64", None)
    if x64 is not None:
        env["JAX_ENABLE_X64"] = "1" if x64 else "0"
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("start", [False, True])
def test_import_leaves_jax_config_unchanged(start):
    got = _run(
        """
        import json, jax
        before = bool(jax.config.jax_enable_x64)
        import scalinglaws, scalinglaws.bayes, scalinglaws.allocate, scalinglaws.mixture, scalinglaws.testtime
        print(json.dumps({"before": before, "after": bool(jax.config.jax_enable_x64)}))
        """,
        x64=start,
    )
    assert got == {"before": start, "after": start}


FIT_CODE = """
import json, jax, jax.numpy as jnp, numpy as np
import scalinglaws as sl
before = bool(jax.config.jax_enable_x64)
result = sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
law = result.law
loss = law(N=7e10, D=1.4e12)
print(json.dumps({
    "before": before,
    "after": bool(jax.config.jax_enable_x64),
    "objective": float(result.objective),
    "objective_dtype": str(np.asarray(result.objective).dtype),
    "E": float(law.E),
    "E_dtype": str(law.E.dtype),
    "loss": float(loss),
    "loss_dtype": str(loss.dtype),
    "user_dtype": str((jnp.ones(3) * 2.0).dtype),
    "converged": bool(result.converged),
}))
"""


@pytest.fixture(scope="module")
def float32_caller():
    return _run(FIT_CODE, x64=False)


@pytest.fixture(scope="module")
def float64_caller():
    return _run(FIT_CODE, x64=True)


def test_float32_caller_reproduces_epoch(float32_caller):
    got = float32_caller
    assert got["before"] is False and got["after"] is False  # the caller's setting survives
    assert got["converged"]
    assert got["objective"] == pytest.approx(EPOCH_OBJECTIVE, rel=1e-6)
    # What leaves the library is float64, and the caller's own code is still float32.
    assert got["objective_dtype"] == "float64"
    assert got["E_dtype"] == "float64" and got["loss_dtype"] == "float64"
    assert got["user_dtype"] == "float32"


def test_float64_caller_gets_the_same_fit(float32_caller, float64_caller):
    got = float64_caller
    assert got["before"] is True and got["after"] is True
    assert got["objective"] == pytest.approx(EPOCH_OBJECTIVE, rel=1e-6)
    assert got["user_dtype"] == "float64"
    for key in ("objective", "E", "loss"):
        assert got[key] == pytest.approx(float32_caller[key], rel=1e-9), key


def test_law_evaluation_is_float64_for_a_float32_caller():
    # 1 + 1e-9 is 1 in float32: a law evaluated in float32 cannot see the difference.
    got = _run(
        """
        import json, jax
        from scalinglaws.laws import PowerLaw
        law = PowerLaw(E=1.0, A=1e-9, alpha=1e-12, variable="C")
        value = law(C=1.0)
        print(json.dumps({"excess": float(value) - 1.0, "dtype": str(value.dtype),
                          "x64": bool(jax.config.jax_enable_x64)}))
        """,
        x64=False,
    )
    assert got["x64"] is False
    assert got["dtype"] == "float64"
    assert got["excess"] == pytest.approx(1e-9, rel=1e-6)


def test_log_sum_exp_matches_nested_logaddexp():
    """`log_sum_exp` (the laws' sum of power-law terms) equals nested `jnp.logaddexp` in
    value and gradient, including infinite terms."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scalinglaws.laws import log_sum_exp

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        a, b, c = (jnp.asarray(rng.normal(0, 30, 1000)) for _ in range(3))
        np.testing.assert_allclose(log_sum_exp(a, b, c), jnp.logaddexp(jnp.logaddexp(a, b), c), rtol=1e-14, atol=1e-14)
        grad = jax.grad(lambda t: jnp.sum(log_sum_exp(*t)))((a, b, c))
        expected = jax.grad(lambda t: jnp.sum(jnp.logaddexp(jnp.logaddexp(t[0], t[1]), t[2])))((a, b, c))
        for g, e in zip(grad, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-300)
        inf = jnp.inf
        assert float(log_sum_exp(-inf, -inf)) == -inf
        assert float(log_sum_exp(inf, 0.0)) == inf
        assert float(log_sum_exp(-inf, 2.0)) == 2.0
        broadcast = log_sum_exp(1.0, 2.0, 0.5 * jnp.ones(3))  # scalars broadcast against arrays
        assert broadcast.shape == (3,)
        np.testing.assert_allclose(broadcast, float(jnp.logaddexp(jnp.logaddexp(1.0, 2.0), 0.5)), rtol=1e-15)


def test_log_sum_exp_without_terms_says_what_to_pass():
    import pytest

    from scalinglaws import InputError
    from scalinglaws.laws import log_sum_exp

    with pytest.raises(InputError, match="log_sum_exp: no terms given; pass the logs of the terms"):
        log_sum_exp()
