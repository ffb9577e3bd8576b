r"""The compute-optimal allocator: minimise a law's predicted loss along a FLOP constraint.

Along the constraint $\text{FLOPs}(N, D) + 2NT_\text{inf} = C$ the tokens $D$ follow from
$N$ in closed form (every FLOP count is linear in $D$, see `_flops.py`), so the problem is a
smooth 1-D minimisation over $t = \log N$. It is solved per budget by a screen (64 points
spanning $1 \le N \le C$) followed by a safeguarded Newton iteration (Newton steps on
$g'(t) = 0$ inside a shrinking bracket, bisection when a step leaves it), vectorised over
budgets with `jax.vmap` and compiled once.

Gradients with respect to the law's coefficients (and the budget) come from the implicit
function theorem: the converged $t^*$ is passed through one Newton step with the solver's
output held constant, $t = t_0 - g'(t_0; \theta)/g''(t_0; \theta)$. At $g'(t_0) = 0$ the
value is unchanged and its derivative is exactly $-\partial_\theta g' / g''$.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ..laws import AbstractLaw
from ._flops import AbstractFlops, SixND, get_flops
from ._recipe import HyperparameterLaw, resolve_recipe

__all__ = ["Allocation", "LogAllocation", "compute_optimal", "optimal_allocation"]

_LOG2 = math.log(2.0)
GRID_SIZE = 64
_SIX_ND = SixND()
ITERATIONS = 64


class LogAllocation(eqx.Module):
    """The optimum for one budget, in logs (the output of [`optimal_allocation`][]).

    **Fields:** `log_N`, `log_D`, `log_loss`, `log_inference_flops` ($\\log 2NT$, $-\\infty$
    without inference), `interior` (False when the optimum sits on the edge of the search,
    $N = $ `min_params` or $D \\to 0$: the budget is too small or the law has no optimum).
    """

    log_N: Array
    log_D: Array
    log_loss: Array
    log_inference_flops: Array
    interior: Array


def _covariates(law, t, log_c, flops, log_t_inf, log_u):
    """Log tokens and inference FLOPs for $N = e^t$ on the constraint, and the law's inputs."""
    log_inference = _LOG2 + t + log_t_inf
    # log of the training share C - 2NT, computed as log C + log(1 - 2NT/C)
    log_train = log_c + jnp.log(-jnp.expm1(log_inference - log_c))
    log_d = log_train - flops.log_per_token(t)
    x = {"N": jnp.exp(t), "D": jnp.exp(log_d)}
    if log_u is not None:
        x["U"] = jnp.exp(log_u)
    return x, log_d, log_inference


def _log_loss(t, params, flops):
    law, log_c, log_t_inf, log_u = params
    x, _, _ = _covariates(law, t, log_c, flops, log_t_inf, log_u)
    return law.log_predict(x)


def _slope(t, params, flops):
    return jax.jvp(lambda s: _log_loss(s, params, flops), (t,), (jnp.ones_like(t),))[1]


def _derivs(t, params, flops):
    """$g'(t)$ and $g''(t)$ together, by forward mode (scalar t: smaller graphs than grad-of-grad)."""
    return jax.jvp(lambda s: _slope(s, params, flops), (t,), (jnp.ones_like(t),))


