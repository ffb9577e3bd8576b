"""Loss curves: learning-rate schedules and their features, curve laws fitted to checkpoints
(Tissue et al. 2024; Luo et al. 2025), whole-curve prediction under new schedules, the
WSD decay that minimises final loss, and Hoffmann et al. 2022's Approach 1 envelope."""

from ._envelope import (
    EnvelopeResult as EnvelopeResult,
    envelope_analysis as envelope_analysis,
    envelope_points as envelope_points,
    isoflop_slices as isoflop_slices,
)
from ._features import (
    DEFAULT_LAMBDA as DEFAULT_LAMBDA,
    curve_features as curve_features,
    schedule_features as schedule_features,
)
from ._fit import (
    CurveFit as CurveFit,
    bootstrap_curves as bootstrap_curves,
    curve_with_intervals as curve_with_intervals,
    fit_curves as fit_curves,
    optimize_decay as optimize_decay,
    predict_curve as predict_curve,
)
from ._shared import SharedCurveFit as SharedCurveFit, fit_curves_shared as fit_curves_shared
from ._plot import plot_curves as plot_curves, plot_envelope as plot_envelope
from ._schedule import SCHEDULE_KINDS as SCHEDULE_KINDS, Schedule as Schedule
