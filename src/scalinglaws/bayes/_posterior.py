"""The posterior: coefficient draws held as a batched law, diagnostics, save and load."""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io import atomic_write_text, law_from_dict, law_to_dict, read_document

FORMAT = "scalinglaws.posterior"
VERSION = 1

# Thresholds for diagnostic warnings (Vehtari et al. 2021, "Rank-normalization, folding,
# and localization", recommend r_hat < 1.01 and a bulk ESS above 100 per chain).
RHAT_WARN = 1.01
ESS_PER_CHAIN_WARN = 100


class PosteriorWarning(UserWarning):
    """Poor sampler diagnostics (r_hat, effective sample size, divergences)."""


class Posterior:
    """Posterior draws of a law's coefficients (from [`infer`][]).

    **Attributes:**

    - `template`: a scalar law holding fixed coefficients (and the point fit's values).
    - `free`, `ties`, `fixed`: which coefficients were sampled, tied or held fixed.
    - `draws`: name -> array `(chains, draws)` for every sampled quantity: the free
        coefficients and the noise scale `sigma` (of log-loss residuals).
    - `likelihood`, `df`: `"student_t"` (with `df` degrees of freedom) or `"normal"`.
    - `method`: `"nuts"` or `"laplace"`; `divergences`: divergent transitions (NUTS).
    - `settings`: how it was produced (chains, warmup, samples, seed, data, query, priors).

    **Properties:** `law`, the batched law (leading axis = all draws, chains concatenated);
    `coefficients`, name -> flat draws for every coefficient (fixed ones repeated).
    """

    def __init__(
        self,
        template,
        free: tuple[str, ...],
        ties: tuple[tuple[str, str], ...],
        draws: Mapping[str, np.ndarray],
        *,
        likelihood: str = "student_t",
        df: float = 4.0,
        method: str = "nuts",
        divergences: int = 0,
        settings: Mapping[str, Any] | None = None,
    ):
        self.template = template
        self.free = tuple(free)
        self.ties = tuple(tuple(t) for t in ties)
        self.draws = {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}
        shapes = {v.shape for v in self.draws.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"Posterior(draws=...): expected arrays of one shape (chains, draws), got {shapes}.")
        self.likelihood = likelihood
        self.df = float(df)
        self.method = method
        self.divergences = int(divergences)
        self.settings = dict(settings or {})

    # ---- shapes and views ----------------------------------------------------------

    @property
    def num_chains(self) -> int:
        return next(iter(self.draws.values())).shape[0]

    @property
    def num_draws(self) -> int:
        """Draws per chain."""
        return next(iter(self.draws.values())).shape[1]

    @property
    def size(self) -> int:
        """Total number of draws (all chains)."""
        return self.num_chains * self.num_draws

    @property
    def fixed(self) -> tuple[str, ...]:
        tied = {f for f, _ in self.ties}
        return tuple(n for n in self.template.coefficient_names() if n not in self.free and n not in tied)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.template.inputs)

    @property
    def coefficients(self) -> dict[str, np.ndarray]:
        """Coefficient name -> flat draws `(size,)`, fixed coefficients repeated, ties applied."""
        out = {}
        for name in self.template.coefficient_names():
            if name in self.draws:
                out[name] = self.draws[name].reshape(-1)
            else:
                out[name] = np.full(self.size, float(getattr(self.template, name)))
        for follower, leader in self.ties:
            out[follower] = out[leader]
        return out

    @property
    def law(self):
        """The batched law: every coefficient with a leading axis of length `size`."""
        return self.template.replace(**{k: jnp.asarray(v) for k, v in self.coefficients.items()})

    @property
    def sigma(self) -> np.ndarray:
        return self.draws["sigma"].reshape(-1)

    def __repr__(self) -> str:
        return (
            f"Posterior({type(self.template).__name__}, method={self.method!r}, chains={self.num_chains}, "
            f"draws={self.num_draws}, divergences={self.divergences})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, Posterior):
            return NotImplemented
        return _document(self) == _document(other)

    __hash__ = None

    # ---- diagnostics and summary ---------------------------------------------------

    def diagnostics(self) -> dict[str, dict[str, float]]:
        """name -> `{"r_hat", "ess"}` (split r-hat and effective sample size, numpyro's
        estimators; r-hat needs at least two draws per chain, NaN otherwise)."""
        from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

        out = {}
        for name, values in self.draws.items():
            if self.method == "nuts" and values.shape[1] >= 4:
                r_hat = float(split_gelman_rubin(values))
                ess = float(effective_sample_size(values))
            else:  # independent draws (Laplace approximation): no chains to compare
                r_hat, ess = math.nan, float(values.size)
            out[name] = {"r_hat": r_hat, "ess": ess}
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> `{"mean", "median", "q05", "q95", "r_hat", "ess"}` for every sampled
        quantity (free coefficients and `sigma`)."""
        diag = self.diagnostics()
        out = {}
        for name, values in self.draws.items():
            flat = values.reshape(-1)
            q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95])
            out[name] = {
                "mean": float(flat.mean()),
                "median": float(q50),
                "q05": float(q05),
                "q95": float(q95),
                **diag[name],
            }
        return out

    def problems(self) -> list[str]:
        """Human-readable list of poor diagnostics (empty when all is well)."""
        found = []
        if self.divergences:
            found.append(
                f"{self.divergences} divergent transitions: the posterior may be biased; raise "
                "target_accept or reparameterise (fix or tie poorly identified coefficients)."
            )
        if self.method != "nuts":
            return found
        for name, d in self.diagnostics().items():
            if not (d["r_hat"] <= RHAT_WARN):
                found.append(f"{name}: r_hat = {d['r_hat']:.3f} > {RHAT_WARN}: chains disagree; run longer.")
            if not (d["ess"] >= ESS_PER_CHAIN_WARN * self.num_chains):
                found.append(
                    f"{name}: effective sample size {d['ess']:.0f} < {ESS_PER_CHAIN_WARN * self.num_chains} "
                    f"({ESS_PER_CHAIN_WARN} per chain); run longer."
                )
        return found

    def warn(self) -> None:
        for problem in self.problems():
            warnings.warn(problem, PosteriorWarning, stacklevel=3)

    def as_dict(self) -> dict[str, Any]:
        """What `scalinglaws infer --json` prints."""
        return {
            "law": type(self.template).__name__,
            "method": self.method,
            "coefficients": self.summary(),
            "divergences": self.divergences,
            "chains": self.num_chains,
            "draws": self.num_draws,
            "likelihood": self.likelihood,
            "df": self.df if self.likelihood == "student_t" else None,
            "fixed": {n: float(getattr(self.template, n)) for n in self.fixed},
            "ties": dict(self.ties),
            "warnings": self.problems(),
        }

    def summary_table(self) -> str:
        """A plain-text table of [`summary`][]."""
        lines = [
            f"law        {type(self.template).__name__}: {self.template.formula}",
            f"posterior  {self.method}, {self.num_chains} chains x {self.num_draws} draws, "
            f"{self.likelihood}" + (f"(df={self.df:g})" if self.likelihood == "student_t" else "")
            + f" likelihood, {self.divergences} divergences",
            "",
            f"{'name':<10} {'mean':>11} {'median':>11} {'q05':>11} {'q95':>11} {'r_hat':>7} {'ess':>7}",
        ]
        for name, s in self.summary().items():
            lines.append(
                f"{name:<10} {s['mean']:>11.5g} {s['median']:>11.5g} {s['q05']:>11.5g} {s['q95']:>11.5g} "
                f"{s['r_hat']:>7.3f} {s['ess']:>7.0f}"
            )
        for problem in self.problems():
            lines.append(f"warning: {problem}")
        return "\n".join(lines)

    # ---- predictions ----------------------------------------------------------------

    def predict(self, x: Mapping[str, Any], *, noise: bool = False, seed: int = 0) -> np.ndarray:
        """Posterior draws of the predicted target at covariates `x`, shape `(size, n)`.

        With `noise=True`, posterior *predictive* draws: each draw's prediction times the
        exp of one draw of the residual noise (Student-t or Normal with scale `sigma`).
        """
        x = _covariates(self.template, x)
        return np.asarray(
            _predict_draws(self.law, x, jnp.asarray(self.sigma), jax.random.PRNGKey(seed), noise, self.likelihood, self.df)
        )

    def forecast(self, x: Mapping[str, Any] | None = None, /, *, seed: int = 0, **covariates) -> dict[str, np.ndarray]:
        """Credible and predictive intervals of the target at new covariates.

        `posterior.forecast(N=7e10, D=1.4e12)`.

        **Returns:** a dict of arrays (one value per point): `mean`, `median`, `q05`, `q95`
        (of the law's prediction: uncertainty about the coefficients) and `pred_q05`,
        `pred_q95` (posterior predictive: also the run-to-run noise).
        """
        merged = dict(x or {})
        merged.update(covariates)
        draws = self.predict(merged)
        noisy = self.predict(merged, noise=True, seed=seed)
        q05, q50, q95 = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
        p05, p95 = np.quantile(noisy, [0.05, 0.95], axis=0)
        return {"mean": draws.mean(axis=0), "median": q50, "q05": q05, "q95": q95, "pred_q05": p05, "pred_q95": p95}

    def log_likelihood(self, x: Mapping[str, Any], y) -> np.ndarray:
        """Pointwise log-likelihood of targets `y` at `x` for every draw, `(size, n)`
        (input to [`loo`][] and [`waic`][])."""
        from ._model import pointwise_log_likelihood

        x = _covariates(self.template, x)
        log_y = jnp.log(jnp.asarray(y, dtype=float))

        def one(law, sigma):
            return pointwise_log_likelihood(law, sigma, x, log_y, self.likelihood, self.df)

        return np.asarray(jax.vmap(one)(self.law, jnp.asarray(self.sigma)))

    def allocation(self, budgets, *, flops: str = "6nd") -> dict[str, np.ndarray]:
        """Per-draw compute-optimal $N^*$, $D^*$ at each budget ($C = 6ND$): arrays
        `N`, `D` of shape `(size, len(budgets))`. See [`risk_aware_allocation`][]."""
        from ._allocate import optimal_allocation_draws

        return optimal_allocation_draws(self, budgets, flops=flops)

    def to_arviz(self):
        """Export to `arviz.InferenceData` (needs the optional extra: `pip install scalinglaws[arviz]`)."""
        try:
            import arviz
        except ImportError:
            raise ImportError(
                "Posterior.to_arviz() needs ArviZ, an optional extra: `pip install scalinglaws[arviz]` "
                "(or `pip install arviz`)."
            ) from None
        return arviz.from_dict(posterior={k: v for k, v in self.draws.items()})

    # ---- persistence ----------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write to `path` as JSON, atomically; [`load_posterior`][] reads it back identically."""
        atomic_write_text(path, json.dumps(_document(self), sort_keys=True) + "\n")


@eqx.filter_jit
def _predict_draws(law, x, sigma, key, noise: bool, likelihood: str, df: float):
    log_pred = jax.vmap(lambda one: one.log_predict(x))(law)
    shape = (sigma.shape[0], *jnp.broadcast_shapes(*(v.shape for v in x.values())))
    log_pred = jnp.broadcast_to(log_pred, shape)
    if noise:
        eps = jax.random.t(key, df, shape) if likelihood == "student_t" else jax.random.normal(key, shape)
        log_pred = log_pred + sigma.reshape((-1,) + (1,) * (log_pred.ndim - 1)) * eps
    return jnp.exp(log_pred)


def _covariates(template, x: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    missing = [k for k in template.inputs if k not in x]
    if missing:
        raise ValueError(
            f"covariates: missing {missing}; the law {type(template).__name__} reads {list(template.inputs)}."
        )
    out = {}
    for k in template.inputs:
        value = np.asarray(x[k], dtype=float)
        if not np.all(np.isfinite(value)) or np.any(value <= 0):
            raise ValueError(f"{k}={x[k]!r}: must be positive and finite.")
        out[k] = jnp.asarray(np.atleast_1d(value))
    return out


def _checksum(draws: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(draws):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(draws[name], dtype="<f8").tobytes())
    return digest.hexdigest()


def _document(post: Posterior) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "law": law_to_dict(post.template),
        "free": list(post.free),
        "ties": [list(t) for t in post.ties],
        "likelihood": post.likelihood,
        "df": post.df,
        "method": post.method,
        "divergences": post.divergences,
        "settings": post.settings,
        "shape": [post.num_chains, post.num_draws],
        # Python's json writes floats with repr, which round-trips float64 exactly.
        "draws": {k: v.tolist() for k, v in post.draws.items()},
        "checksum": _checksum(post.draws),
    }


def load_posterior(path: str | os.PathLike) -> Posterior:
    """Read a posterior written by `Posterior.save` (or `scalinglaws infer --out`).

    **Raises:** `ValueError` with a clear message when the file is missing, truncated,
    corrupt, or not a posterior file.
    """
    document, argument = read_document(
        path,
        format=FORMAT,
        version=VERSION,
        what="posterior",
        remedy="Re-run `scalinglaws infer --out`.",
    )
    try:
        template = law_from_dict(document["law"], source=argument)
        shape = tuple(int(s) for s in document["shape"])
        draws = {k: np.asarray(v, dtype=np.float64) for k, v in document["draws"].items()}
        bad = [k for k, v in draws.items() if v.shape != shape]
        if bad or "sigma" not in draws:
            raise ValueError(f"draws of {bad or ['sigma']} are missing or do not have shape {shape}")
        if _checksum(draws) != document["checksum"]:
            raise ValueError("the checksum of the draws does not match")
        return Posterior(
            template,
            tuple(document["free"]),
            tuple(tuple(t) for t in document["ties"]),
            draws,
            likelihood=document["likelihood"],
            df=document["df"],
            method=document["method"],
            divergences=document["divergences"],
            settings=document.get("settings", {}),
        )
    except ValueError as error:
        if str(error).startswith(argument):
            raise
        raise ValueError(f"{argument}: corrupt posterior file ({error}).") from None
    except (KeyError, TypeError) as error:
        raise ValueError(f"{argument}: corrupt posterior file (missing or malformed {error}).") from None