def optimal_allocation(
    law: AbstractLaw,
    log_budget: ArrayLike,
    flops: AbstractFlops = _SIX_ND,
    log_inference_tokens: ArrayLike = -jnp.inf,
    log_unique_tokens: ArrayLike | None = None,
    *,
    log_min_params: float = 0.0,
    grid_size: int = GRID_SIZE,
    iterations: int = ITERATIONS,
) -> LogAllocation:
    r"""Pure-JAX core: the loss-minimising $(N, D)$ for one budget.

    Minimises $\log L(N, D[, U])$ subject to $f(N)\,D + 2NT = C$ over $t = \log N$.
    Jit-, vmap- and grad-compatible: vmap over budgets, or over a batched law (bootstrap
    replicates, posterior draws); gradients by the implicit function theorem. No input
    checks happen here; [`compute_optimal`][] is the checked entry point.

    **Arguments:**

    - `law`: a scalar law reading `N` and `D` (and `U` when `log_unique_tokens` is given).
    - `log_budget`: $\log C$, total FLOPs (training plus inference).
    - `flops`: a FLOP model from `scalinglaws.allocate` (default $6ND$).
    - `log_inference_tokens`: $\log T$ (default $-\infty$: no inference).
    - `log_unique_tokens`: $\log U$ for repetition-aware laws.
    - `log_min_params`: the smallest model considered ($\log 1 = 0$).

    **Returns:** a [`LogAllocation`][].

    **Example:**

    ```python
    import jax, jax.numpy as jnp
    from scalinglaws.laws import Chinchilla
    from scalinglaws.allocate import optimal_allocation
    law = Chinchilla(E=1.82, A=477.8, B=2143.9, alpha=0.347, beta=0.367)
    log_c = jnp.log(jnp.logspace(18, 26, 9))
    out = jax.vmap(optimal_allocation, in_axes=(None, 0))(law, log_c)
    jnp.exp(out.log_N)
    ```
    """
    log_c = jnp.asarray(log_budget, dtype=float)
    log_t_inf = jnp.asarray(log_inference_tokens, dtype=float)
    log_u = None if log_unique_tokens is None else jnp.asarray(log_unique_tokens, dtype=float)
    params = (law, log_c, log_t_inf, log_u)
    frozen = jax.lax.stop_gradient(params)

    # Search 1 <= N <= C (any count spends at least one FLOP per parameter per token) and,
    # with inference, 2NT < C.
    t_lo = jnp.asarray(log_min_params, dtype=float)
    t_hi = jnp.minimum(log_c, log_c - _LOG2 - log_t_inf)
    ts = t_lo + (t_hi - t_lo) * (jnp.arange(grid_size) + 0.5) / grid_size
    values = jax.vmap(lambda t: _log_loss(t, frozen, flops))(ts)
    values = jnp.where(jnp.isnan(values), jnp.inf, values)
    k = jnp.argmin(values)
    a = jnp.where(k > 0, ts[jnp.maximum(k - 1, 0)], t_lo)
    b = jnp.where(k < grid_size - 1, ts[jnp.minimum(k + 1, grid_size - 1)], t_hi)

    def step(state):
        i, t, a, b, _ = state
        g1, g2 = _derivs(t, frozen, flops)
        # The minimum lies left of t when the slope is positive, right of it otherwise.
        a = jnp.where(g1 < 0, t, a)
        b = jnp.where(g1 > 0, t, b)
        newton = t - g1 / g2
        ok = jnp.isfinite(newton) & (g2 > 0) & (newton > a) & (newton < b)
        t_new = jnp.where(ok, newton, 0.5 * (a + b))
        t_new = jnp.where(g1 == 0, t, t_new)
        # Converged once a step no longer moves t (Newton is quadratic: one more step is free).
        done = (jnp.abs(t_new - t) <= 1e-13 * (1.0 + jnp.abs(t))) | (
            b - a <= 1e-13 * (1.0 + jnp.abs(t))
        )
        return i + 1, t_new, a, b, done

    def keep_going(state):
        i, _, _, _, done = state
        return (i < iterations) & ~done

    _, t0, _, _, _ = jax.lax.while_loop(keep_going, step, (0, ts[k], a, b, jnp.array(False)))
    t0 = jax.lax.stop_gradient(t0)

    # Interior optimum: away from both ends of the search, with positive curvature.
    spacing = (t_hi - t_lo) / grid_size
    g1, g2 = _derivs(t0, frozen, flops)
    interior = (t0 > t_lo + 1e-3 * spacing) & (t0 < t_hi - 1e-3 * spacing) & (g2 > 0)
    interior = interior & (jnp.abs(g1) <= 1e-6 * jnp.maximum(1.0, g2))
    # Implicit-function-theorem step (see module docstring): value t0, derivative -g'_theta/g''.
    g1_live, g2_live = _derivs(t0, params, flops)
    t = jnp.where(interior, t0 - g1_live / jnp.where(interior, g2_live, 1.0), t0)

    x, log_d, log_inference = _covariates(law, t, log_c, flops, log_t_inf, log_u)
    return LogAllocation(
        log_N=t,
        log_D=log_d,
        log_loss=law.log_predict(x),
        log_inference_flops=log_inference,
        interior=interior,
    )


