"""scalinglaws: fast, differentiable, uncertainty-aware scaling laws in JAX.

Fit published or custom scaling laws to training runs, check their extrapolation,
and use them to decide how to spend compute.
"""

# Scaling-law fits are ill-conditioned (A and B of Chinchilla differ from E by orders of
# magnitude, and the Huber threshold of Epoch AI is 1e-3 on log loss): float32 is not
# enough. Importing the package nevertheless leaves `jax.config` as it found it: every
# public entry point computes inside `jax.enable_x64(True)` (see `scalinglaws.precision`).

__version__ = "0.1.0"

from . import laws as laws
from .data import Runs as Runs, load_runs as load_runs
from .datasets import list_datasets as list_datasets, load_dataset as load_dataset
from .fit import (
    FitResult as FitResult,
    HoldoutReport as HoldoutReport,
    fit as fit,
    holdout as holdout,
    select as select,
)
from .errors import (
    ConvergenceWarning as ConvergenceWarning,
    IdentifiabilityError as IdentifiabilityError,
    InputError as InputError,
)
from .io import load_fit as load_fit, save_fit as save_fit
from .laws import AbstractLaw as AbstractLaw, coefficient as coefficient, get_law as get_law
