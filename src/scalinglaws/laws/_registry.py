"""Laws by name, for the command line and for `fit("chinchilla", ...)`."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ._base import AbstractLaw
from .chinchilla import Chinchilla
from .data_constrained import DataConstrained
from .kaplan import Kaplan
from .overtraining import DownstreamError, Overtraining
from .parallel import ParScale
from .power import BrokenPowerLaw, PowerLaw

_REGISTRY: dict[str, Callable[[], AbstractLaw]] = {
    "chinchilla": Chinchilla.template,
    "kaplan": Kaplan.template,
    "power-n": lambda: PowerLaw.template(variable="N"),
    "power-d": lambda: PowerLaw.template(variable="D"),
    "power-c": lambda: PowerLaw.template(variable="C"),
    "broken-power-n": lambda: BrokenPowerLaw.template(variable="N"),
    "broken-power-d": lambda: BrokenPowerLaw.template(variable="D"),
    "broken-power-c": lambda: BrokenPowerLaw.template(variable="C"),
    "data-constrained": DataConstrained.template,
    "overtraining": Overtraining.template,
    "downstream-error": DownstreamError.template,
    "parscale": ParScale.template,
}


def law_names() -> tuple[str, ...]:
    """Names accepted by [`get_law`][] and by `scalinglaws fit --law`."""
    return tuple(_REGISTRY)


def register_law(name: str, factory: type[AbstractLaw] | Callable[[], AbstractLaw]) -> None:
    """Make a user-defined law available by name (to `fit`, `get_law` and the CLI).

    `factory` is a law class (its `template()` is used) or a function returning a law.
    """
    if isinstance(factory, type):
        if not issubclass(factory, AbstractLaw):
            raise TypeError(f"register_law(factory=...): {factory.__name__} is not an AbstractLaw")
        factory = factory.template
    _REGISTRY[name] = factory


def get_law(law: str | type[AbstractLaw] | AbstractLaw) -> AbstractLaw:
    """A law instance from a registered name, a `module:Class` path, a class or an instance.

    Instances are returned unchanged; their coefficients serve as a template (for
    `fix`-ed values and shapes), not as starting values.
    """
    if isinstance(law, AbstractLaw):
        return law
    if isinstance(law, type) and issubclass(law, AbstractLaw):
        return law.template()
    if isinstance(law, str):
        key = law.strip().lower()
        if key in _REGISTRY:
            return _REGISTRY[key]()
        if ":" in law:
            module_name, _, attr = law.partition(":")
            try:
                obj = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as error:
                raise ValueError(f"law={law!r}: cannot import {attr!r} from {module_name!r} ({error})")
            return get_law(obj)
        raise ValueError(
            f"law={law!r}: unknown law. Known laws: {', '.join(_REGISTRY)}; "
            "or give 'module:Class' for a law of your own."
        )
    raise TypeError(f"law=...: expected a law name, class or instance, got {type(law).__name__}")
