"""The abstract law: a frozen equinox module whose fields are named, constrained coefficients.

Equinox's abstract/final pattern: [`AbstractLaw`][] declares the interface (`log_predict` is
an `abc.abstractmethod`, `inputs` an `eqx.AbstractVar`), every method it implements is
final, and every concrete law is final (subclassing one raises `TypeError`). A family of
laws that shares code does so through another abstract class (`AbstractMixingLaw`).
"""

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import equinox as eqx
from equinox import AbstractVar
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..errors import InputError
from ..precision import in_float64
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
        raise InputError(f"coefficient(init=...): expected low < high, got {init!r}")
    return eqx.field(
        converter=_to_float_array,
        metadata=dict(constraint=constraint, init=(float(low), float(high)), doc=doc),
    )


def _to_float_array(value: ArrayLike) -> Array:
    # Laws built from Python floats and laws produced by the fitter must have the same
    # pytree structure and dtype (float64), so every coefficient is stored as an array, in
    # float64 even for a caller whose `jax_enable_x64` is off (a float32 E would lose the
    # 1e-3 precision Epoch's Huber loss works at). Traced values keep the tracer's dtype.
    if isinstance(value, jax.core.Tracer):
        return jnp.asarray(value, dtype=float)
    with in_float64():
        return jnp.asarray(value, dtype=jnp.float64)


