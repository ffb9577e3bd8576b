"""Mapping between a law and the unconstrained vector an optimiser works on.

Free coefficients live in unconstrained space through each constraint's bijection
(log for positive coefficients, logit for intervals); fixed coefficients stay in the
template law; tied coefficients follow their leader (e.g. alpha = beta, as in Muennighoff et
al. 2023).
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..laws import AbstractLaw


class Parameterization(eqx.Module):
    """Which coefficients are free, fixed or tied, and how free ones map to R^n.

    **Fields:** `template` (a law holding the fixed values), `free` (names optimised),
    `ties` (pairs `(follower, leader)`, leader free).
    """

    template: AbstractLaw
    free: tuple[str, ...] = eqx.field(static=True)
    ties: tuple[tuple[str, str], ...] = eqx.field(static=True)

    @property
    def fixed(self) -> tuple[str, ...]:
        tied = {f for f, _ in self.ties}
        return tuple(n for n in self.template.coefficient_names() if n not in self.free and n not in tied)

    def _constraint(self, name: str):
        return self.template.coefficient_constraint(name)

    def law(self, natural: Mapping[str, Array]) -> AbstractLaw:
        """The law with free coefficients set to `natural` (natural units), ties applied."""
        values = {name: natural[name] for name in self.free}
        for follower, leader in self.ties:
            values[follower] = values[leader]
        return self.template.replace(**values)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of one coefficient (`()` for scalars; vectors such as a mixing law's `t`)."""
        return tuple(jnp.shape(getattr(self.template, name)))

    @property
    def size(self) -> int:
        """Length of the unconstrained vector."""
        return sum(int(np.prod(self.shape(n), dtype=int)) for n in self.free)

    def natural(self, u: Array) -> dict[str, Array]:
        """Unconstrained vector (last axis) -> free coefficients in natural units."""
        out, offset = {}, 0
        for name in self.free:
            shape = self.shape(name)
            size = int(np.prod(shape, dtype=int))
            piece = u[..., offset : offset + size].reshape(u.shape[:-1] + shape)
            out[name] = self._constraint(name).forward(piece)
            offset += size
        return out

    def unconstrained(self, natural: Mapping[str, Array]) -> Array:
        """Free coefficients in natural units -> unconstrained vector (values on or beyond the
        boundary of the support, such as Epoch's grid value alpha = 0, are moved inside)."""
        columns = []
        for name in self.free:
            shape = self.shape(name)
            value = jnp.asarray(move_inside(self.template, name, natural[name]))
            flat = value.reshape(value.shape[: value.ndim - len(shape)] + (-1,))
            columns.append(self._constraint(name).inverse(flat))
        return jnp.concatenate(columns, axis=-1)

    def law_from_unconstrained(self, u: Array) -> AbstractLaw:
        return self.law(self.natural(u))


def make_parameterization(
    law: AbstractLaw,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
) -> Parameterization:
    """Validate `fix` and `tie` against `law` and build a [`Parameterization`][].

    `fix` maps coefficient -> value; `tie` maps follower -> leader (`{"beta": "alpha"}`
    sets beta = alpha).
    """
    names = law.coefficient_names()
    fix = dict(fix or {})
    tie = dict(tie or {})
    law_name = type(law).__name__
    for argument, keys in (("fix", list(fix)), ("tie", list(tie) + list(tie.values()))):
        unknown = sorted({k for k in keys if k not in names})
        if unknown:
            raise ValueError(
                f"{argument}: unknown coefficient(s) {unknown} for law {law_name}; "
                f"its coefficients are {list(names)}."
            )
    for name, value in fix.items():
        array = np.asarray(value, dtype=float)
        expected = tuple(np.shape(getattr(law, name)))
        if array.shape != expected and array.shape != ():
            raise ValueError(f"fix: {name} has shape {expected}; got a value of shape {array.shape}.")
        constraint = law.coefficient_constraint(name)
        inside = all(bool(constraint(v)) or _on_boundary(constraint, v) for v in array.ravel())
        if not np.all(np.isfinite(array)) or not inside:
            raise ValueError(
                f"fix: {name}={value!r} is outside the support of {name} ({constraint}) for law {law_name}."
            )
        fix[name] = np.broadcast_to(array, expected).copy() if expected else float(array)
    both = sorted(set(fix) & set(tie))
    if both:
        raise ValueError(f"fix/tie: {both} are both fixed and tied; choose one.")
    # Resolve chains (a -> b -> c) to their root, and reject cycles.
    resolved: dict[str, str] = {}
    for follower in tie:
        seen, leader = {follower}, tie[follower]
        while leader in tie:
            if leader in seen:
                raise ValueError(f"tie: the ties {tie} form a cycle through {leader!r}.")
            seen.add(leader)
            leader = tie[leader]
        if leader == follower:
            raise ValueError(f"tie: {follower!r} cannot be tied to itself.")
        if np.shape(getattr(law, follower)) != np.shape(getattr(law, leader)):
            raise ValueError(f"tie: {follower!r} and {leader!r} have different shapes.")
        resolved[follower] = leader
    template = law.replace(**fix) if fix else law
    # A follower of a fixed leader is simply fixed to the same value.
    ties = []
    for follower, leader in resolved.items():
        if leader in fix:
            template = template.replace(**{follower: fix[leader]})
        else:
            ties.append((follower, leader))
    followers = {f for f, _ in ties}
    fixed_names = set(fix) | (set(resolved) - followers)
    free = tuple(n for n in names if n not in fixed_names and n not in followers)
    if not free:
        raise ValueError(f"fix/tie: nothing left to fit; every coefficient of {law_name} is fixed or tied.")
    return Parameterization(template=template, free=free, ties=tuple(ties))


