"""Data-mixture laws and a gradient-based mixture optimiser.

Fit a mixing law (Ye et al. 2024, arXiv:2403.16952, or its square-root extension) to proxy
runs, predict the loss of new mixtures, and find the mixture that minimises a target loss
on the simplex under per-domain bounds, a token budget and a repetition penalty
(Muennighoff et al. 2023, arXiv:2305.16264).
"""

from ._data import check_proportions as check_proportions
from ._fit import MixtureFit as MixtureFit, fit_mixture as fit_mixture
from ._io import load_mixture_fit as load_mixture_fit, save_mixture_fit as save_mixture_fit
from ._laws import (
    AbstractMixingLaw as AbstractMixingLaw,
    DataMixingLaw as DataMixingLaw,
    ScaledMixingLaw as ScaledMixingLaw,
    SqrtMixingLaw as SqrtMixingLaw,
    mixing_law as mixing_law,
    mixing_law_names as mixing_law_names,
)
from ._optimize import (
    R_D_STAR as R_D_STAR,
    MixtureObjective as MixtureObjective,
    MixturePlan as MixturePlan,
    make_objective as make_objective,
    effective_tokens as effective_tokens,
    kl_project as kl_project,
    optimize_mixture as optimize_mixture,
    project as project,
)
from ._plot import plot_predicted_vs_actual as plot_predicted_vs_actual, plot_weights as plot_weights
from ._spearman import rankdata as rankdata, spearman as spearman
from ._uncertainty import MixtureBootstrap as MixtureBootstrap, bootstrap_mixture as bootstrap_mixture
