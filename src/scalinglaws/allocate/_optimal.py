r"""The compute-optimal allocator: minimise a law's predicted loss along a FLOP constraint.

Along the constraint $\text{FLOPs}(N, D) + 2NT_\text{inf} = C$ the tokens $D$ follow from
$N$ in closed form (every FLOP count is linear in $D$, see `_flops.py`), so the problem is a
smooth 1-D minimisation over $t = \log N$: find the root of $g'(t) = \partial_t \log L$.
Everything is computed in logs ($\log C$, $\log N$, $\log D$, $\log L$), so budgets up to
float64's largest number (about $10^{308}$ FLOPs) work.

Per budget:

1. **Screen**: $g$ and $g'$ at `grid_size` points spanning $N_\text{min} \le N \le C$
   (one vectorised call). The bracket is the grid interval where $g'$ changes sign from
   negative to positive (the lowest such one). The sign of $g'$ is used rather than the
   values of $g$ because at very large budgets $\log L$ is $\log E$ to within float64
   rounding at every grid point, while $g'$ stays representable.
2. **Bisection** (`optimistix.Bisection`) on $g'$ inside the bracket, to $10^{-7}$ in $t$.
3. **Newton** (`optimistix.Newton`, clipped to the bracket) from there, to float64
   precision, with `optimistix.ImplicitAdjoint`: gradients with respect to the law's
   coefficients and the budget come from the implicit function theorem,
   $\partial_\theta t^* = -\partial_\theta g'/g''$, not from unrolling the iterations.

Both solves run with `throw=False`; whether they succeeded is reported per budget
(`LogAllocation.converged`, from `sol.result == optimistix.RESULTS.successful`), and
whether the optimum is a genuine interior minimum (a sign change of $g'$ was found, the
root is away from the ends of the search, $g'' > 0$) in `LogAllocation.interior`.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, ArrayLike, Bool, Float

from ..errors import InputError
from ..laws import AbstractLaw
from ..precision import float64
from ._flops import AbstractFlops, SixND, get_flops
from ._recipe import HyperparameterLaw, check_param_convention, recipe_params, resolve_recipe

__all__ = [
    "Allocation",
    "LogAllocation",
    "bucket_size",
    "check_budgets",
    "check_coefficients",
    "compute_optimal",
    "optimal_allocation",
    "pad_rows",
]

_LOG2 = math.log(2.0)
GRID_SIZE = 64
_SIX_ND = SixND()
ITERATIONS = 64
# Bisection brings t = log N to within 1e-7 of the root (robust whatever the curvature);
# Newton then converges quadratically to float64 precision in two or three steps.
_BISECTION = optx.Bisection(rtol=0.0, atol=1e-7, flip=False)
_NEWTON = optx.Newton(rtol=1e-12, atol=1e-12)


class LogAllocation(eqx.Module):
    """The optimum for one budget, in logs (the output of [`optimal_allocation`][]).

    **Fields:**

    - `log_N`, `log_D`, `log_loss`: $\\log N^*$, $\\log D^*$, $\\log L(N^*, D^*)$.
    - `log_inference_flops`: $\\log 2NT$ ($-\\infty$ without inference).
    - `interior`: True when the optimum is a genuine interior minimum: $g'$ changes sign
        inside the search, the root finders succeeded, the root is away from both ends
        ($N = $ `min_params` and $D \\to 0$) and $g'' > 0$. False means the budget is too
        small, or the law has no optimum along the constraint; the other fields are then
        the edge of the search, not an optimum.
    - `converged`: whether optimistix's bisection and Newton solves both returned
        `optimistix.RESULTS.successful` (False also makes `interior` False).
    - `bracketed`: whether the screen found a grid interval where $g'$ changes sign
        from negative to positive (False: the loss falls all the way to an end of the
        search, no optimum along the constraint).
    """

    log_N: Float[Array, "*budgets"]
    log_D: Float[Array, "*budgets"]
    log_loss: Float[Array, "*budgets"]
    log_inference_flops: Float[Array, "*budgets"]
    interior: Bool[Array, "*budgets"]
    converged: Bool[Array, "*budgets"]
    bracketed: Bool[Array, "*budgets"]


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


def _value_and_slope(t, params, flops):
    """$g(t)$ and $g'(t)$ by forward mode (scalar t: smaller graphs than reverse mode)."""
    return jax.jvp(lambda s: _log_loss(s, params, flops), (t,), (jnp.ones_like(t),))


