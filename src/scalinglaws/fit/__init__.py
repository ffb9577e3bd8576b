"""Fitting laws to runs: objectives, multi-start search, held-out checks."""

from ._fit import fit as fit
from ._fit import fit_arrays as fit_arrays
from ._holdout import HoldoutReport as HoldoutReport
from ._holdout import holdout as holdout
from ._objective import huber as huber
from ._objective import objective as objective
from ._parameterization import (
    Parameterization as Parameterization,
)
from ._parameterization import (
    make_parameterization as make_parameterization,
)
from ._problem import FitProblem as FitProblem, prepare_problem as prepare_problem
from ._result import FitResult as FitResult
from ._starts import grid_starts as grid_starts
from ._starts import random_starts as random_starts
