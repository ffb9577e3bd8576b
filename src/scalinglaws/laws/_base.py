"""The abstract law: a frozen equinox module whose fields are named, constrained coefficients."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._constraints import Constraint, interval, positive, real, unit_interval

__all__ = ["AbstractLaw", "Constraint", "coefficient", "interval", "positive", "real", "unit_interval"]


def coefficient(
    constraint: Constraint = positive,
    *,
    init: tuple[float, float],
    doc: str = "",
) -> Any:
    """Declare a field of a law as a fitted coefficient.

    **Arguments:**

    - `constraint`: the coefficient's support: `positive`, `real`, `interval(lo, hi)` or
        `unit_interval` (from `scalinglaws.laws`). Fitting works in the unconstrained space
        given by `constraint.forward` (exp for positive, scaled sigmoid for intervals), and
        default Bayesian priors share the same support (`constraint.to_numpyro()`).
    - `init`: `(low, high)`, a plausible range in natural units, used to draw random
        starting points (log-uniformly for positive coefficients) and build default grids.
    - `doc`: one line describing the coefficient.
    """
    low, high = init
    if not low < high:
        raise ValueError(f"coefficient(init=...): expected low < high, got {init!r}")
    return eqx.field(
        converter=_to_float_array,
        metadata=dict(constraint=constraint, init=(float(low), float(high)), doc=doc),
    )


def _to_float_array(value: ArrayLike) -> Array:
    # Laws built from Python floats and laws produced by the fitter must have the same
    # pytree structure and dtype (float64), so every coefficient is stored as an array.
    return jnp.asarray(value, dtype=float)


class AbstractLaw(eqx.Module):
    """A scaling law: a pure function of run covariates with named coefficients.

    Concrete laws are final `equinox.Module`s: every coefficient is a field declared with
    [`scalinglaws.coefficient`][], in natural units and named as in the paper. A law is a
    pytree, so it can be jitted, differentiated, and vmapped over a *batched law* whose
    leaves carry a leading axis (many starts, bootstrap replicates or posterior draws).

    Subclasses define `log_predict`, the natural log of the predicted target, computed in
    log space where that is more accurate (e.g. `logaddexp` for sums of power laws).

    **Class attributes:**

    - `inputs`: names of the covariate columns the law reads (e.g. `("N", "D")`).
    - `target`: the column the law predicts (`"loss"` by default).
    - `formula`, `citation`: for documentation and the `scalinglaws laws` listing.
    - `default_grid`: optional mapping coefficient -> values whose Cartesian product is the
        default grid of starting points (natural units).
    """

    inputs: ClassVar[tuple[str, ...]] = ()
    target: ClassVar[str] = "loss"
    formula: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    default_grid: ClassVar[Mapping[str, tuple[float, ...]] | None] = None

    def log_predict(self, x: Mapping[str, Array]) -> Array:
        """Natural log of the predicted target at covariates `x` (column name -> array)."""
        raise NotImplementedError

    def predict(self, x: Mapping[str, ArrayLike]) -> Array:
        """The predicted target (e.g. loss) at covariates `x` (column name -> array)."""
        return jnp.exp(self.log_predict(_as_arrays(x)))

    def __call__(self, x: Mapping[str, ArrayLike] | None = None, /, **covariates: ArrayLike) -> Array:
        """`law(N=..., D=...)` or `law({"N": ..., "D": ...})`: the predicted target."""
        merged = dict(x or {})
        merged.update(covariates)
        return self.predict(merged)

    # ---- coefficient introspection (class-level, no instance needed) -----------------

    @classmethod
    def coefficient_names(cls) -> tuple[str, ...]:
        """Names of the fitted coefficients, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if "constraint" in f.metadata)

    @classmethod
    def coefficient_constraint(cls, name: str) -> Constraint:
        return _field(cls, name).metadata["constraint"]

    @classmethod
    def coefficient_init(cls, name: str) -> tuple[float, float]:
        return _field(cls, name).metadata["init"]

    @classmethod
    def coefficient_doc(cls, name: str) -> str:
        return _field(cls, name).metadata.get("doc", "")

    @classmethod
    def template(cls, **static: Any) -> AbstractLaw:
        """An instance with plausible coefficients (geometric middle of each `init` range).

        `static` sets non-coefficient fields (such as `PowerLaw`'s `variable`).
        """
        values = {}
        for name in cls.coefficient_names():
            low, high = cls.coefficient_init(name)
            mid = np.sqrt(low * high) if low > 0 else 0.5 * (low + high)
            values[name] = jnp.asarray(mid, dtype=float)
        return cls(**values, **static)

    # ---- instance helpers ------------------------------------------------------------

    @property
    def coefficients(self) -> dict[str, Array]:
        """Coefficient name -> value (arrays; batched laws give arrays with a leading axis)."""
        return {name: getattr(self, name) for name in self.coefficient_names()}

    @property
    def static_fields(self) -> dict[str, Any]:
        """Non-coefficient fields (configuration such as which variable a power law reads)."""
        names = set(self.coefficient_names())
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in names}

    def replace(self, **values: ArrayLike) -> AbstractLaw:
        """A copy with some coefficients replaced (works on traced values)."""
        names = list(values)
        unknown = [n for n in names if n not in self.coefficient_names()]
        if unknown:
            raise ValueError(
                f"replace(): unknown coefficient(s) {unknown} for law {type(self).__name__}; "
                f"its coefficients are {list(self.coefficient_names())}"
            )
        return eqx.tree_at(
            lambda law: [getattr(law, n) for n in names],
            self,
            [jnp.asarray(values[n], dtype=float) for n in names],
        )


def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name and "constraint" in f.metadata:
            return f
    raise ValueError(
        f"{cls.__name__} has no coefficient {name!r}; its coefficients are "
        f"{list(cls.coefficient_names())}"
    )


def _as_arrays(x: Mapping[str, ArrayLike]) -> dict[str, Array]:
    return {k: jnp.asarray(v, dtype=float) for k, v in x.items()}
