"""Laws by name: the package's one registry and one resolver.

Every place that turns a name into a law goes through here: `fit("chinchilla", ...)`,
`--law` on the command line, the mixture and test-time laws, and the loaders of fit,
posterior, mixture and coverage files.

**Law files are data.** A file names its law by registered name (and, for information,
its `module:Class` path). Loading resolves a name or path only to a law the running
process already knows: a registered law (built in, or registered by the caller's own code
with [`register_law`][] before loading) or a concrete [`AbstractLaw`][] subclass that is
already imported. Anything else is refused *before anything is imported or called*:
importing the module a file names needs the explicit opt-in `allow_import=True`
(`--allow-import` on the command line), and even then only an `AbstractLaw` subclass is
ever called. Coefficients read from files (and from `--coef`) are checked with
[`validate_coefficients`][] before a law is built.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ._base import AbstractLaw, _is_abstract
from .chinchilla import Chinchilla
from .curves import LRAnnealing, LRAnnealingN, MultiPower
from .data_constrained import DataConstrained
from .kaplan import Kaplan, KaplanCritical
from .overtraining import DownstreamError, Overtraining
from .parallel import ParScale
from .power import BrokenPowerLaw, PowerLaw

__all__ = [
    "get_law",
    "law_name",
    "law_names",
    "law_path",
    "register_law",
    "resolve_law",
    "validate_coefficients",
    "validate_static",
]


@dataclasses.dataclass(frozen=True)
class _Entry:
    cls: type[AbstractLaw]
    static: tuple[tuple[str, Any], ...]
    factory: Callable[[], AbstractLaw]
    listed: bool


# name -> entry, and class -> names, so that naming a law is a dictionary look-up that
# never instantiates a template.
_REGISTRY: dict[str, _Entry] = {}
_BY_CLASS: dict[type, list[str]] = {}

_REGISTER_HELP = (
    "To load a law of your own, register it before loading: "
    "`scalinglaws.laws.register_law('my-law', MyLaw)` (or import the module that defines it); "
    "to let the loader import the module named in the file, pass allow_import=True "
    "(--allow-import on the command line) for files you trust."
)


def law_path(cls: type) -> str:
    """`module:QualName` of a class: how files name a law's class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register_law(
    name: str,
    law: type[AbstractLaw] | Callable[[], AbstractLaw],
    /,
    *,
    listed: bool = True,
    **static: Any,
) -> None:
    """Make a law available by name: to `fit`, [`get_law`][], the CLI's `--law`, and to the
    loaders of fit, posterior, mixture and coverage files.

    **Arguments:**

    - `name`: the name (case-insensitive; no `:`).
    - `law`: a concrete law class (its `template(**static)` is the default instance), or a
        function of no arguments returning a law (called once, now, to learn its class
        and static fields).
    - `listed`: whether `law_names()` and `scalinglaws laws` list it (families whose
        template needs arguments, such as mixing laws, are registered unlisted).
    - `static`: static fields of the registered variant (e.g. `variable="N"`).

    ```python
    scalinglaws.laws.register_law("logistic-c", LogisticInLogC)
    scalinglaws.load_fit("fit.json")  # a file naming "logistic-c" now loads
    ```
    """
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise InputError(f"register_law(name={name!r}): expected a non-empty name without ':'.")
    key = name.strip().lower()
    if isinstance(law, type):
        if not issubclass(law, AbstractLaw):
            raise TypeError(f"register_law(law=...): {law.__name__} is not an AbstractLaw subclass.")
        if _is_abstract(law):
            raise TypeError(f"register_law(law=...): {law.__name__} is abstract; register a concrete law.")
        cls, fixed = law, dict(static)

        def factory(cls=cls, fixed=fixed):
            return cls.template(**fixed)

    elif callable(law):
        if static:
            raise TypeError("register_law(...): static fields go with a law class, not with a factory.")
        instance = law()
        if not isinstance(instance, AbstractLaw):
            raise TypeError(f"register_law(law=...): the factory returned {type(instance).__name__}, not a law.")
        cls, fixed, factory = type(instance), instance.static_fields, law
    else:
        raise TypeError(f"register_law(law=...): expected a law class or a factory, got {law!r}.")
    if key in _REGISTRY:
        _BY_CLASS[_REGISTRY[key].cls].remove(key)
    _REGISTRY[key] = _Entry(cls, tuple(fixed.items()), factory, listed)
    _BY_CLASS.setdefault(cls, []).append(key)


