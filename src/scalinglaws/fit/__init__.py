"""Fitting laws to runs: objectives, multi-start search, held-out checks."""

from ._extrapolation import (
    ExtrapolationNoise as ExtrapolationNoise,
    estimate_extrapolation_noise as estimate_extrapolation_noise,
    leave_largest_out as leave_largest_out,
    robust_scale as robust_scale,
)
from ._fit import agreement as agreement, fit as fit, fit_arrays as fit_arrays
from ._holdout import HoldoutReport as HoldoutReport, holdout as holdout, split_runs as split_runs
from ._objective import huber as huber, objective as objective
from ._parameterization import (
    Parameterization as Parameterization,
    make_parameterization as make_parameterization,
    EDGE_MARGIN as EDGE_MARGIN,
    edge_bounds as edge_bounds,
    move_inside as move_inside,
)
from ._problem import FitProblem as FitProblem, prepare_problem as prepare_problem
from ._resample import (
    RUN_CONFIG_COLUMNS as RUN_CONFIG_COLUMNS,
    resample_weights as resample_weights,
    run_groups as run_groups,
)
from ._result import FitResult as FitResult
from ._sweep import (
    HoldoutSweep as HoldoutSweep,
    SweepFit as SweepFit,
    SweepResult as SweepResult,
    holdout_sweep as holdout_sweep,
    sweep as sweep,
)
from ._select import Selection as Selection, select as select, stacking_weights as stacking_weights
from ._starts import grid_starts as grid_starts, random_starts as random_starts