def _slope(t, params, flops):
    return _value_and_slope(t, params, flops)[1]


def _derivs(t, params, flops):
    """$g'(t)$ and $g''(t)$ together, by forward mode."""
    return jax.jvp(lambda s: _slope(s, params, flops), (t,), (jnp.ones_like(t),))


def optimal_allocation(
    law: AbstractLaw,
    log_budget: Float[ArrayLike, ""],
    flops: AbstractFlops = _SIX_ND,
    log_inference_tokens: Float[ArrayLike, ""] = -jnp.inf,
    log_unique_tokens: Float[ArrayLike, ""] | None = None,
    *,
    log_min_params: float = 0.0,
    grid_size: int = GRID_SIZE,
    iterations: int = ITERATIONS,
) -> LogAllocation:
    r"""Pure-JAX core: the loss-minimising $(N, D)$ for one budget.

    Minimises $\log L(N, D[, U])$ subject to $f(N)\,D + 2NT = C$ over $t = \log N$ (a
    screen, then `optimistix.Bisection` and `optimistix.Newton` on $g'(t) = 0$; see the
    module documentation). Jit-, vmap- and grad-compatible; gradients by the implicit
    function theorem (`optimistix.ImplicitAdjoint`). No input checks and no exceptions
    happen here: failures are reported per budget in `interior` and `converged`, and
    [`compute_optimal`][] is the checked entry point. Works in float64 when the caller
    enables it (`scalinglaws.precision.in_float64()`); in float32 the optimum is only
    good to about 1e-6.

    **Arguments:**

    - `law`: a scalar law reading `N` and `D` (and `U` when `log_unique_tokens` is given).
    - `log_budget`: $\log C$, total FLOPs (training plus inference), a scalar.
    - `flops`: any FLOP model from `scalinglaws.allocate` (default $6ND$; `KaplanFlops`,
        `HoffmannFlops`, or `PerTokenFlops(fn)` for your own count).
    - `log_inference_tokens`: $\log T$ (default $-\infty$: no inference).
    - `log_unique_tokens`: $\log U$ for repetition-aware laws (data-constrained).
    - `log_min_params`: the smallest model considered ($\log 1 = 0$).
    - `grid_size`: points of the screen; `iterations`: the most steps of each root finder.

    **Returns:** a [`LogAllocation`][] of scalars (arrays with a leading axis under vmap).

    **Vmapping.** Over budgets: `jax.vmap(optimal_allocation, in_axes=(None, 0))(law,
    log_c)`. Over a batched law (posterior draws or bootstrap replicates: a law whose
    every coefficient has the same leading axis, as `Posterior.law` holds them), map the
    law's axis and keep the rest fixed; nest the two for a draws x budgets grid:

    ```python
    per_draw = jax.vmap(optimal_allocation, in_axes=(0, None, None, None, None))
    grid = jax.vmap(per_draw, in_axes=(None, 0, None, 0, 0))  # budgets on the outer axis
    out = jax.jit(grid)(draws, log_c, flops, log_t_inf, log_u)  # out.log_N: (budgets, draws)
    ```

    (with `log_unique_tokens=None`, pass `None` in its `in_axes` slot too). Check
    `out.interior` per draw and budget before using `out.log_N`.

    **Example:**

    ```python
    import jax, jax.numpy as jnp
    from scalinglaws.laws import Chinchilla
    from scalinglaws.allocate import optimal_allocation
    from scalinglaws.precision import in_float64
    with in_float64():
        law = Chinchilla(E=1.82, A=477.8, B=2143.9, alpha=0.347, beta=0.367)
        log_c = jnp.log(jnp.logspace(18, 26, 9))
        out = jax.vmap(optimal_allocation, in_axes=(None, 0))(law, log_c)
        n_star = jnp.exp(out.log_N)
    ```
    """
    log_c = jnp.asarray(log_budget, dtype=float)
    log_t_inf = jnp.asarray(log_inference_tokens, dtype=float)
    log_u = None if log_unique_tokens is None else jnp.asarray(log_unique_tokens, dtype=float)
    params = (law, log_c, log_t_inf, log_u)
    frozen = jax.lax.stop_gradient(params)

    # Search N_min <= N <= C (any count spends at least one FLOP per parameter per token)
    # and, with inference, 2NT < C.
    t_lo = jnp.asarray(log_min_params, dtype=float)
    t_hi = jax.lax.stop_gradient(jnp.minimum(log_c, log_c - _LOG2 - log_t_inf))
    ts = t_lo + (t_hi - t_lo) * jnp.linspace(0.0, 1.0, grid_size + 1)
    values, slopes = jax.vmap(lambda t: _value_and_slope(t, frozen, flops))(ts)
    values = jnp.where(jnp.isnan(values), jnp.inf, values)
    # At N = C/2T (no training tokens left) the loss is infinite and its slope undefined:
    # it rises there.
    slopes = jnp.where(jnp.isnan(slopes), jnp.inf, slopes)
    # Brackets: grid intervals where g' goes from negative to non-negative (a minimum).
    change = (slopes[:-1] < 0) & (slopes[1:] >= 0)
    score = jnp.where(change, jnp.minimum(values[:-1], values[1:]), jnp.inf)
    bracketed = jnp.any(change)
    k = jnp.where(bracketed, jnp.argmin(score), jnp.minimum(jnp.argmin(values), grid_size - 1))
    a, b = ts[k], ts[k + 1]

    def slope_fn(t, args):
        return _slope(t, args, flops)

    rough = optx.root_find(
        slope_fn,
        _BISECTION,
        0.5 * (a + b),
        args=frozen,
        options=dict(lower=a, upper=b),
        max_steps=iterations,
        throw=False,
    )
    # Newton with live parameters: ImplicitAdjoint differentiates the root, not the steps.
    sol = optx.root_find(
        slope_fn,
        _NEWTON,
        jax.lax.stop_gradient(rough.value),
        args=params,
        options=dict(lower=a, upper=b),
        max_steps=iterations,
        throw=False,
    )
    t = sol.value
    converged = (rough.result == optx.RESULTS.successful) & (sol.result == optx.RESULTS.successful)

    # Interior optimum: a sign change was found, the root is away from both ends of the
    # search, and the curvature is positive.
    t0 = jax.lax.stop_gradient(t)
    spacing = (t_hi - t_lo) / grid_size
    g1, g2 = _derivs(t0, frozen, flops)
    interior = (
        bracketed
        & converged
        & jnp.isfinite(t0)
        & (t0 > t_lo + 1e-3 * spacing)
        & (t0 < t_hi - 1e-3 * spacing)
        & (g2 > 0)
    )

    x, log_d, log_inference = _covariates(law, t, log_c, flops, log_t_inf, log_u)
    return LogAllocation(
        log_N=t,
        log_D=log_d,
        log_loss=law.log_predict(x),
        log_inference_flops=log_inference,
        interior=interior,
        converged=converged,
        bracketed=bracketed,
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
        """A plain-text table, one row per budget, at most 100 columns wide (wider tables
        are split into blocks of columns, each repeating `C`)."""
        from ..results import format_table

        return format_table(self.to_rows())

    def summary(self) -> str:
        """The plain-text table (`table()`): the protocol every result follows."""
        return self.table()

    def to_dict(self) -> dict[str, list[dict[str, float]]]:
        """`{"allocations": [one dict per budget]}`: what `scalinglaws allocate --json` prints."""
        return {"allocations": self.to_rows()}

    def __repr__(self) -> str:
        # Values, not `f64[2](numpy)` shapes (issue 12.6).
        from ..results import value_repr

        return value_repr("Allocation", {name: getattr(self, name) for name in self.columns()})

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
        raise InputError(
            f"{argument}=...: the law is batched (coefficient shapes {shapes}); pass one law, or use "
            "jax.vmap(optimal_allocation) over the batch."
        )
    return law


def check_law_inputs(law: AbstractLaw, flops: AbstractFlops) -> None:
    missing = [name for name in flops.requires if name not in law.inputs]
    if missing:
        raise InputError(
            f"law={type(law).__name__}: it reads {list(law.inputs)} but the FLOP model {flops.name!r} needs "
            f"a law of {list(flops.requires)} (missing {missing}); use a law of N and D such as chinchilla."
        )


def check_budgets(budgets: ArrayLike, *, argument: str = "budget") -> np.ndarray:
    values = np.atleast_1d(np.asarray(budgets, dtype=float))
    if values.ndim != 1 or values.size == 0:
        raise InputError(
            f"{argument}=...: expected one budget or a 1-D array of budgets, got shape {values.shape}"
        )
    bad = values[~(np.isfinite(values) & (values > 0))]
    if bad.size:
        raise InputError(f"{argument}={float(bad[0])!r}: must be positive and finite (FLOPs)")
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
        raise InputError(
            f"{argument}=...: shape {values.shape} does not match {n} budgets"
        ) from None
    ok = np.isfinite(values) & ((values >= 0) if allow_zero else (values > 0))
    if not ok.all():
        bad = float(values[~ok][0])
        need = "non-negative" if allow_zero else "positive"
        raise InputError(f"{argument}={bad!r}: must be {need} and finite (tokens)")
    return values


def check_unique_tokens(law: AbstractLaw, unique_tokens, n: int) -> np.ndarray | None:
    reads_u = "U" in law.inputs
    if unique_tokens is None and reads_u:
        raise InputError(
            f"unique_tokens=None: the law {type(law).__name__} reads U (unique tokens); give unique_tokens "
            "(--unique-tokens)."
        )
    if unique_tokens is not None and not reads_u:
        raise InputError(
            f"unique_tokens=...: the law {type(law).__name__} does not model repeated data (it reads "
            f"{list(law.inputs)}); use a repetition-aware law such as data-constrained (Muennighoff et al. 2023)."
        )
    return check_tokens(unique_tokens, n, argument="unique_tokens", allow_zero=False)


def bucket_size(n: int) -> int:
    """Batch size for `n` rows: the next power of two, at least 128, so that one
    compilation of a vmapped solver serves many calls of similar size."""
    return max(128, 1 << (n - 1).bit_length())


def pad_rows(values: np.ndarray | None, size: int) -> np.ndarray | None:
    """`values` (1-D) padded to `size` by repeating its last entry (None stays None)."""
    if values is None:
        return None
    return np.concatenate([values, np.repeat(values[-1:], size - len(values))])


# log of the largest float64, about 709.8: N^2 beyond it overflows in second derivatives.
_LOG_MAX_SQUARE = float(np.log(np.finfo(np.float64).max))

_FIELDS = (
    "log_N",
    "log_D",
    "log_loss",
    "log_inference_flops",
    "interior",
    "converged",
    "bracketed",
)


def solve(law, log_c, flops, log_t_inf, log_u, min_params) -> dict[str, np.ndarray]:
    """Run the compiled batch solver on concrete arrays; returns NumPy arrays (unpadded)."""
    n = len(log_c)
    size = bucket_size(n)
    out = _solve_batch(
        law,
        jnp.asarray(pad_rows(log_c, size)),
        flops,
        jnp.asarray(pad_rows(log_t_inf, size)),
        None if log_u is None else jnp.asarray(pad_rows(log_u, size)),
        float(np.log(min_params)),
    )
    return {name: np.asarray(getattr(out, name))[:n] for name in _FIELDS}


def check_interior(
    out: dict[str, np.ndarray], budgets: np.ndarray, min_params: float, *, argument="budget"
):
    """Raise an `InputError` naming the first budget without an interior optimum."""
    bad = np.flatnonzero(~out["interior"])
    if bad.size == 0:
        return
    i = bad[0]
    n = float(np.exp(out["log_N"][i]))
    if out["bracketed"][i] and 2.0 * out["log_N"][i] > _LOG_MAX_SQUARE:
        raise InputError(
            f"{argument}={budgets[i]:.6g}: beyond float64's range for this law: at the optimum N={n:.3g}, and "
            "the curvature of the loss along the constraint (needed to confirm a minimum and for its "
            "gradients) involves N^2, which overflows float64 (about 1.8e308). Budgets up to about 1e300 "
            "FLOPs work."
        )
    if out["bracketed"][i] and not out["converged"][i]:
        raise InputError(
            f"{argument}={budgets[i]:.6g}: the root finder did not converge on the optimum of N (optimistix "
            f"stopped near N={n:.3g}); the loss is not smooth along the FLOP constraint there. Check the "
            "law's coefficients, or report this with the law and budget."
        )
    if n <= 1.0001 * min_params:
        raise InputError(
            f"{argument}={budgets[i]:.6g}: too small for any model: the predicted loss keeps falling as N "
            f"shrinks to min_params={min_params:g} parameters. Give a larger budget (or check that the law's "
            "loss falls with N)."
        )
    raise InputError(
        f"{argument}={budgets[i]:.6g}: the law has no interior optimum along the FLOP constraint (the loss keeps "
        f"falling towards N={n:.3g}, D={np.exp(out['log_D'][i]):.3g}); check the law's coefficients."
    )


def check_coefficients(law: AbstractLaw, *, argument: str = "law") -> None:
    """Every coefficient finite and inside its support, or an `InputError` naming it.

    Uses `scalinglaws.laws.validate_coefficients` when the laws package provides it.
    """
    from .. import laws as _laws

    validate = getattr(_laws, "validate_coefficients", None)
    if validate is not None:
        values = {name: np.asarray(v, dtype=float) for name, v in law.coefficients.items()}
        validate(type(law), values, source=argument, static=law.static_fields)
        return
    for name, value in law.coefficients.items():
        values = np.asarray(value, dtype=float)
        constraint = type(law).coefficient_constraint(name)
        ok = np.isfinite(values).all() and all(constraint(v) for v in values.ravel())
        if not ok:
            raise InputError(
                f"{argument}: coefficient {name}={values.ravel()[0]!r} of {type(law).__name__} is outside its "
                f"support ({constraint!r}, finite); fix the coefficient (--coef {name}=...) or refit."
            )


@float64
def compute_optimal(
    law: AbstractLaw,
    budgets: ArrayLike,
    *,
    flops: str | AbstractFlops = "6nd",
    inference_tokens: ArrayLike | None = None,
    unique_tokens: ArrayLike | None = None,
    recipe: bool | HyperparameterLaw = False,
    min_params: float = 1.0,
    params: str = "total",
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
    - `params`: what the law's $N$ counts, `"total"` (default) or `"non-embedding"`. The
        recipe takes non-embedding $N$ (Li et al. 2025) and converts a total count with
        [`non_embedding_params`][]; a `UserWarning` says when `flops` uses the other
        convention (`"kaplan"` counts non-embedding $N$, `"hoffmann"` all parameters).

    Budgets may be as large as float64 allows (about $10^{308}$ FLOPs): the solver works
    in logs throughout. Coefficients are checked first (finite, inside their support) with
    an error naming the coefficient.

    **Returns:** an [`Allocation`][] (`.to_rows()` for dicts, `.table()` for text), NumPy
    float64 arrays.

    **Example:**

    ```python
    import scalinglaws as sl
    from scalinglaws.allocate import compute_optimal
    law = sl.laws.Chinchilla(E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672)
    print(compute_optimal(law, [1e21, 1e23, 1e25]).table())
    ```
    """
    law = as_law(law)
    check_coefficients(law)
    flops = get_flops(flops)
    check_law_inputs(law, flops)
    check_param_convention(params, flops.name)
    budgets = check_budgets(budgets)
    n = len(budgets)
    t_inf = check_tokens(inference_tokens, n, argument="inference_tokens", allow_zero=True)
    unique = check_unique_tokens(law, unique_tokens, n)
    if not (np.isfinite(min_params) and min_params > 0):
        raise InputError(f"min_params={min_params!r}: must be positive and finite")
    hyper = resolve_recipe(recipe)

    # The smallest model (min_params, one token) must fit in the budget.
    smallest = float(flops(min_params, 1.0)) + (0.0 if t_inf is None else 2.0 * min_params * t_inf)
    too_small = budgets <= smallest
    if too_small.any():
        i = int(np.flatnonzero(too_small)[0])
        raise InputError(
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
    return assemble(out, budgets, t_inf, unique, hyper, params=params)


def assemble(out, budgets, t_inf, unique, hyper, *, params: str = "total") -> Allocation:
    """NumPy float64 `Allocation` from the solver's output; NaN/inf is an error, never a row."""
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
        n_recipe = recipe_params(N, params)
        extra.update(
            learning_rate=np.asarray(hyper.learning_rate(n_recipe, D), dtype=float),
            batch_size=np.asarray(hyper.batch_size(n_recipe, D), dtype=float),
        )
    allocation = Allocation(
        C=np.asarray(budgets, dtype=float),
        N=N,
        D=D,
        tokens_per_param=D / N,
        loss=np.exp(out["log_loss"]),
        **extra,
    )
    for name in allocation.columns():
        values = np.asarray(getattr(allocation, name), dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"budget={float(np.atleast_1d(budgets)[i]):.6g}: the allocation's {name} is {values[i]!r} "
                f"(overflow or an undefined value of the law at N={N[i]:.6g}, D={D[i]:.6g}); check the law's "
                "coefficients and the budget's range."
            )
    return allocation