class AbstractLaw(eqx.Module):
    """A scaling law: a pure function of run covariates with named coefficients.

    Concrete laws are final `equinox.Module`s: every coefficient is a field declared with
    [`scalinglaws.coefficient`][], in natural units and named as in the paper. A law is a
    pytree, so it can be jitted, differentiated, and vmapped over a *batched law* whose
    leaves carry a leading axis (many starts, bootstrap replicates or posterior draws).

    A concrete law must define:

    - `log_predict(self, x)`: the natural log of the predicted target, computed in log space
        where that is more accurate (e.g. [`log_sum_exp`][scalinglaws.laws.log_sum_exp] for sums of
        power laws);
    - `inputs`: names of the covariate columns the law reads (e.g. `("N", "D")`), as a
        `ClassVar` or, when it depends on a static field, a property.

    It may declare these class attributes (optional metadata with defaults, so that a law of
    your own takes ten lines):

    - `target`: the column the law predicts (`"loss"` by default);
    - `formula`, `citation`: for documentation and the `scalinglaws laws` listing;
    - `default_grid`: mapping coefficient -> values whose Cartesian product is the default
        grid of starting points (natural units); `None` draws random starts instead;
    - `per_domain`: coefficients that are vectors with one entry per element of the static
        field `domains` (data-mixing laws).

    Coefficients are stored as float64 arrays whatever the caller's `jax_enable_x64`, and
    `predict`/`__call__` compute in float64 (see `scalinglaws.precision`).
    """

    inputs: AbstractVar[tuple[str, ...]]
    target: ClassVar[str] = "loss"
    formula: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    default_grid: ClassVar[Mapping[str, tuple[float, ...]] | None] = None
    per_domain: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        # Equinox's abstract/final rule: a concrete law is final. Sharing code between laws
        # goes through an abstract class, so that no law silently inherits another's
        # `log_predict` or fields.
        for base in cls.__mro__[1:]:
            if isinstance(base, type) and issubclass(base, AbstractLaw) and not _is_abstract(base):
                raise TypeError(
                    f"{cls.__name__} subclasses the concrete law {base.__name__}; concrete laws are "
                    "final. Subclass AbstractLaw (or an Abstract* law family) and declare every "
                    "coefficient in one class."
                )

    @abc.abstractmethod
    def log_predict(self, x: Mapping[str, Float[Array, "*n"]]) -> Float[Array, "*n"]:
        """Natural log of the predicted target at covariates `x` (column name -> array)."""

    def predict(self, x: Mapping[str, Float[ArrayLike, "*n"]]) -> Float[Array, "*n"]:
        """The predicted target (e.g. loss) at covariates `x` (column name -> array).

        Computed in float64, also for a caller whose `jax_enable_x64` is off; inside a
        caller's own `jit`/`vmap` the caller's precision applies.
        """
        if _tracing(self, x):
            return jnp.exp(self.log_predict(_as_arrays(x)))
        with in_float64():
            return jnp.exp(self.log_predict(_as_arrays(x)))

    def __call__(
        self, x: Mapping[str, Float[ArrayLike, "*n"]] | None = None, /, **covariates: Float[ArrayLike, "*n"]
    ) -> Float[Array, "*n"]:
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
    def static_names(cls) -> tuple[str, ...]:
        """Names of the non-coefficient (static configuration) fields, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if "constraint" not in f.metadata)

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
    def template(cls, **static: Any) -> "AbstractLaw":
        """An instance with plausible coefficients (geometric middle of each `init` range,
        the arithmetic middle when the range includes zero or negatives).

        `static` sets non-coefficient fields (such as `PowerLaw`'s `variable`, or the
        `domains` of a mixing law, whose `per_domain` coefficients become vectors).
        """
        if _is_abstract(cls):
            raise TypeError(f"{cls.__name__} is abstract; call template() on a concrete law.")
        length = None
        if cls.per_domain:
            if "domains" not in static:
                raise InputError(f"{cls.__name__}.template(domains=...): this law needs its list of domains.")
            static["domains"] = tuple(str(d) for d in static["domains"])
            length = len(static["domains"])
            if not length:
                raise InputError(f"{cls.__name__}.template(domains=...): need at least one domain.")
        values = {}
        for name in cls.coefficient_names():
            low, high = cls.coefficient_init(name)
            mid = float(np.sqrt(low * high)) if low > 0 else 0.5 * (low + high)
            values[name] = np.full((length,), mid) if name in cls.per_domain else np.float64(mid)
        return cls(**values, **static)

    # ---- instance helpers ------------------------------------------------------------

    @property
    def coefficients(self) -> dict[str, Float[Array, "*batch"]]:
        """Coefficient name -> value (arrays; batched laws give arrays with a leading axis)."""
        return {name: getattr(self, name) for name in self.coefficient_names()}

    @property
    def static_fields(self) -> dict[str, Any]:
        """Non-coefficient fields (configuration such as which variable a power law reads)."""
        return {name: getattr(self, name) for name in self.static_names()}

    def replace(self, **values: ArrayLike) -> "AbstractLaw":
        """A copy with some coefficients replaced (works on traced values)."""
        names = list(values)
        unknown = [n for n in names if n not in self.coefficient_names()]
        if unknown:
            raise InputError(
                f"replace(): unknown coefficient(s) {unknown} for law {type(self).__name__}; "
                f"its coefficients are {list(self.coefficient_names())}"
            )
        return eqx.tree_at(
            lambda law: [getattr(law, n) for n in names],
            self,
            [_to_float_array(values[n]) for n in names],
        )

    def __repr__(self) -> str:
        # Values, not shapes: `Chinchilla(E=1.8172, A=482.01, ...)` rather than equinox's
        # `f64[]` (issue 12.6); batched laws show abbreviated arrays, traced ones their tracers.
        from ..results import value_repr

        return value_repr(type(self).__name__, {**self.coefficients, **self.static_fields})


def _is_abstract(cls: type) -> bool:
    """Equinox's notion: abstract methods, `AbstractVar`s or `AbstractClassVar`s left open."""
    return bool(
        getattr(cls, "__abstractmethods__", ())
        or getattr(cls, "__abstractvars__", ())
        or getattr(cls, "__abstractclassvars__", ())
    )


def _tracing(*trees: Any) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name and "constraint" in f.metadata:
            return f
    raise InputError(
        f"{cls.__name__} has no coefficient {name!r}; its coefficients are "
        f"{list(cls.coefficient_names())}"
    )


def _as_arrays(x: Mapping[str, ArrayLike]) -> dict[str, Array]:
    # `float` is float64 inside `in_float64()` (predict's scope) and the caller's default
    # inside a caller's own trace.
    return {k: jnp.asarray(v, dtype=float) for k, v in x.items()}
