"""Planner against brute force, sample allocation across problems, verifiers, cost model."""

import itertools
from math import comb

import numpy as np
import pytest
import scipy.special
import scipy.stats

import scalinglaws
from scalinglaws.testtime import (
    BetaCoverage,
    Candidate,
    ExpPowerLaw,
    ModelCost,
    accuracy_ceiling,
    allocate_samples,
    expected_solved,
    expected_utility,
    kinetics_cost,
    load_candidates,
    majority_vote_accuracy,
    majority_vote_plateau,
    optimal_k,
    plan,
    representative_p,
    sample_cost,
    save_coverage_law,
    total_cost,
    verifier_accuracy,
)

CANDIDATES = [
    # A large model: strong per sample, expensive.
    Candidate("large", 40.0, BetaCoverage(alpha=0.8, beta=1.5, pi0=0.05), size=7e10),
    # A mid model with a Brown et al. exponentiated power law.
    Candidate("mid", 9.0, ExpPowerLaw(neg_a=1.6, b=-0.28), size=8e9),
    # A small model: cheap, with a heavy tail of hard problems.
    Candidate("small", 1.0, BetaCoverage(alpha=0.15, beta=1.2, pi0=0.0), size=1e9),
]


def numpy_coverage(law, k):
    """The coverage laws written out in NumPy/SciPy: an independent implementation."""
    if isinstance(law, ExpPowerLaw):
        return np.exp(-float(law.neg_a) * k ** float(law.b))
    a, b, pi0 = float(law.alpha), float(law.beta), float(law.pi0)
    return (1 - pi0) * -np.expm1(scipy.special.betaln(a, b + k) - scipy.special.betaln(a, b))