def law_names() -> tuple[str, ...]:
    """Names accepted by [`get_law`][] and by `scalinglaws fit --law`."""
    return tuple(name for name, entry in _REGISTRY.items() if entry.listed)


def law_name(law: AbstractLaw | type[AbstractLaw]) -> str | None:
    """The registered name of a law (instance or class), or `None` if it has none.

    A dictionary look-up by class; among the names registered for that class, the one
    whose static fields the law matches (e.g. `PowerLaw(variable="N")` is `"power-n"`).
    """
    cls = law if isinstance(law, type) else type(law)
    fields = {} if isinstance(law, type) else law.static_fields
    best, best_size = None, -1
    for name in _BY_CLASS.get(cls, ()):
        static = _REGISTRY[name].static
        if all(k in fields and _same(fields[k], v) for k, v in static) and len(static) > best_size:
            best, best_size = name, len(static)
    return best


def resolve_law(
    spec: str, *, allow_import: bool = False, source: str = "law"
) -> tuple[type[AbstractLaw], dict[str, Any]]:
    """The law class and registered static fields for a name or a `module:Class` path.

    Resolution never imports or calls anything unless `allow_import=True`:

    1. a registered name -> its class and static fields;
    2. a `module:Class` path of a registered class, or of a concrete `AbstractLaw`
        subclass already imported in this process -> that class;
    3. with `allow_import=True` only: import the module; the attribute must be a concrete
        `AbstractLaw` subclass (nothing else is ever called).

    **Raises:** `InputError` naming `source`, saying how to register a law of your own.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"{source}: expected a law name or 'module:Class', got {spec!r}. {_REGISTER_HELP}")
    key = spec.strip().lower()
    if key in _REGISTRY:
        entry = _REGISTRY[key]
        return entry.cls, dict(entry.static)
    if ":" not in spec:
        raise InputError(
            f"{source}: unknown law {spec!r}. Known laws: {', '.join(law_names())}. {_REGISTER_HELP}"
        )
    path = spec.strip()
    for cls in list(_BY_CLASS):
        if law_path(cls) == path:
            return cls, {}
    for cls in _loaded_laws():
        if law_path(cls) == path:
            return cls, {}
    if not allow_import:
        raise InputError(
            f"{source}: refusing to load the law {path!r}: it is not a registered law nor an "
            f"imported AbstractLaw subclass, and importing a module named in a file runs code. "
            f"{_REGISTER_HELP}"
        )
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise InputError(f"{source}: cannot import {qualname!r} from {module_name!r} ({error}).") from None
    if not (isinstance(obj, type) and issubclass(obj, AbstractLaw)) or _is_abstract(obj):
        raise InputError(
            f"{source}: {path!r} is not a concrete AbstractLaw subclass; only laws are loaded. "
            f"{_REGISTER_HELP}"
        )
    return obj, {}


def get_law(law: str | type[AbstractLaw] | AbstractLaw) -> AbstractLaw:
    """A law instance from a registered name, a `module:Class` path, a class or an instance.

    Instances are returned unchanged; their coefficients serve as a template (for
    `fix`-ed values and shapes), not as starting values. A `module:Class` path given here
    (by the caller, not read from a file) is imported.
    """
    if isinstance(law, AbstractLaw):
        return law
    if isinstance(law, type) and issubclass(law, AbstractLaw):
        return law.template()
    if isinstance(law, str):
        key = law.strip().lower()
        if key in _REGISTRY:
            return _REGISTRY[key].factory()
        if ":" in law:
            cls, static = resolve_law(law, allow_import=True, source=f"law={law!r}")
            return cls.template(**static)
        raise InputError(
            f"law={law!r}: unknown law. Known laws: {', '.join(law_names())}; "
            "or give 'module:Class' for a law of your own."
        )
    raise TypeError(f"law=...: expected a law name, class or instance, got {type(law).__name__}")


def validate_coefficients(
    law_cls: type[AbstractLaw],
    values: Mapping[str, Any],
    *,
    source: str,
    static: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> dict[str, np.ndarray]:
    """Check coefficient values read from a file or typed by a user, before a law is built.

    Every coefficient of `law_cls` must be given (unless `partial`), be a number (or, for
    `per_domain` coefficients, a list with one number per domain), be finite, and lie in
    the closed support of its constraint (so `E = 0` of a pure power law is accepted,
    `alpha = NaN` or `E = -5` are not).

    **Arguments:** `law_cls`: the law class; `values`: name -> value; `source`: how the
    error names where the values came from (`"--coef"`, `"fit file 'x.json'"`);
    `static`: the law's static fields (for the number of domains).

    **Returns:** name -> float64 NumPy array.

    **Raises:** `InputError` naming the coefficient.
    """
    names = law_cls.coefficient_names()
    if not isinstance(values, Mapping):
        raise InputError(f"{source}: expected coefficients as NAME -> number, got {type(values).__name__}.")
    unknown = [n for n in values if n not in names]
    if unknown:
        raise InputError(
            f"{source}: unknown coefficient(s) {unknown} for law {law_cls.__name__}; its coefficients are {list(names)}."
        )
    missing = [n for n in names if n not in values]
    if missing and not partial:
        raise InputError(
            f"{source}: missing coefficient(s) {missing} for law {law_cls.__name__}; give all of {list(names)}."
        )
    domains = (static or {}).get("domains")
    out = {}
    for name, value in values.items():
        array = _as_numbers(value)
        if array is None:
            raise InputError(f"{source}: coefficient {name}={value!r} is not a number.")
        if name in law_cls.per_domain and domains is not None and array.shape != (len(domains),):
            raise InputError(
                f"{source}: coefficient {name} needs one value per domain ({len(domains)}), got shape {array.shape}."
            )
        if name not in law_cls.per_domain and array.ndim > 1:
            raise InputError(f"{source}: coefficient {name} must be a number, got shape {array.shape}.")
        constraint = law_cls.coefficient_constraint(name)
        if not np.all(np.isfinite(array)):
            raise InputError(f"{source}: coefficient {name}={value!r} is not a finite number.")
        if not np.all(constraint.contains(array)):
            raise InputError(
                f"{source}: coefficient {name}={value!r} is outside its support ({constraint}) "
                f"for law {law_cls.__name__}."
            )
        out[name] = array
    return out


def validate_static(law_cls: type[AbstractLaw], static: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Check static fields read from a file: known names, plain JSON values only (strings,
    numbers, booleans, null, lists of those, made tuples). **Raises:** `InputError`."""
    if not isinstance(static, Mapping):
        raise InputError(f"{source}: expected static fields as NAME -> value, got {type(static).__name__}.")
    allowed = law_cls.static_names()
    unknown = [n for n in static if n not in allowed]
    if unknown:
        raise InputError(f"{source}: unknown field(s) {unknown} for law {law_cls.__name__}; its fields are {list(allowed)}.")
    out = {}
    for name, value in static.items():
        if isinstance(value, list):
            if not all(_plain(v) for v in value):
                raise InputError(f"{source}: field {name}={value!r} must be a list of strings or numbers.")
            value = tuple(value)
        elif not _plain(value):
            raise InputError(f"{source}: field {name}={value!r} must be a string, a number or a list.")
        out[name] = value
    return out


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _as_numbers(value: Any) -> np.ndarray | None:
    """A float64 array from a number or (nested) list of numbers; `None` for anything else
    (strings, booleans, dicts, None): `np.asarray("1.5", float)` would accept a string."""
    def ok(v):
        if isinstance(v, (list, tuple)):
            return all(ok(u) for u in v)
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))

    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value.astype(np.float64)
    if not ok(value):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):  # ragged lists
        return None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays compare elementwise
        return False


