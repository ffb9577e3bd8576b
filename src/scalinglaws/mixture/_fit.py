"""Fitting a mixing law to every target domain at once (one compiled, vmapped call)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..data import load_runs
from ..fit import fit_arrays, make_parameterization, random_starts
from ..precision import float64
from ._data import DEFAULT_ATOL, check_proportions, domain_names, select_columns, split_glob
from ._laws import AbstractMixingLaw, mixing_law

#: Columns that name the scale of a run; a fit remembers their values (issue 12.3).
SCALE_COLUMNS = ("model_scale", "model_size", "scale", "N", "D")


class MixtureFit(eqx.Module):
    """A mixing law fitted to several target domains (one coefficient set per target).

    **Fields:**

    - `law`: a *batched* law: every coefficient has a leading axis over `targets`.
    - `targets`: the loss columns, in order.
    - `objective`, `converged`, `n_agree`: per target (see [`scalinglaws.FitResult`][]).
    - `n_points`: rows fitted.
    - `weight_range`: `(n_domains, 2)`, the smallest and largest weight of each domain in
        the fitted runs (the region where the law was fitted; see `within_range` of
        [`optimize_mixture`][]), or `None`.
    - `fitted_scales`: `((column, (value, ...)), ...)`, the values of scale columns
        (`model_scale`, `N`, ...) in the fitted runs; [`MixtureFit.predict`][] warns when
        asked about other scales.
    """

    law: AbstractMixingLaw
    objective: Array
    converged: Array
    n_agree: Array
    weight_range: Array | None = None
    targets: tuple[str, ...] = eqx.field(static=True, default=())
    n_points: int = eqx.field(static=True, default=0)
    fitted_scales: tuple = eqx.field(static=True, default=())

    @property
    def domains(self) -> tuple[str, ...]:
        return self.law.domains

    @property
    def weight_columns(self) -> tuple[str, ...]:
        return self.law.weight_columns

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """Inputs beyond the weight columns (e.g. the scale of a `ScaledMixingLaw`)."""
        return tuple(c for c in self.law.inputs if c not in self.law.weight_columns)

    def law_for(self, target: str) -> AbstractMixingLaw:
        """The (unbatched) law of one target column."""
        if target not in self.targets:
            raise ValueError(f"target={target!r}: not fitted; targets are {list(self.targets)}.")
        i = self.targets.index(target)
        return jax.tree.map(lambda v: v[i], self.law)

    def predict_proportions(self, r: Array, covariates: Mapping[str, Any] | None = None) -> Array:
        """Predicted loss of every target at mixtures `r` (domains on the last axis).

        **Returns:** an array of shape `r.shape[:-1] + (len(targets),)`.
        """
        r = jnp.asarray(r, dtype=float)
        x = {c: r[..., j] for j, c in enumerate(self.weight_columns)}
        for name in self.extra_inputs:
            if covariates is None or name not in covariates:
                raise ValueError(
                    f"covariates: the law also reads {name!r}; give it, e.g. covariates={{{name!r}: 1e9}}."
                )
            x[name] = jnp.broadcast_to(jnp.asarray(covariates[name], dtype=float), r.shape[:-1])
        return jnp.moveaxis(jax.vmap(lambda law: law.predict(x))(self.law), 0, -1)

    @float64  # a public entry point: float64 inside, NumPy float64 out, whatever the caller's x64
    def predict(self, data: Any, *, query: str | None = None, normalize: bool = False,
                atol: float = DEFAULT_ATOL, columns: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
        """Predicted loss per target column for every row of `data` (any `load_runs` input).

        Weights are checked as in [`fit_mixture`][] (rows must sum to 1 within `atol`, or
        pass `normalize=True`). `columns` maps your column names to these (`{"frac_web": "w_web"}`).
        """
        runs = load_runs(data, query=query, columns=columns)
        runs.require(self.law.inputs, why=f"the fitted mixing law reads {list(self.law.inputs)}")
        r = check_proportions(
            np.column_stack([runs[c] for c in self.weight_columns]),
            columns=self.weight_columns, atol=atol, normalize=normalize, argument="data",
        )
        self.check_scales(runs.frame, argument="data")
        extra = {n: runs[n] for n in self.extra_inputs}
        values = np.asarray(self.predict_proportions(r, extra))
        return {t: values[:, i] for i, t in enumerate(self.targets)}

    def check_scales(self, frame, *, argument: str = "data") -> list[str]:
        """Warn (`UserWarning`) when rows of `frame` lie at scales the law was not fitted at.

        A mixing law fitted on 1M-parameter proxies ranks mixtures for that scale; RegMix
        (Liu et al. 2024) and Ye et al. 2024 transfer the *ranking* to larger models, not
        the losses, so predictions at other scales are extrapolations. **Returns:** the
        warning messages (empty when every row is at a fitted scale)."""
        messages = []
        for column, values in self.fitted_scales:
            if column not in frame.columns or column in self.law.inputs:
                continue
            seen = [str(v) for v in frame[column].astype(str).unique()]
            other = [v for v in seen if v not in values]
            if other:
                messages.append(
                    f"{argument}: rows span {column} = {other} but the law was fitted at {column} = {list(values)}; "
                    "its predictions (and Spearman's rank correlation over them) there are extrapolations. "
                    f"Select the fitted scale with a query such as \"{column} == '{values[0]}'\"."
                )
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=3)
        return messages

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per target, its objective, convergence and coefficients."""
        return {
            "law": type(self.law).__name__,
            "n_points": self.n_points,
            "domains": list(self.domains),
            "targets": {
                t: {
                    "objective": float(np.asarray(self.objective)[i]),
                    "converged": bool(np.asarray(self.converged)[i]),
                    "n_agree": int(np.asarray(self.n_agree)[i]),
                    "coefficients": {k: np.asarray(v)[i].tolist() for k, v in self.law.coefficients.items()},
                }
                for i, t in enumerate(self.targets)
            },
        }

    def __repr__(self) -> str:
        # Values, not `f64[13]` shapes (issue 12.6).
        from ..results import value_repr

        return value_repr(f"MixtureFit[{type(self.law).__name__}]", {
            "targets": len(self.targets), "domains": len(self.domains), "n_points": self.n_points,
            "objective": self.objective, "converged": self.converged,
        })

    def summary(self) -> str:
        lines = [f"{type(self.law).__name__} fitted to {len(self.targets)} target(s) on {self.n_points} runs "
                 f"({len(self.domains)} domains)"]
        for i, t in enumerate(self.targets):
            lines.append(
                f"  {t:<28s} objective {float(self.objective[i]):.6g}  "
                f"{'converged' if bool(self.converged[i]) else 'NOT converged'} ({int(self.n_agree[i])} agree)"
            )
        return "\n".join(lines)


