"""Test-time compute: pass@k, coverage laws in the number of samples, imperfect verifiers,
the cost of a sample, and a budget allocator.

- pass@k: Chen et al. 2021 (arXiv:2107.03374).
- Coverage laws: Brown et al. 2024 ("Large Language Monkeys", arXiv:2407.21787) and a
  beta-binomial difficulty model.
- Verifiers: Stroebl et al. 2024 ("Inference Scaling fLaws", arXiv:2411.17501).
- Cost of a sample: Sadhukhan et al. 2025 ("Kinetics", arXiv:2506.05333).
- Spreading samples across problems: Snell et al. 2024 (arXiv:2408.03314).
"""

from ._beta import (
    BetaFit as BetaFit,
)
from ._beta import (
    beta_log_likelihood as beta_log_likelihood,
)
from ._beta import (
    beta_posterior as beta_posterior,
)
from ._beta import (
    fit_beta as fit_beta,
)
from ._beta import (
    fit_exp_power as fit_exp_power,
)
from ._cost import H100_INTENSITY as H100_INTENSITY
from ._cost import ModelCost as ModelCost
from ._cost import kinetics_cost as kinetics_cost
from ._cost import sample_cost as sample_cost
from ._coverage import BetaCoverage as BetaCoverage
from ._coverage import ExpPowerLaw as ExpPowerLaw
from ._io import Attempts as Attempts
from ._io import load_attempts as load_attempts
from ._law_io import load_coverage_law as load_coverage_law
from ._law_io import save_coverage_law as save_coverage_law
from ._passk import mean_pass_at_k as mean_pass_at_k
from ._passk import pass_at_k as pass_at_k
from ._planner import (
    Candidate as Candidate,
)
from ._planner import (
    Plan as Plan,
)
from ._planner import (
    allocate_samples as allocate_samples,
)
from ._planner import (
    expected_solved as expected_solved,
)
from ._planner import (
    load_candidates as load_candidates,
)
from ._planner import (
    plan as plan,
)
from ._planner import (
    total_cost as total_cost,
)
from ._verifier import (
    accuracy_ceiling as accuracy_ceiling,
)
from ._verifier import (
    expected_utility as expected_utility,
)
from ._verifier import (
    majority_vote_accuracy as majority_vote_accuracy,
)
from ._verifier import (
    majority_vote_plateau as majority_vote_plateau,
)
from ._verifier import (
    optimal_k as optimal_k,
)
from ._verifier import (
    representative_p as representative_p,
)
from ._verifier import (
    verifier_accuracy as verifier_accuracy,
)
