"""Sums of positive terms, computed from their logs."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ..errors import InputError

_LARGEST = float(np.finfo(np.float64).max)


def log_sum_exp(*log_terms: ArrayLike) -> Array:
    r"""$\log \sum_i e^{t_i}$ of broadcast arrays $t_i$ (the logs of positive terms, e.g.
    $\log E$, $\log A - \alpha \log N$, $\log B - \beta \log D$ for the Chinchilla law).

    $$\mathrm{LSE}(t) = m + \log \sum_i e^{t_i - m}, \qquad m = \max_i t_i$$

    so no term overflows and the largest contributes exactly $e^0 = 1$. $m$ is held constant
    for differentiation (it cancels exactly, as in `jax.nn.logsumexp`), and an infinite $m$ is
    clamped to the largest finite float so that all-$-\infty$ terms give $-\infty$ and a
    $+\infty$ term gives $+\infty$, as `jnp.logaddexp` does.

    Why not nested `jnp.logaddexp`: each pair costs an `exp`, a `log1p` and NaN/infinity
    selects, and its gradient more again. This form costs one `exp` per term and one `log`;
    measured on 512 vectorised Chinchilla objectives of 64 runs (float64, CPU) the value and
    gradient take 0.49 us per objective instead of 1.48 us, and screening 4,500 starts 0.37 us
    per start instead of 0.74 us (same values to the last bit or two). Why not
    `jax.nn.logsumexp` over stacked terms: the same formula, but the stack and the reduction
    over it cost 0.61 us and 0.73 us on the same measurement.
    """
    if not log_terms:
        raise InputError("log_sum_exp: no terms given; pass the logs of the terms to sum, e.g. "
                         "log_sum_exp(jnp.log(E), jnp.log(A) - alpha * jnp.log(N)).")
    terms = jnp.broadcast_arrays(*log_terms)
    m = terms[0]
    for term in terms[1:]:
        m = jnp.maximum(m, term)
    # An infinite m is clamped to the largest finite float by max and negation: `where` and
    # `clip` (which XLA turns into `clamp`) are operations XLA's CPU backend cannot fuse with a
    # following sum (see `scalinglaws.fit.huber`). The values (+inf, -inf, NaN) are those of
    # replacing it by 0.
    m = jax.lax.stop_gradient(-jnp.maximum(-jnp.maximum(m, -_LARGEST), -_LARGEST))
    total = jnp.exp(terms[0] - m)
    for term in terms[1:]:
        total = total + jnp.exp(term - m)
    return m + jnp.log(total)