def _on_boundary(constraint, value: float) -> bool:
    lower = getattr(constraint, "lower_bound", None)
    upper = getattr(constraint, "upper_bound", None)
    return (lower is not None and value == float(lower)) or (upper is not None and value == float(upper))


def move_inside(law: AbstractLaw, name: str, value):
    """`value` of coefficient `name`, moved just inside its support when it lies on or beyond
    the boundary (Epoch's grid value alpha = 0, or a fit that ends on a bound), so that the
    constraint's inverse bijection is finite. Values inside are returned unchanged."""
    constraint = law.coefficient_constraint(name)
    low, high = law.coefficient_init(name)
    lower = getattr(constraint, "lower_bound", None)
    upper = getattr(constraint, "upper_bound", None)
    value = jnp.asarray(value, dtype=float)
    if lower is not None:
        lower = float(lower)
        margin = 1e-2 * (low - lower) if low > lower else 1e-9
        value = jnp.maximum(value, lower + margin)
    if upper is not None:
        upper = float(upper)
        margin = 1e-2 * (upper - high) if upper > high else 1e-9
        value = jnp.minimum(value, upper - margin)
    return value


# How far (in unconstrained units) beyond the image of a coefficient's `init` range a fitted
# value may go before the fit calls it "at the edge". For positive coefficients (log) this
# is a factor of 1,000 outside the init range, e.g. E < 3e-4 for an init range starting at
# 0.3; for intervals (logit) it is as close to a bound as 1e-3 of the logit's odds beyond the
# range; for real coefficients, which have no edge of support, it is ten widths of the init
# range. A fit that drives E -> 0 or an exponent -> 0 ends many more units away than this.
EDGE_MARGIN = float(np.log(1e3))


def edge_bounds(param: Parameterization) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits in unconstrained space (one per element of the vector the
    optimiser works on) beyond which a fitted coefficient counts as sitting at the edge of
    its support or its `init` range; see `EDGE_MARGIN`."""
    lows, highs = [], []
    for name in param.free:
        low, high = param.template.coefficient_init(name)
        constraint = param.template.coefficient_constraint(name)
        # Constants, also when called while tracing (the limits depend on the class only).
        with jax.ensure_compile_time_eval():
            u_low = float(constraint.inverse(move_inside(param.template, name, low)))
            u_high = float(constraint.inverse(move_inside(param.template, name, high)))
        margin = EDGE_MARGIN if constraint.lower_bound is not None or constraint.upper_bound is not None else 10.0 * (
            u_high - u_low
        )
        size = int(np.prod(param.shape(name), dtype=int))
        lows += [u_low - margin] * size
        highs += [u_high + margin] * size
    return np.asarray(lows), np.asarray(highs)


def free_element_names(param: Parameterization) -> list[str]:
    """The free coefficient each element of the unconstrained vector belongs to."""
    out = []
    for name in param.free:
        out += [name] * int(np.prod(param.shape(name), dtype=int))
    return out