def brute_force(candidates, budget):
    """Every (model, k) with k * cost <= budget."""
    best = None
    for cand in candidates:
        k = np.arange(1, int(budget // cand.cost_per_sample) + 1, dtype=float)
        if len(k) == 0:
            continue
        coverage = numpy_coverage(cand.law, k)
        i = int(np.argmax(coverage))
        if best is None or coverage[i] > best[2]:
            best = (cand.name, int(k[i]), float(coverage[i]))
    return best


@pytest.mark.parametrize("budget", [1.0, 7.5, 45.0, 100.0, 400.0, 2_000.0, 30_000.0])
def test_plan_equals_brute_force(budget):
    result = plan(CANDIDATES, budget)
    name, k, coverage = brute_force(CANDIDATES, budget)
    assert (result.model, result.k) == (name, k)
    assert result.coverage == pytest.approx(coverage, abs=1e-10)
    assert result.cost <= budget
    assert {o["model"] for o in result.options} <= {"large", "mid", "small"}


def test_different_budgets_choose_different_models():
    chosen = {plan(CANDIDATES, b).model for b in (45.0, 400.0, 30_000.0)}
    assert len(chosen) >= 2


def test_plan_errors(tmp_path):
    with pytest.raises(ValueError, match="below the cost of one sample"):
        plan(CANDIDATES, 0.5)
    with pytest.raises(ValueError, match="must be positive and finite"):
        plan(CANDIDATES, -1.0)
    with pytest.raises(ValueError, match="at least one candidate"):
        plan([], 10.0)
    with pytest.raises(ValueError, match="cost_per_sample"):
        Candidate("x", 0.0, ExpPowerLaw(neg_a=1.0, b=-0.3))
    with pytest.raises(TypeError, match="coverage law"):
        Candidate("x", 1.0, scalinglaws.get_law("chinchilla"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['law'"):
        load_candidates({"model": ["a"], "cost_per_token": [1.0], "tokens": [10]})
    with pytest.raises(ValueError, match="tokens"):
        load_candidates({"model": ["a"], "cost_per_token": [1.0], "law": ["x.json"]})


def test_load_candidates_reads_law_files(tmp_path):
    save_coverage_law(CANDIDATES[0].law, tmp_path / "large.json")
    save_coverage_law(CANDIDATES[2].law, tmp_path / "small.json")
    (tmp_path / "models.csv").write_text(
        "model,size,cost_per_token,law,tokens\nlarge,7e10,0.04,large.json,1000\nsmall,1e9,0.001,small.json,1000\n"
    )
    candidates = load_candidates(tmp_path / "models.csv")
    assert [c.name for c in candidates] == ["large", "small"]
    assert candidates[0].cost_per_sample == pytest.approx(40.0)
    assert float(candidates[1].law.alpha) == 0.15
    result = plan(candidates, 400.0)
    assert (result.model, result.k) == brute_force([CANDIDATES[0], CANDIDATES[2]], 400.0)[:2]
    costs = total_cost(result, queries=1e6, training=1e9)
    assert costs == {
        "training": 1e9,
        "inference": result.cost * 1e6,
        "total": 1e9 + result.cost * 1e6,
    }


def test_allocation_is_optimal_and_beats_uniform():
    law = BetaCoverage(alpha=0.4, beta=2.0, pi0=0.0)
    attempts = {"problem": [0, 1, 2, 3], "n": [10, 10, 10, 10], "c": [0, 1, 5, 10]}
    total = 8
    got = allocate_samples(attempts, total, law=law)
    assert got.sum() == total
    best = max(
        (k for k in itertools.product(range(total + 1), repeat=4) if sum(k) == total),
        key=lambda k: expected_solved(attempts, np.array(k), law=law),
    )
    assert expected_solved(attempts, got, law=law) == pytest.approx(
        expected_solved(attempts, np.array(best), law=law), abs=1e-12
    )
    assert expected_solved(attempts, got, law=law) > expected_solved(
        attempts, np.full(4, 2), law=law
    )
    with pytest.raises(ValueError, match="total=-1"):
        allocate_samples(attempts, -1, law=law)


def test_verifier_limits():
    p = representative_p(BetaCoverage(alpha=0.5, beta=2.0, pi0=0.1), 400)
    # representative_p gives Beta quantiles.
    np.testing.assert_allclose(
        np.sort(p)[40:43], scipy.stats.beta.ppf((np.arange(3) + 0.5) / 360, 0.5, 2.0), rtol=1e-8
    )
    # A perfect verifier turns accuracy into coverage: 1 - (1-p)^k.
    k = np.array([1.0, 5.0, 50.0])
    np.testing.assert_allclose(
        verifier_accuracy(p, k, fpr=0.0), [np.mean(1 - (1 - p) ** kk) for kk in k], rtol=1e-12
    )
    # With false positives accuracy rises to the ceiling and no further (Stroebl et al. 2024).
    ceiling = accuracy_ceiling(p, fpr=0.1)
    far = verifier_accuracy(p, [1e6], fpr=0.1)[0]
    assert far == pytest.approx(ceiling, rel=1e-9)
    assert ceiling < 0.9 * (1 - 0.1)  # far below the coverage limit of the solvable share
    # When a false positive costs more than abstaining, the best k is small and interior.
    k_best, utility = optimal_k(p, fpr=0.1, cost_fp=1.0, k_max=2000)
    assert 1 < k_best < 10
    around = expected_utility(p, [k_best - 1, k_best + 1, 2000], fpr=0.1, cost_fp=1.0)
    assert (around < utility).all()


def test_majority_vote():
    p = np.array([0.1, 0.3, 0.55, 0.8, 0.5])
    k = 9
    want = np.mean([sum(comb(k, x) * q**x * (1 - q) ** (k - x) for x in range(5, 10)) for q in p])
    assert majority_vote_accuracy(p, [k])[0] == pytest.approx(want, rel=1e-12)
    # Even k: ties count one half.
    assert majority_vote_accuracy(np.array([0.5]), [2])[0] == pytest.approx(0.5)
    # Voting plateaus at the share of problems with p > 1/2 (ties one half).
    assert majority_vote_accuracy(p, [2001])[0] == pytest.approx(majority_vote_plateau(p), abs=1e-6)
    assert majority_vote_plateau(p) == pytest.approx((2 + 0.5) / 5)
    assert majority_vote_plateau(p, n_wrong=3) == pytest.approx(4 / 5)


def test_verifier_errors():
    with pytest.raises(ValueError, match="fpr=1.5"):
        verifier_accuracy([0.5], 3, fpr=1.5)
    with pytest.raises(ValueError, match="every k must be positive"):
        verifier_accuracy([0.5], 0, fpr=0.1)
    with pytest.raises(ValueError, match="per-problem success probabilities"):
        accuracy_ceiling([1.2], fpr=0.1)
    with pytest.raises(ValueError, match="cost_fp"):
        expected_utility([0.5], 3, fpr=0.1, cost_fp=-1)


def test_cost_model():
    model = ModelCost(N=7e9, n_layers=32, d_attn=4096, d_kv=1024, batch=16, price_per_token=2e-6)
    T, P = 300, 50
    # Explicit sum over generated tokens t = 1..T of 2N + 4 L d (P + t).
    flops = sum(2 * 7e9 + 4 * 32 * 4096 * (P + t) for t in range(1, T + 1))
    kv = sum(2 * 32 * 1024 * 2 * (P + t) for t in range(1, T + 1))
    assert sample_cost(model, T, P, unit="flops") == pytest.approx(flops, rel=1e-12)
    assert sample_cost(model, T, P, unit="bytes") == pytest.approx(kv + 7e9 * 2 * T / 16, rel=1e-12)
    assert sample_cost(model, T, P, unit="eflops", intensity=100.0) == pytest.approx(
        flops + 100.0 * (kv + 7e9 * 2 * T / 16), rel=1e-12
    )
    assert sample_cost(model, T, P, unit="price") == pytest.approx(2e-6 * T)
    # Kinetics: memory traffic narrows the gap between a small and a large model on long generations.
    small = ModelCost(N=6e8, n_layers=28, d_attn=2048, d_kv=1024)
    ratio_flops = sample_cost(model, 16_000, unit="flops") / sample_cost(
        small, 16_000, unit="flops"
    )
    ratio_eff = sample_cost(model, 16_000) / sample_cost(small, 16_000)
    assert ratio_eff < ratio_flops / 2
    with pytest.raises(ValueError, match="unit='joules'"):
        sample_cost(model, T, unit="joules")
    with pytest.raises(ValueError, match="generation length must be positive"):
        sample_cost(model, 0)
    with pytest.raises(ValueError, match="N=-1.0"):
        ModelCost(N=-1, n_layers=1, d_attn=1, d_kv=1)
    with pytest.raises(ValueError, match="no price_per_token"):
        sample_cost(small, 10, unit="price")


def test_kinetics_cost_published_formula():
    # Sadhukhan et al. 2025 (Kinetics, arXiv:2506.05333), eq. 2, written out independently:
    # C = 2 N P L_out + 2 r N L_in D L_out + r N D L_out^2 + 2 I L_in D L_out + I N D L_out^2
    # (N trials, P parameters, D KV values per token, r GQA ratio, 16-bit KV), for a
    # Qwen3-8B-like model: 36 layers, 32 query heads and 8 KV heads of 128.
    model = ModelCost(N=6.95e9, n_layers=36, d_attn=32 * 128, d_kv=8 * 128)
    trials, L_in, L_out, intensity = 32, 8192.0, 4096.0, 295.0
    P, D, r = 6.95e9, 2 * 36 * 8 * 128, 4.0
    published = (
        2 * trials * P * L_out
        + 2 * r * trials * L_in * D * L_out
        + r * trials * D * L_out**2
        + 2 * intensity * L_in * D * L_out
        + intensity * trials * D * L_out**2
    )
    got = float(kinetics_cost(model, trials, L_out, L_in, intensity=intensity))
    assert abs(got / published - 1) < 1e-6
    # k x the cost of one sample counts the prompt's KV reads k times: an overcount.
    assert trials * float(kinetics_cost(model, 1, L_out, L_in, intensity=intensity)) > 1.1 * got


def test_candidate_from_model_shares_the_prompt():
    model = ModelCost(N=6.95e9, n_layers=36, d_attn=4096, d_kv=1024)
    law = BetaCoverage(alpha=0.5, beta=2.0, pi0=0.0)
    cand = Candidate.from_model("qwen", model, law, tokens=4096.0, prompt=8192.0)
    for k in (1, 7, 32):
        np.testing.assert_allclose(
            cand.shared_cost + k * cand.cost_per_sample, kinetics_cost(model, k, 4096.0, 8192.0), rtol=1e-12
        )
    budget = cand.shared_cost + 10.5 * cand.cost_per_sample
    result = plan([cand], budget)
    assert result.k == 10  # coverage rises with k: all the budget, prompt paid once
    np.testing.assert_allclose(result.cost, cand.shared_cost + 10 * cand.cost_per_sample, rtol=1e-12)


def test_plan_selection_majority_and_verifier():
    law = BetaCoverage(alpha=0.8, beta=1.5, pi0=0.05)
    cands = [Candidate("m", 1.0, law)]
    p = representative_p(law)
    maj = plan(cands, 50.0, selection="majority")
    # The planner's O(1) incomplete-Beta form agrees with the explicit binomial sum.
    np.testing.assert_allclose(maj.coverage, majority_vote_accuracy(p, [maj.k])[0], rtol=1e-10)
    for k in (1, 2, 7, 50):
        assert majority_vote_accuracy(p, [k])[0] <= maj.coverage + 1e-12
    ver = plan(cands, 50.0, selection="verifier", fpr=0.1, tpr=0.9)
    np.testing.assert_allclose(ver.coverage, verifier_accuracy(p, ver.k, fpr=0.1, tpr=0.9)[0], rtol=1e-12)
    cov = plan(cands, 50.0)
    assert ver.coverage < cov.coverage and maj.coverage < cov.coverage
    with pytest.raises(ValueError, match="selection='vote'"):
        plan(cands, 50.0, selection="vote")
    with pytest.raises(ValueError, match="needs per-problem success probabilities"):
        plan([Candidate("e", 1.0, ExpPowerLaw(neg_a=1.6, b=-0.28))], 50.0, selection="majority")
    with pytest.raises(ValueError, match="fpr"):
        plan(cands, 50.0, selection="verifier", fpr=1.5)


def test_total_cost_rejects_non_finite():
    with pytest.raises(ValueError, match="training=nan"):
        total_cost(3.0, queries=10, training=float("nan"))
    with pytest.raises(ValueError, match="queries=inf"):
        total_cost(3.0, queries=float("inf"))
