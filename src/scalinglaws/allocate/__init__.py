"""Compute allocation: how many parameters and tokens to buy with a FLOP budget.

Gradient-based, vectorised over budgets and differentiable in the law's coefficients
(`compute_optimal`, `optimal_allocation`); inference-aware (Sardana et al. 2024) and
data-constrained (Muennighoff et al. 2023) variants; FLOP-counting conventions; the
hyperparameter law of Li et al. 2025; isoFLOP analysis (Hoffmann et al. 2022, Approach 2;
Approach 1's envelope is `scalinglaws.curves`) and figures.
"""

from ._flops import (
    AbstractFlops as AbstractFlops,
)
from ._flops import (
    HoffmannFlops as HoffmannFlops,
)
from ._flops import (
    KaplanFlops as KaplanFlops,
)
from ._flops import (
    PerTokenFlops as PerTokenFlops,
)
from ._flops import (
    SixND as SixND,
)
from ._flops import (
    get_flops as get_flops,
)
from ._flops import (
    model_shape as model_shape,
)
from ._inference import irreducible_loss as irreducible_loss
from ._inference import target_loss_allocation as target_loss_allocation
from ._isoflop import (
    IsoflopResult as IsoflopResult,
)
from ._isoflop import (
    chinchilla_closed_form as chinchilla_closed_form,
)
from ._isoflop import (
    exponents_from_law as exponents_from_law,
)
from ._isoflop import (
    isoflop_analysis as isoflop_analysis,
)
from ._optimal import (
    Allocation as Allocation,
)
from ._optimal import (
    LogAllocation as LogAllocation,
)
from ._optimal import (
    compute_optimal as compute_optimal,
)
from ._optimal import (
    optimal_allocation as optimal_allocation,
)
from ._plot import (
    plot_allocation as plot_allocation,
)
from ._plot import (
    plot_allocation_bands as plot_allocation_bands,
)
from ._plot import (
    plot_frontier as plot_frontier,
)
from ._plot import (
    plot_isoflop as plot_isoflop,
)
from ._plot import (
    plot_loss_vs_compute as plot_loss_vs_compute,
)
from ._optimal import bucket_size as bucket_size
from ._optimal import check_budgets as check_budgets
from ._optimal import check_coefficients as check_coefficients
from ._optimal import check_tokens as check_tokens
from ._optimal import check_unique_tokens as check_unique_tokens
from ._optimal import pad_rows as pad_rows
from ._recipe import HyperparameterLaw as HyperparameterLaw
from ._recipe import non_embedding_params as non_embedding_params
from ._recipe import recipe_params as recipe_params
from ._recipe import resolve_recipe as resolve_recipe
from ._recipe import check_param_convention as check_param_convention