@eqx.filter_jit
def _solve_batch(law, log_c, flops, log_t_inf, log_u, log_min_params):
    fn = lambda c, ti, u: optimal_allocation(law, c, flops, ti, u, log_min_params=log_min_params)
    return jax.vmap(fn, in_axes=(0, 0, None if log_u is None else 0))(log_c, log_t_inf, log_u)


class Allocation(eqx.Module):
    """Compute-optimal allocations for a set of budgets (arrays, one entry per budget).

    **Fields:** `C` (total FLOPs: training plus inference), `N` parameters, `D` training
    tokens, `tokens_per_param` ($D/N$), `loss` (predicted); optional `epochs` ($D/U$),
    `training_flops`, `inference_flops` ($2NT$), `total_flops`, `learning_rate`,
    `batch_size` (tokens) when asked for.
    """

    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    tokens_per_param: np.ndarray
    loss: np.ndarray
    epochs: np.ndarray | None = None
    training_flops: np.ndarray | None = None
    inference_flops: np.ndarray | None = None
    total_flops: np.ndarray | None = None
    learning_rate: np.ndarray | None = None
    batch_size: np.ndarray | None = None

    def columns(self) -> list[str]:
        return [name for name in _COLUMNS if getattr(self, name) is not None]

    def to_rows(self) -> list[dict[str, float]]:
        """One dict per budget (the JSON rows of `scalinglaws allocate --json`)."""
        cols = {
            name: np.atleast_1d(np.asarray(getattr(self, name), dtype=float))
            for name in self.columns()
        }
        return [{name: float(v[i]) for name, v in cols.items()} for i in range(len(cols["C"]))]

    def table(self) -> str:
        """A plain-text table, one row per budget."""
        names = self.columns()
        rows = self.to_rows()
        header = "  ".join(f"{n:>16}" for n in names)
        lines = [header]
        for row in rows:
            lines.append("  ".join(f"{row[n]:>16.6g}" for n in names))
        return "\n".join(lines)

    def __len__(self) -> int:
        return int(np.size(self.C))


_COLUMNS = (
    "C",
    "N",
    "D",
    "tokens_per_param",
    "loss",
    "epochs",
    "training_flops",
    "inference_flops",
    "total_flops",
    "learning_rate",
    "batch_size",
)


# ---- input checks (public boundary, concrete values) ---------------------------------------


def as_law(law: Any, *, argument: str = "law") -> AbstractLaw:
    """Accept a law, or a fit result / saved fit carrying one (`.law`)."""
    if not isinstance(law, AbstractLaw) and isinstance(getattr(law, "law", None), AbstractLaw):
        law = law.law
    if not isinstance(law, AbstractLaw):
        raise TypeError(
            f"{argument}=...: expected a fitted law (e.g. `sl.fit(...).law` or `Chinchilla(E=..., ...)`), "
            f"got {type(law).__name__}"
        )
    shapes = {name: np.shape(value) for name, value in law.coefficients.items()}
    if any(shape != () for shape in shapes.values()):
        raise ValueError(
            f"{argument}=...: the law is batched (coefficient shapes {shapes}); pass one law, or use "
            "jax.vmap(optimal_allocation) over the batch."
        )
    return law


def check_law_inputs(law: AbstractLaw, flops: AbstractFlops) -> None:
    missing = [name for name in flops.requires if name not in law.inputs]
    if missing:
        raise ValueError(
            f"law={type(law).__name__}: it reads {list(law.inputs)} but the FLOP model {flops.name!r} needs "
            f"a law of {list(flops.requires)} (missing {missing}); use a law of N and D such as chinchilla."
        )


