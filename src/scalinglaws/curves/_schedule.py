r"""Learning-rate schedules by name: `cosine`, `wsd` (warmup-stable-decay) and `constant`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import InputError

__all__ = ["SCHEDULE_KINDS", "Schedule"]

SCHEDULE_KINDS = ("cosine", "wsd", "constant")
_DECAY_SHAPES = ("linear", "cosine")


@dataclasses.dataclass(frozen=True)
class Schedule:
    r"""A named learning-rate schedule over `total_steps` optimiser steps.

    Steps are numbered $i = 1, \dots, T$; $\eta_i$ is the learning rate used by step $i$.
    Every kind starts with a linear warmup $\eta_i = \eta_\text{peak}\, i / W$ for
    $i \le W$ (`warmup` $= W$; the convention of open_lm and most trainers), then:

    - `cosine`: $\eta_i = \eta_\text{final} + \tfrac12(\eta_\text{peak} - \eta_\text{final})
        (1 + \cos(\pi p))$ with $p = (i - W)/(T - W)$ (Loshchilov & Hutter 2017);
    - `wsd`: constant $\eta_\text{peak}$ until the decay starts at step
        $T - \lceil f T \rceil$ (`decay_fraction` $= f$), then a `decay_shape` (`linear`
        or `cosine`) ramp to $\eta_\text{final}$ at step $T$ (Hu et al. 2024, arXiv:2404.06395);
    - `constant`: $\eta_\text{peak}$ after warmup.

    **Fields:** `kind`, `peak`, `total_steps`, `warmup` (steps, default 0), `final`
    (final learning rate, default 0), `decay_fraction` (`wsd` only, default 0.2),
    `decay_shape` (`wsd` only, default `"linear"`).

    **Example:**

    ```python
    from scalinglaws.curves import Schedule
    lr = Schedule("wsd", peak=3e-3, total_steps=10_000, warmup=500, decay_fraction=0.2).learning_rates()
    ```
    """

    kind: str
    peak: float
    total_steps: int
    warmup: int = 0
    final: float = 0.0
    decay_fraction: float = 0.2
    decay_shape: str = "linear"

    def __post_init__(self):
        if self.kind not in SCHEDULE_KINDS:
            raise InputError(f"Schedule(kind={self.kind!r}): expected one of {', '.join(SCHEDULE_KINDS)}.")
        if not (np.isfinite(self.peak) and self.peak > 0):
            raise InputError(f"Schedule(peak={self.peak!r}): the peak learning rate must be positive.")
        if int(self.total_steps) != self.total_steps or self.total_steps < 2:
            raise InputError(f"Schedule(total_steps={self.total_steps!r}): expected an integer >= 2.")
        if int(self.warmup) != self.warmup or not 0 <= self.warmup < self.total_steps:
            raise InputError(
                f"Schedule(warmup={self.warmup!r}): expected an integer from 0 to total_steps - 1 "
                f"({self.total_steps - 1})."
            )
        if not (np.isfinite(self.final) and 0 <= self.final <= self.peak):
            raise InputError(
                f"Schedule(final={self.final!r}): the final learning rate must lie in [0, peak={self.peak!r}]."
            )
        if not (0 < self.decay_fraction <= 1):
            raise InputError(
                f"Schedule(decay_fraction={self.decay_fraction!r}): expected a fraction in (0, 1] of the steps."
            )
        if self.decay_shape not in _DECAY_SHAPES:
            raise InputError(
                f"Schedule(decay_shape={self.decay_shape!r}): expected one of {', '.join(_DECAY_SHAPES)}."
            )

    @property
    def decay_start(self) -> int:
        """Last step before the decay (`wsd`), or the warmup length (`cosine`, `constant`)."""
        if self.kind == "wsd":
            return max(int(self.warmup), self.total_steps - math.ceil(self.decay_fraction * self.total_steps))
        return int(self.warmup)

    def learning_rates(self) -> np.ndarray:
        r"""$\eta_1, \dots, \eta_T$ as a float64 array of length `total_steps`."""
        t = int(self.total_steps)
        i = np.arange(1, t + 1, dtype=np.float64)
        lr = np.full(t, float(self.peak))
        w = int(self.warmup)
        if w > 0:
            lr[:w] = self.peak * i[:w] / w
        if self.kind == "cosine":
            p = (i[w:] - w) / (t - w)
            lr[w:] = self.final + 0.5 * (self.peak - self.final) * (1.0 + np.cos(np.pi * p))
        elif self.kind == "wsd":
            start = self.decay_start
            p = (i[start:] - start) / (t - start)
            ramp = p if self.decay_shape == "linear" else 0.5 * (1.0 - np.cos(np.pi * p))
            lr[start:] = self.peak - (self.peak - self.final) * ramp
        return lr

    def replace(self, **changes) -> Schedule:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