def _fit_one(template, x, y, w, starts, loss, delta, n_refine, max_steps):
    result = fit_arrays(
        template, x, y, starts=starts, weights=w, loss=loss, delta=delta,
        n_refine=n_refine, max_steps=max_steps,
    )
    return result.law, result.objective, result.converged, result.n_agree


@eqx.filter_jit
def fit_many(template, x, Y, W, starts, loss, delta, n_refine, max_steps):
    """vmap of the core fitter over rows of `Y` (targets or bootstrap replicates), with
    per-row weights `W` and per-row starts (leading axis on every start array). Shared by
    the mixture fit and the mixture bootstrap."""

    def one(y, w, s):
        return _fit_one(template, x, y, w, s, loss, delta, n_refine, max_steps)

    return jax.vmap(one)(Y, W, starts)


def prepare(
    law,
    data: Any,
    *,
    weights: str = "w_*",
    losses: str | Sequence[str] = "loss_*",
    query: str | None = None,
    normalize: bool = False,
    atol: float = DEFAULT_ATOL,
    columns: Mapping[str, str] | None = None,
):
    """Load runs and return `(template, x, Y, targets, runs)`; every check happens here."""
    runs = load_runs(data, query=query, columns=columns)
    prefix, suffix = split_glob(weights, option="weights")
    weight_columns = select_columns(runs.columns, weights, option="weights")
    if isinstance(losses, str):
        targets = select_columns(runs.columns, losses, option="losses")
    else:
        targets = list(losses)
        runs.require(targets, why="named by losses=")
    overlap = sorted(set(targets) & set(weight_columns))
    if overlap:
        raise ValueError(f"losses: columns {overlap} are also weight columns; choose disjoint globs.")
    domains = domain_names(weight_columns, prefix, suffix)
    template = mixing_law(law, domains, prefix=prefix, suffix=suffix)
    if tuple(template.weight_columns) != tuple(weight_columns):
        raise ValueError(
            f"law=...: the law reads weight columns {list(template.weight_columns)} but weights={weights!r} "
            f"selects {weight_columns}."
        )
    runs.require(template.inputs, why=f"the law {type(template).__name__} reads {list(template.inputs)}")
    runs.require(targets, why="the fitted losses")
    r = check_proportions(
        np.column_stack([runs[c] for c in weight_columns]),
        columns=weight_columns, atol=atol, normalize=normalize, argument="data",
    )
    Y = np.stack([runs[t] for t in targets])
    if (Y <= 0).any():
        bad = [t for t, row in zip(targets, Y) if (row <= 0).any()]
        raise ValueError(f"losses: columns {bad} have values <= 0; losses must be positive (fits are in log space).")
    x = {c: jnp.asarray(r[:, j]) for j, c in enumerate(weight_columns)}
    for name in template.inputs:
        if name not in x:
            x[name] = jnp.asarray(runs[name])
    return template, x, jnp.asarray(Y), tuple(targets), runs


