"""Bayesian posteriors over law coefficients (NumPyro), bootstrap, model comparison and
uncertainty-aware allocation."""

from ._allocate import (
    optimal_allocation_draws as optimal_allocation_draws,
)
from ._allocate import (
    risk_aware_allocation as risk_aware_allocation,
)
from ._bootstrap import BootstrapResult as BootstrapResult
from ._bootstrap import bootstrap as bootstrap
from ._calibration import calibration as calibration
from ._compare import compare as compare
from ._compare import holdout_error as holdout_error
from ._compare import loo as loo
from ._compare import waic as waic
from ._hierarchical import HierarchicalPosterior as HierarchicalPosterior
from ._hierarchical import hierarchical_infer as hierarchical_infer
from ._infer import infer as infer
from ._model import law_model as law_model
from ._posterior import Posterior as Posterior
from ._posterior import PosteriorWarning as PosteriorWarning
from ._posterior import load_posterior as load_posterior
from ._priors import default_prior as default_prior