def _loaded_laws() -> list[type[AbstractLaw]]:
    """Concrete AbstractLaw subclasses already defined in this process (nothing imported)."""
    found, stack = [], [AbstractLaw]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if not _is_abstract(sub):
                found.append(sub)
    return found


for _name, _cls, _static in (
    ("chinchilla", Chinchilla, {}),
    ("kaplan", Kaplan, {}),
    ("power-n", PowerLaw, {"variable": "N"}),
    ("power-d", PowerLaw, {"variable": "D"}),
    ("power-c", PowerLaw, {"variable": "C"}),
    ("broken-power-n", BrokenPowerLaw, {"variable": "N"}),
    ("broken-power-d", BrokenPowerLaw, {"variable": "D"}),
    ("broken-power-c", BrokenPowerLaw, {"variable": "C"}),
    ("data-constrained", DataConstrained, {}),
    ("overtraining", Overtraining, {}),
    ("downstream-error", DownstreamError, {}),
    ("parscale", ParScale, {}),
    ("kaplan-critical", KaplanCritical, {}),
    ("lr-annealing", LRAnnealing, {}),
    ("lr-annealing-n", LRAnnealingN, {}),
    ("multi-power", MultiPower, {}),
):
    register_law(_name, _cls, **_static)
del _name, _cls, _static