@float64
def fit_mixture(
    law="sqrt",
    data: Any = None,
    *,
    weights: str = "w_*",
    losses: str | Sequence[str] = "loss_*",
    query: str | None = None,
    normalize: bool = False,
    atol: float = DEFAULT_ATOL,
    starts: int = 256,
    seed: int = 0,
    loss: str = "huber",
    delta: float = 1e-3,
    n_refine: int = 4,
    max_steps: int = 2000,
    columns: Mapping[str, str] | None = None,
) -> MixtureFit:
    r"""Fit a mixing law to every loss column at once.

    Each target gets its own coefficients, fitted by the core multi-start fitter
    ([`scalinglaws.fit.fit_arrays`][]: every start screened, the `n_refine` best refined by
    BFGS) on the objective $\sum_i \rho(\log \hat L_i - \log L_i)$, Huber with
    $\delta = 10^{-3}$ by default (Hoffmann et al. 2022). The targets are `jax.vmap`-ed
    over in one compiled call with the same random starts.

    **Arguments:**

    - `law`: `"ye"` ([`DataMixingLaw`][]), `"sqrt"` ([`SqrtMixingLaw`][], the default),
        `"scaled"`, a `module:Class` path, an `AbstractMixingLaw` class or template.
    - `data`: runs (dataset name such as `"regmix"`, CSV path, DataFrame, dict, `Runs`).
    - `weights`: glob of the weight columns with one `*` naming the domain (`"w_*"`).
    - `losses`: glob of the loss columns (`"loss_*"`), or a list of column names.
    - `query`: pandas-style row filter.
    - `normalize`: rescale weight rows that do not sum to 1 (otherwise rows off by more
        than `atol` are an error; rows within `atol` are rescaled silently).
    - `starts`, `seed`: number of random starts and their seed. `loss`, `delta`,
        `n_refine`, `max_steps`: as in [`scalinglaws.fit`][].
    - `columns`: your column names -> the package's, as in [`scalinglaws.load_runs`][].

    **Returns:** a [`MixtureFit`][].

    **Example:**

    ```python
    from scalinglaws.mixture import fit_mixture
    fit = fit_mixture("sqrt", "regmix", query="model_scale == '1M' and split == 'train'")
    print(fit.summary())
    ```
    """
    if data is None:
        raise ValueError("data=...: give the runs (a dataset name, CSV path, DataFrame or dict).")
    if loss not in ("huber", "squared"):
        raise ValueError(f"loss={loss!r}: expected 'huber' or 'squared'.")
    if not (isinstance(starts, (int, np.integer)) and starts >= 1):
        raise ValueError(f"starts={starts!r}: expected a positive number of random starts.")
    template, x, Y, targets, runs = prepare(
        law, data, weights=weights, losses=losses, query=query, normalize=normalize, atol=atol,
        columns=columns,
    )
    param = make_parameterization(template)
    n_free = param.size
    if len(runs) < n_free:
        raise ValueError(
            f"data: {len(runs)} runs but the law has {n_free} free coefficients per target; "
            "add runs or choose a smaller law (law='ye')."
        )
    start_values = random_starts(param, int(starts), seed)
    m = len(targets)
    tiled = {k: jnp.broadcast_to(jnp.asarray(v), (m, *v.shape)) for k, v in start_values.items()}
    W = jnp.ones_like(Y)
    laws, objective, converged, n_agree = fit_many(
        template, x, Y, W, tiled, loss, float(delta), int(min(n_refine, starts)), int(max_steps)
    )
    r = jnp.stack([x[c] for c in template.weight_columns], axis=-1)
    return MixtureFit(
        law=laws, objective=objective, converged=converged, n_agree=n_agree,
        weight_range=jnp.stack([r.min(0), r.max(0)], axis=-1), targets=targets, n_points=len(runs),
        fitted_scales=fitted_scales(runs.frame),
    )


def fitted_scales(frame) -> tuple:
    """`((column, (value, ...)), ...)` for the scale columns of `frame` (at most 50 values)."""
    out = []
    for column in SCALE_COLUMNS:
        if column in frame.columns:
            values = tuple(str(v) for v in frame[column].astype(str).unique())
            if len(values) <= 50:
                out.append((column, values))
    return tuple(out)
