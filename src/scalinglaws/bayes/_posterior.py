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

from ..errors import ConvergenceWarning, InputError
from ..io import DocumentKind, law_from_dict, law_to_dict, read_document
from ..laws import validate_coefficients
from ..output import write_text
from ..precision import in_float64
from ._model import RUN_SCALE

DOCUMENT = DocumentKind("scalinglaws.posterior", 1, "posterior", "Re-run `scalinglaws infer --out`.")

# Thresholds for diagnostic warnings (Vehtari et al. 2021, "Rank-normalization, folding,
# and localization", arXiv:1903.08008, recommend a rank-normalised r_hat < 1.01 and bulk
# and tail ESS above 100 per chain).
RHAT_WARN = 1.01
ESS_PER_CHAIN_WARN = 100
# Interval kinds of `Posterior.forecast`.
KINDS = ("predictive", "mean")


class PosteriorWarning(ConvergenceWarning):
    """Poor sampler diagnostics (r_hat, effective sample size, divergences) or a failed mode
    search: a `scalinglaws.ConvergenceWarning`."""


def scale_coordinate(inputs, x: Mapping[str, Any]) -> np.ndarray:
    r"""The coordinate along which extrapolation distance is measured, in decades:
    $\log_{10} C$ with $C = 6ND$ for laws of `N` and `D`, $\log_{10} C$ for laws of `C`,
    else $\log_{10}$ of the law's first input (its size variable)."""
    inputs = tuple(inputs)
    if "N" in inputs and "D" in inputs:
        return np.log10(6.0) + np.log10(np.asarray(x["N"], dtype=float)) + np.log10(np.asarray(x["D"], dtype=float))
    name = "C" if "C" in inputs else inputs[0]
    return np.log10(np.asarray(x[name], dtype=float))