def check_budgets(budgets: ArrayLike, *, argument: str = "budget") -> np.ndarray:
    values = np.atleast_1d(np.asarray(budgets, dtype=float))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{argument}=...: expected one budget or a 1-D array of budgets, got shape {values.shape}"
        )
    bad = values[~(np.isfinite(values) & (values > 0))]
    if bad.size:
        raise ValueError(f"{argument}={float(bad[0])!r}: must be positive and finite (FLOPs)")
    return values


def check_tokens(
    value: ArrayLike | None, n: int, *, argument: str, allow_zero: bool
) -> np.ndarray | None:
    if value is None:
        return None
    values = np.asarray(value, dtype=float)
    try:
        values = np.broadcast_to(values, (n,)).copy()
    except ValueError:
        raise ValueError(
            f"{argument}=...: shape {values.shape} does not match {n} budgets"
        ) from None
    ok = np.isfinite(values) & ((values >= 0) if allow_zero else (values > 0))
    if not ok.all():
        bad = float(values[~ok][0])
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{argument}={bad!r}: must be {need} and finite (tokens)")
    return values


def check_unique_tokens(law: AbstractLaw, unique_tokens, n: int) -> np.ndarray | None:
    reads_u = "U" in law.inputs
    if unique_tokens is None and reads_u:
        raise ValueError(
            f"unique_tokens=None: the law {type(law).__name__} reads U (unique tokens); give unique_tokens "
            "(--unique-tokens)."
        )
    if unique_tokens is not None and not reads_u:
        raise ValueError(
            f"unique_tokens=...: the law {type(law).__name__} does not model repeated data (it reads "
            f"{list(law.inputs)}); use a repetition-aware law such as data-constrained (Muennighoff et al. 2023)."
        )
    return check_tokens(unique_tokens, n, argument="unique_tokens", allow_zero=False)


def _bucket(n: int) -> int:
    """Pad batches to a power of two (>= 128) so that one compilation serves many calls."""
    return max(128, 1 << (n - 1).bit_length())


def _pad(values: np.ndarray | None, size: int) -> np.ndarray | None:
    if values is None:
        return None
    return np.concatenate([values, np.repeat(values[-1:], size - len(values))])


def solve(law, log_c, flops, log_t_inf, log_u, min_params) -> dict[str, np.ndarray]:
    """Run the compiled batch solver on concrete arrays; returns NumPy arrays (unpadded)."""
    n = len(log_c)
    size = _bucket(n)
    out = _solve_batch(
        law,
        jnp.asarray(_pad(log_c, size)),
        flops,
        jnp.asarray(_pad(log_t_inf, size)),
        None if log_u is None else jnp.asarray(_pad(log_u, size)),
        float(np.log(min_params)),
    )
    return {
        name: np.asarray(getattr(out, name))[:n]
        for name in ("log_N", "log_D", "log_loss", "log_inference_flops", "interior")
    }


def check_interior(
    out: dict[str, np.ndarray], budgets: np.ndarray, min_params: float, *, argument="budget"
):
    bad = np.flatnonzero(~out["interior"])
    if bad.size == 0:
        return
    i = bad[0]
    n = float(np.exp(out["log_N"][i]))
    if n <= 1.0001 * min_params:
        raise ValueError(
            f"{argument}={budgets[i]:.6g}: too small for any model: the predicted loss keeps falling as N "
            f"shrinks to min_params={min_params:g} parameters. Give a larger budget (or check that the law's "
            "loss falls with N)."
        )
    raise ValueError(
        f"{argument}={budgets[i]:.6g}: the law has no interior optimum along the FLOP constraint (the loss keeps "
        f"falling towards N={n:.3g}, D={np.exp(out['log_D'][i]):.3g}); check the law's coefficients."
    )


