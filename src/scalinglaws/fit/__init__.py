"""Fitting laws to runs: objectives, multi-start search, held-out checks."""

from ._fit import fit as fit, fit_arrays as fit_arrays
from ._holdout import HoldoutReport as HoldoutReport, holdout as holdout
from ._objective import huber as huber, objective as objective
from ._parameterization import (
    Parameterization as Parameterization,
    make_parameterization as make_parameterization,
    move_inside as move_inside,
)
from ._problem import FitProblem as FitProblem, prepare_problem as prepare_problem
from ._result import FitResult as FitResult
from ._starts import grid_starts as grid_starts, random_starts as random_starts