class Posterior:
    """Posterior draws of a law's coefficients (from [`infer`][]).

    **Attributes:**

    - `template`: a scalar law holding fixed coefficients (and the point fit's values).
    - `free`, `ties`, `fixed`: which coefficients were sampled, tied or held fixed.
    - `draws`: name -> array `(chains, draws)` for every sampled quantity: the free
        coefficients, the noise scale `sigma` (of log-loss residuals) and, for grouped
        runs, the run-level scale `tau_run`.
    - `likelihood`, `df`: `"student_t"` (with `df` degrees of freedom) or `"normal"`.
    - `method`: `"nuts"` or `"laplace"`; `divergences`: divergent transitions (NUTS).
    - `settings`: how it was produced (chains, warmup, samples, seed, data, query, priors,
        grouping, and the discrepancy slope of predictive intervals).

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
            raise InputError(f"Posterior(draws=...): expected arrays of one shape (chains, draws), got {shapes}.")
        self.likelihood = likelihood
        self.df = float(df)
        self.method = method
        self.divergences = int(divergences)
        self.settings = dict(settings or {})
        # Problems found while producing the posterior (e.g. a mode search that failed).
        self.notes: list[str] = []

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
        """The batched law: every coefficient with a leading axis of length `size` (NumPy
        float64 arrays, so a float32 caller's JAX setting cannot truncate them)."""
        return self.template.replace(**{k: np.asarray(v, dtype=np.float64) for k, v in self.coefficients.items()})

    @property
    def sigma(self) -> np.ndarray:
        return self.draws["sigma"].reshape(-1)

    @property
    def run_scale(self) -> np.ndarray | None:
        """Draws of the run-level scale `tau_run` (grouped runs), else `None`."""
        values = self.draws.get(RUN_SCALE)
        return None if values is None else values.reshape(-1)

    @property
    def discrepancy_slope(self) -> float:
        """Standard deviation of the discrepancy term on log loss per decade beyond the
        fitted runs (0 when off or not estimated; see [`forecast`][])."""
        return float((self.settings.get("discrepancy") or {}).get("slope", 0.0))

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
        """name -> `{"r_hat", "ess_bulk", "ess_tail", "ess"}` for NUTS: ArviZ's
        rank-normalised split r_hat and bulk/tail effective sample sizes (Vehtari et al.
        2021; `ess` is the bulk ESS). Empty for the Laplace approximation, whose draws are
        independent and have no chains to compare."""
        if self.method != "nuts":
            return {}
        import arviz as az

        out = {}
        for name, values in self.draws.items():
            if values.shape[1] >= 4:
                r_hat = float(az.rhat(values)) if values.shape[0] > 1 else math.nan
                bulk, tail = float(az.ess(values, method="bulk")), float(az.ess(values, method="tail"))
            else:
                r_hat = bulk = tail = math.nan
            out[name] = {"r_hat": r_hat, "ess_bulk": bulk, "ess_tail": tail, "ess": bulk}
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> `{"mean", "median", "q05", "q95"}` for every sampled quantity (free
        coefficients, `sigma`, `tau_run`), plus `r_hat`, `ess`, `ess_bulk`, `ess_tail` for
        NUTS."""
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
                **diag.get(name, {}),
            }
        return out

    def problems(self) -> list[str]:
        """Human-readable list of poor diagnostics (empty when all is well)."""
        found = list(getattr(self, "notes", []))
        if self.divergences:
            found.append(
                f"{self.divergences} divergent transitions: the posterior may be biased; raise "
                "target_accept or reparameterise (fix or tie poorly identified coefficients)."
            )
        need = ESS_PER_CHAIN_WARN * self.num_chains
        for name, d in self.diagnostics().items():
            if self.num_chains > 1 and not (d["r_hat"] <= RHAT_WARN):
                found.append(
                    f"{name}: r_hat = {d['r_hat']:.3f} > {RHAT_WARN}: chains disagree (a second mode or too "
                    "short a run); run longer or inspect the chains."
                )
            low = min(d["ess_bulk"], d["ess_tail"])
            if not (low >= need):
                found.append(
                    f"{name}: effective sample size {low:.0f} (bulk/tail) < {need} ({ESS_PER_CHAIN_WARN} per "
                    "chain); run longer (samples=)."
                )
        return found

    def warn(self) -> None:
        """Issue a `scalinglaws.ConvergenceWarning` for each of [`problems`][]."""
        for problem in self.problems():
            warnings.warn(problem, PosteriorWarning, stacklevel=3)

    def as_dict(self) -> dict[str, Any]:
        """What `scalinglaws infer --json` prints."""
        document = {
            "law": type(self.template).__name__,
            "method": self.method,
            "coefficients": self.summary(),
            "draws": self.num_draws,
            "likelihood": self.likelihood,
            "df": self.df if self.likelihood == "student_t" else None,
            "fixed": {n: float(getattr(self.template, n)) for n in self.fixed},
            "ties": dict(self.ties),
            "discrepancy": self.settings.get("discrepancy"),
            "group": self.settings.get("group"),
            "warnings": self.problems(),
        }
        if self.method == "nuts":
            document.update(chains=self.num_chains, divergences=self.divergences)
        return document

    def summary_table(self) -> str:
        """A plain-text table of [`summary`][]."""
        nuts = self.method == "nuts"
        lik = self.likelihood + (f"(df={self.df:g})" if self.likelihood == "student_t" else "")
        how = (
            f"nuts, {self.num_chains} chains x {self.num_draws} draws, {lik} likelihood, "
            f"{self.divergences} divergences"
            if nuts
            else f"laplace (Gaussian at the mode), {self.size} independent draws, {lik} likelihood"
        )
        lines = [f"law        {type(self.template).__name__}: {self.template.formula}", f"posterior  {how}"]
        if self.settings.get("group"):
            lines.append(f"runs       {self.settings.get('n_groups')} runs (grouped by {self.settings['group']})")
        slope = self.discrepancy_slope
        info = self.settings.get("discrepancy") or {}
        lines.append(f"discrepancy {slope:.4g} per decade beyond the fitted runs ({info.get('method', 'none')})")
        header = f"{'name':<10} {'mean':>11} {'median':>11} {'q05':>11} {'q95':>11}"
        lines += ["", header + (f" {'r_hat':>7} {'ess':>7}" if nuts else "")]
        for name, s in self.summary().items():
            row = f"{name:<10} {s['mean']:>11.5g} {s['median']:>11.5g} {s['q05']:>11.5g} {s['q95']:>11.5g}"
            if nuts:
                row += f" {s['r_hat']:>7.3f} {min(s['ess_bulk'], s['ess_tail']):>7.0f}"
            lines.append(row)
        for problem in self.problems():
            lines.append(f"warning: {problem}")
        return "\n".join(lines)

    # ---- predictions ----------------------------------------------------------------

    def predict(self, x: Mapping[str, Any], *, noise: bool = False, seed: int = 0) -> np.ndarray:
        """Posterior draws of the target at covariates `x`, shape `(size, n)`.

        With `noise=False`, draws of the mean law $\\hat L(x; \\theta_s)$. With `noise=True`,
        posterior *predictive* draws of a new run's observed target: each draw's
        prediction times $\\exp(b + \\sigma_s\\varepsilon + s\\,d(x)\\,\\eta)$, with $b$ a new
        run's offset (grouped runs, $\\mathcal N(0, \\tau_s^2)$), $\\varepsilon$ the residual
        noise (Student-t or Normal), and the model-discrepancy term $s\\,d(x)\\,\\eta$,
        $\\eta \\sim \\mathcal N(0, 1)$, whose scale grows linearly with the distance
        $d(x)$ in decades of compute beyond the fitted runs (Kennedy and O'Hagan 2001),
        slope $s$ = [`discrepancy_slope`][].
        """
        xj = _covariates(self.template, x)
        with in_float64():
            law = self.law
            sigma = jnp.asarray(self.sigma)
            key = jax.random.PRNGKey(seed)
            if not noise:
                return np.asarray(_predict_draws(law, xj, sigma, key, False, self.likelihood, self.df, None, None))
            tau = None if self.run_scale is None else jnp.asarray(self.run_scale)
            coordinate = scale_coordinate(self.inputs, {k: np.asarray(v) for k, v in xj.items()})
            info = self.settings.get("discrepancy") or {}
            top = info.get("max_fitted", np.inf)
            extra = self.discrepancy_slope * np.maximum(coordinate - top, 0.0) if np.isfinite(top) else None
            extra = None if extra is None else jnp.asarray(extra)
            return np.asarray(_predict_draws(law, xj, sigma, key, True, self.likelihood, self.df, tau, extra))

    def forecast(
        self,
        x: Mapping[str, Any] | None = None,
        /,
        *,
        kind: str = "predictive",
        level: float = 0.9,
        seed: int = 0,
        **covariates,
    ) -> dict[str, Any]:
        """Forecast with an interval of the requested kind at new covariates.

        `posterior.forecast(N=7e10, D=1.4e12)` or `posterior.forecast({"N": ..., "D": ...}, kind="mean")`.

        **Arguments:**

        - `x` / `covariates`: the law's inputs (arrays broadcast together).
        - `kind`: `"predictive"` (default): an interval for the *observed* target of a new
            run: coefficient uncertainty, residual noise, a new run's offset (grouped runs)
            and model discrepancy beyond the fitted runs (see [`predict`][]). `"mean"`: a
            credible interval of the mean law $\\hat L(x;\\theta)$ (coefficient uncertainty
            only).
        - `level`: the central interval's probability (default 0.9).
        - `seed`: seed of the predictive noise draws.

        **Returns:** a dict of arrays (one value per point): `predicted` (the posterior
        median of the mean law), `lo`, `hi` (the central `level` interval of `kind`),
        `kind` and `level`, and, as before, `mean`, `median`, `q05`, `q95` (mean law) and
        `pred_q05`, `pred_q95` (predictive).
        """
        if kind not in KINDS:
            raise InputError(f"kind={kind!r}: expected 'predictive' (a new run's observed loss) or 'mean' (the law).")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise InputError(f"level={level!r}: expected a probability strictly between 0 and 1, e.g. 0.9.")
        merged = dict(x or {})
        merged.update(covariates)
        draws = self.predict(merged)
        noisy = self.predict(merged, noise=True, seed=seed)
        tail = (1 - level) / 2
        q05, q50, q95 = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
        p05, p95 = np.quantile(noisy, [0.05, 0.95], axis=0)
        lo, hi = np.quantile(noisy if kind == "predictive" else draws, [tail, 1 - tail], axis=0)
        return {
            "kind": kind,
            "interval": kind,  # the key `BootstrapResult.forecast` uses
            "level": float(level),
            "predicted": q50,
            "lo": lo,
            "hi": hi,
            "mean": draws.mean(axis=0),
            "median": q50,
            "q05": q05,
            "q95": q95,
            "pred_q05": p05,
            "pred_q95": p95,
        }

    def log_likelihood(self, x: Mapping[str, Any], y) -> np.ndarray:
        """Pointwise log-likelihood of targets `y` at `x` for every draw, `(size, n)`
        (input to [`loo`][] and [`waic`][]; run offsets are integrated out for grouped
        runs only through the noise, i.e. each row is scored as a new run's)."""
        from ._model import pointwise_log_likelihood

        x = _covariates(self.template, x)
        with in_float64():
            log_y = jnp.log(jnp.asarray(y, dtype=float))
            sigma = jnp.asarray(self.sigma)
            if self.run_scale is not None:
                # A new run's offset adds tau^2 to the log-scale variance; approximate the
                # sum of noise and offset by one scale (exact for the Normal likelihood).
                sigma = jnp.sqrt(sigma**2 + jnp.asarray(self.run_scale) ** 2)

            def one(law, s):
                return pointwise_log_likelihood(law, s, x, log_y, self.likelihood, self.df)

            return np.asarray(jax.vmap(one)(self.law, sigma))

    def allocation(self, budgets, *, flops: str = "6nd", **options) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal $N^*$, $D^*$ at each budget, by
        `scalinglaws.allocate.optimal_allocation` vmapped over draws: arrays `N`, `D`,
        `loss`, `interior` of shape `(size, len(budgets))`. `options` as in
        [`optimal_allocation_draws`][] (`unique_tokens`, `inference_tokens`)."""
        from ._allocate import optimal_allocation_draws

        return optimal_allocation_draws(self, budgets, flops=flops, **options)

    def to_arviz(self):
        """Export to `arviz.InferenceData` (posterior group: every sampled quantity)."""
        import arviz

        return arviz.from_dict(posterior={k: v for k, v in self.draws.items()})

    # ---- persistence ----------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write to `path` as JSON, atomically; [`load_posterior`][] reads it back identically."""
        with in_float64():
            write_text(path, json.dumps(_document(self), sort_keys=True) + "\n", "Posterior.save(path=...)")


@eqx.filter_jit
def _predict_draws(law, x, sigma, key, noise: bool, likelihood: str, df: float, tau, extra):
    log_pred = jax.vmap(lambda one: one.log_predict(x))(law)
    shape = (sigma.shape[0], *jnp.broadcast_shapes(*(v.shape for v in x.values())))
    log_pred = jnp.broadcast_to(log_pred, shape)
    if noise:
        k_noise, k_run, k_extra = jax.random.split(key, 3)
        column = (-1,) + (1,) * (log_pred.ndim - 1)
        eps = jax.random.t(k_noise, df, shape) if likelihood == "student_t" else jax.random.normal(k_noise, shape)
        log_pred = log_pred + sigma.reshape(column) * eps
        if tau is not None:  # a new run's offset: one per draw and point
            log_pred = log_pred + tau.reshape(column) * jax.random.normal(k_run, shape)
        if extra is not None:
            log_pred = log_pred + extra * jax.random.normal(k_extra, shape)
    return jnp.exp(log_pred)


def _covariates(template, x: Mapping[str, Any]) -> dict[str, jnp.ndarray]:
    missing = [k for k in template.inputs if k not in x]
    if missing:
        raise InputError(
            f"covariates: missing {missing}; the law {type(template).__name__} reads {list(template.inputs)}."
        )
    out = {}
    for k in template.inputs:
        value = np.asarray(x[k], dtype=float)
        if not np.all(np.isfinite(value)) or np.any(value <= 0):
            raise InputError(f"{k}={x[k]!r}: must be positive and finite.")
        out[k] = np.atleast_1d(value)
    return out


def _checksum(draws: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(draws):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(draws[name], dtype="<f8").tobytes())
    return digest.hexdigest()


def _document(post: Posterior) -> dict[str, Any]:
    return {
        **DOCUMENT.header(),
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


def load_posterior(path: str | os.PathLike, *, allow_import: bool = False) -> Posterior:
    """Read a posterior written by `Posterior.save` (or `scalinglaws infer --out`).

    The file is data: its law is resolved by registered name without importing anything
    unless `allow_import=True` (see `scalinglaws.load_fit`), and every draw of a
    coefficient must be finite and inside the coefficient's support.

    **Raises:** `InputError` (a `ValueError`) with a clear message when the file is
    missing, truncated, corrupt, or not a posterior file.
    """
    with in_float64():
        return _load_posterior(path, allow_import)


def _load_posterior(path, allow_import: bool) -> Posterior:
    document, argument = read_document(path, DOCUMENT)
    try:
        template = law_from_dict(document["law"], source=argument, allow_import=allow_import)
        shape = tuple(int(s) for s in document["shape"])
        draws = {k: np.asarray(v, dtype=np.float64) for k, v in document["draws"].items()}
        bad = [k for k, v in draws.items() if v.shape != shape]
        if bad or "sigma" not in draws:
            raise ValueError(f"draws of {bad or ['sigma']} are missing or do not have shape {shape}")
        # Draws are coefficients read from a file: the same check as a fit file's.
        names = template.coefficient_names()
        sampled = {k: v.reshape(-1) for k, v in draws.items() if k in names}
        validate_coefficients(type(template), sampled, source=f"{argument}: draws", partial=True)
        if not all(np.all(np.isfinite(v)) for v in draws.values()) or not np.all(draws["sigma"] > 0):
            raise InputError(f"{argument}: every draw must be finite and sigma positive; the file is corrupt.")
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
        raise InputError(f"{argument}: corrupt posterior file ({error}).") from None
    except (KeyError, TypeError) as error:
        raise InputError(f"{argument}: corrupt posterior file (missing or malformed {error}).") from None