def compute_optimal(
    law: AbstractLaw,
    budgets: ArrayLike,
    *,
    flops: str | AbstractFlops = "6nd",
    inference_tokens: ArrayLike | None = None,
    unique_tokens: ArrayLike | None = None,
    recipe: bool | HyperparameterLaw = False,
    min_params: float = 1.0,
) -> Allocation:
    r"""Compute-optimal parameters and tokens for each budget, for any law of $N$ and $D$.

    Minimises the predicted loss $L(N, D)$ subject to $\text{FLOPs}(N, D) + 2NT_\text{inf}
    = C$, all budgets in one compiled, vectorised call. With `inference_tokens`, $C$ is the
    total of training and inference FLOPs (Sardana et al. 2024, "Beyond Chinchilla-Optimal",
    arXiv:2401.00448, counting $2N$ FLOPs per inference token). With `unique_tokens` and a
    repetition-aware law (`data-constrained`, Muennighoff et al. 2023, arXiv:2305.16264), $D$
    may exceed $U$; `epochs` $= D/U$ is reported.

    **Arguments:**

    - `law`: a fitted law (or a fit result) reading `N` and `D` (and `U` for `unique_tokens`).
    - `budgets`: one or many FLOP budgets $C > 0$.
    - `flops`: `"6nd"`, `"kaplan"` (with attention), `"hoffmann"` (Appendix F, with
        embeddings), an `AbstractFlops`, or a callable `fn(N)` -> training FLOPs per token.
    - `inference_tokens`: $T_\text{inf}$, tokens served over the model's lifetime (scalar
        or one per budget).
    - `unique_tokens`: $U$, unique training tokens available (scalar or one per budget).
    - `recipe`: `True` to add the learning rate and batch size of Li et al. 2025
        ("Predictable Scale: Part I", arXiv:2503.04715), or a `HyperparameterLaw` of your own.
    - `min_params`: the smallest model considered (default 1 parameter).

    **Returns:** an [`Allocation`][] (`.to_rows()` for dicts, `.table()` for text).

    **Example:**

    ```python
    import scalinglaws as sl
    from scalinglaws.allocate import compute_optimal
    law = sl.laws.Chinchilla(E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672)
    print(compute_optimal(law, [1e21, 1e23, 1e25]).table())
    ```
    """
    law = as_law(law)
    flops = get_flops(flops)
    check_law_inputs(law, flops)
    budgets = check_budgets(budgets)
    n = len(budgets)
    t_inf = check_tokens(inference_tokens, n, argument="inference_tokens", allow_zero=True)
    unique = check_unique_tokens(law, unique_tokens, n)
    if not (np.isfinite(min_params) and min_params > 0):
        raise ValueError(f"min_params={min_params!r}: must be positive and finite")
    hyper = resolve_recipe(recipe)

    # The smallest model (min_params, one token) must fit in the budget.
    smallest = float(flops(min_params, 1.0)) + (0.0 if t_inf is None else 2.0 * min_params * t_inf)
    too_small = budgets <= smallest
    if too_small.any():
        i = int(np.flatnonzero(too_small)[0])
        raise ValueError(
            f"budget={budgets[i]:.6g}: too small for any model: {min_params:g} parameter(s) trained on one token "
            f"{'and serving the inference tokens ' if t_inf is not None else ''}already cost "
            f"{np.broadcast_to(smallest, budgets.shape)[i]:.6g} FLOPs."
        )

    log_c = np.log(budgets)
    with np.errstate(divide="ignore"):  # T = 0 gives log T = -inf: no inference term
        log_t_inf = np.full(n, -np.inf) if t_inf is None else np.log(t_inf)
    log_u = None if unique is None else np.log(unique)
    out = solve(law, log_c, flops, log_t_inf, log_u, min_params)
    check_interior(out, budgets, min_params)
    return assemble(out, budgets, t_inf, unique, hyper)


def assemble(out, budgets, t_inf, unique, hyper) -> Allocation:
    N, D = np.exp(out["log_N"]), np.exp(out["log_D"])
    extra: dict[str, Any] = {}
    if unique is not None:
        extra["epochs"] = D / unique
    if t_inf is not None:
        inference = np.exp(out["log_inference_flops"])
        extra.update(
            training_flops=budgets - inference, inference_flops=inference, total_flops=budgets
        )
    if hyper is not None:
        extra.update(
            learning_rate=np.asarray(hyper.learning_rate(N, D), dtype=float),
            batch_size=np.asarray(hyper.batch_size(N, D), dtype=float),
        )
    return Allocation(
        C=budgets, N=N, D=D, tokens_per_param=D / N, loss=np.exp(out["log_loss"]), **extra
    )
