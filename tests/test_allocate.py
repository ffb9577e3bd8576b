"""Compute allocation: closed form, gradients, FLOP models, inference-aware, data-constrained,
training recipe and input errors (issue 3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.allocate import (
    HoffmannFlops,
    HyperparameterLaw,
    KaplanFlops,
    chinchilla_closed_form,
    compute_optimal,
    get_flops,
    model_shape,
    non_embedding_params,
    optimal_allocation,
    target_loss_allocation,
)
from scalinglaws.errors import InputError
from scalinglaws.laws import Chinchilla, PowerLaw

# Epoch AI's refit of Hoffmann et al. 2022 on 240 points (Besiroglu et al. 2024, arXiv:2404.10102).
EPOCH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}


@pytest.fixture(scope="module")
def law():
    return Chinchilla(**EPOCH)


@pytest.fixture(scope="module")
def datablations_law():
    # Muennighoff et al. 2023's law fitted to their 182 runs, beta tied to alpha as in the paper.
    return sl.fit("data-constrained", "datablations", tie={"beta": "alpha"}).law


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) / np.asarray(b) - 1))


# ---- Chinchilla closed form ---------------------------------------------------------------


def test_closed_form_100_budgets_one_call(law):
    budgets = np.logspace(18, 26, 100)
    alloc = compute_optimal(law, budgets)
    n, d = chinchilla_closed_form(law, budgets)
    # Bisection then Newton (optimistix) reach float64 precision: measured 3.7e-15.
    assert _rel(alloc.N, n) < 1e-13
    assert _rel(alloc.D, d) < 1e-13
    assert _rel(alloc.loss, law.predict({"N": n, "D": d})) < 1e-12
    np.testing.assert_allclose(alloc.tokens_per_param, alloc.D / alloc.N)
    np.testing.assert_allclose(6 * alloc.N * alloc.D, budgets, rtol=1e-12)
    rows = alloc.to_rows()
    assert len(rows) == 100 and set(rows[0]) == {"C", "N", "D", "tokens_per_param", "loss"}


def test_extreme_budgets(law):
    budgets = np.array([1e15, 1e30, 1e100, 1e200, 1e300])
    alloc = compute_optimal(law, budgets)
    # Hoffmann et al. 2022, eq. 4, in logs (the closed form itself overflows nothing here).
    a, b = EPOCH["alpha"], EPOCH["beta"]
    log_g = (np.log(a * EPOCH["A"]) - np.log(b * EPOCH["B"])) / (a + b)
    log_n = log_g + b / (a + b) * np.log(budgets / 6)
    np.testing.assert_allclose(np.log(alloc.N), log_n, rtol=1e-13)
    np.testing.assert_allclose(np.log(6 * alloc.N) + np.log(alloc.D), np.log(budgets), rtol=1e-13)
    assert np.isfinite(alloc.loss).all() and (alloc.loss >= EPOCH["E"]).all()


def test_budget_beyond_float64_curvature_says_why(law):
    with pytest.raises(InputError, match=r"budget=1e\+305: beyond float64's range.*up to about 1e300"):
        compute_optimal(law, [1e21, 1e305])


def test_solver_reports_convergence_per_budget(law):
    log_c = jnp.log(jnp.array([1e19, 1e23, 1e27]))
    out = jax.jit(jax.vmap(optimal_allocation, in_axes=(None, 0)))(law, log_c)
    assert bool(out.converged.all()) and bool(out.bracketed.all()) and bool(out.interior.all())
    # No optimum along the constraint (beta = 0: data never helps): flagged, not raised.
    flat = jax.jit(jax.vmap(optimal_allocation, in_axes=(None, 0)))(law.replace(beta=0.0), log_c)
    assert not bool(flat.interior.any()) and not bool(flat.bracketed.any())


@pytest.mark.parametrize(
    ("bad", "name"), [({"E": -5.0}, "E"), ({"beta": float("nan")}, "beta"), ({"A": float("inf")}, "A")]
)
def test_bad_coefficient_rejected_before_solving(law, bad, name):
    with pytest.raises(InputError, match=rf"\b{name}\b") as info:
        compute_optimal(law.replace(**bad), [1e21])
    assert "interior optimum" not in str(info.value)
    with pytest.raises(InputError, match=rf"\b{name}\b"):
        target_loss_allocation(law.replace(**bad), 2.3)


def test_gradients_match_closed_form(law):
    log_c = jnp.log(jnp.array([1e19, 1e22, 1e25]))

    @jax.jit
    def grads(law):
        solver = jax.vmap(jax.grad(lambda l, c: optimal_allocation(l, c).log_N), in_axes=(None, 0))(
            law, log_c
        )
        exact = jax.vmap(
            jax.grad(lambda l, c: jnp.log(chinchilla_closed_form(l, jnp.exp(c))[0])),
            in_axes=(None, 0),
        )(law, log_c)
        slope = jax.vmap(jax.grad(lambda c: optimal_allocation(law, c).log_N))(log_c)
        return solver, exact, slope

    solver, exact, slope = grads(law)
    for name in ("A", "B", "alpha", "beta"):
        np.testing.assert_allclose(getattr(solver, name), getattr(exact, name), rtol=1e-6)
    assert abs(float(solver.E[0])) < 1e-9  # E does not move the optimum
    # d log N* / d log C = beta / (alpha + beta) (Hoffmann et al. 2022, eq. 4)
    np.testing.assert_allclose(slope, EPOCH["beta"] / (EPOCH["alpha"] + EPOCH["beta"]), rtol=1e-8)


def test_vmap_over_batched_law(law):
    batch = law.replace(
        alpha=jnp.array([0.30, 0.35, 0.40]),
        beta=jnp.array([0.40, 0.35, 0.30]),
        E=jnp.full(3, 1.8),
        A=jnp.full(3, 477.8),
        B=jnp.full(3, 2143.9),
    )
    out = jax.jit(jax.vmap(lambda l: optimal_allocation(l, jnp.log(1e23))))(batch)
    n, _ = jax.vmap(lambda l: chinchilla_closed_form(l, 1e23))(batch)
    assert _rel(jnp.exp(out.log_N), n) < 1e-6
    assert bool(out.interior.all())


def test_vmap_over_batched_law_any_flops_and_unique_data(datablations_law):
    # The documented recipe for posterior draws: law axis inside, budgets outside.
    batch = jax.tree.map(lambda v: jnp.stack([v, v * 1.02, v * 0.98]), datablations_law)
    log_c = jnp.log(jnp.array([1e21, 1e22]))
    log_u = jnp.log(jnp.array([1e10, 3e10]))
    flops = KaplanFlops()
    per_draw = jax.vmap(optimal_allocation, in_axes=(0, None, None, None, None))
    grid = jax.jit(jax.vmap(per_draw, in_axes=(None, 0, None, None, 0)), static_argnums=2)
    out = grid(batch, log_c, flops, -jnp.inf, log_u)
    assert out.log_N.shape == (2, 3) and bool(out.interior.all())
    for j in range(3):
        one = jax.tree.map(lambda v: v[j], batch)
        ref = compute_optimal(
            one, [1e21, 1e22], flops=flops, unique_tokens=[1e10, 3e10], params="non-embedding"
        )
        np.testing.assert_allclose(np.exp(out.log_N[:, j]), ref.N, rtol=1e-10)


# ---- FLOP models ------------------------------------------------------------------------


def test_flop_models_meet_budget_and_beat_neighbours(law):
    budgets = np.array([1e19, 1e22, 1e25])
    for name in ("kaplan", "hoffmann"):
        fl = get_flops(name)
        params = "non-embedding" if name == "kaplan" else "total"
        alloc = compute_optimal(law, budgets, flops=name, params=params)
        np.testing.assert_allclose(np.asarray(fl(alloc.N, alloc.D)), budgets, rtol=1e-10)
        assert (
            np.asarray(fl.per_token(alloc.N)) > 6 * alloc.N
        ).all()  # attention/embeddings cost extra
        # brute force along the constraint
        for c, n, loss in zip(budgets, alloc.N, alloc.loss):
            grid = n * np.exp(np.linspace(-0.5, 0.5, 2001))
            values = np.asarray(law.predict({"N": grid, "D": fl.tokens(grid, c)}))
            assert loss <= values.min() * (1 + 1e-12)
            assert abs(np.log(grid[np.argmin(values)] / n)) < 1e-3


def test_kaplan_attention_term_and_callable(law):
    fl = KaplanFlops(n_ctx=2048.0, aspect_ratio=128.0)
    N = 12 * 24 * 1536.0**2  # 24 layers, d_model = 1536 = 64 x 24 -> use r = 64 below
    fl64 = KaplanFlops(n_ctx=2048.0, aspect_ratio=64.0)
    np.testing.assert_allclose(float(fl64.per_token(N)), 6 * N + 6 * 24 * 2048 * 1536, rtol=1e-12)
    assert float(fl.per_token(N)) > 6 * N
    # a user callable reproducing 6N gives the 6ND optimum
    a = compute_optimal(law, [1e21, 1e23], flops=lambda N: 6.0 * N)
    b = compute_optimal(law, [1e21, 1e23])
    np.testing.assert_allclose(a.N, b.N, rtol=1e-10)


def test_hoffmann_appendix_f_versus_table_a4():
    # Hoffmann et al. 2022, 73M model: d = 640, 10 layers of 10 heads x 64, S = 2048, V = 32k.
    V, d, L, S, H = 32000.0, 640.0, 10.0, 2048.0, 10.0
    fl = HoffmannFlops(seq_len=S, vocab=V, aspect_ratio=d / L, head_dim=d / H)
    n_total = 12 * L * d**2 + V * d
    per_token = float(fl.per_token(n_total))
    # Appendix F written out term by term (forward; backward = 2 x forward).
    layer = 2 * 3 * d * d + 2 * S * d + 3 * H * S + 2 * S * d + 2 * d * d + 2 * 2 * d * 4 * d
    forward = 2 * V * d + L * layer + 2 * d * V
    np.testing.assert_allclose(per_token, 3 * forward, rtol=1e-9)
    np.testing.assert_allclose(per_token / (6 * 73e6), 1.598, atol=1e-3)  # the formula: 1.60x
    # Table A4's 1.03x is matched only without the embedding and logit terms.
    np.testing.assert_allclose(3 * L * layer / (6 * 73e6), 1.036, atol=1e-3)


def test_hoffmann_shape_and_model_shape():
    fl = HoffmannFlops()
    layers, d = fl.shape(jnp.log(70e9))
    np.testing.assert_allclose(12 * layers * d**2 + fl.vocab * d, 70e9, rtol=1e-10)
    shape = model_shape(70e9, vocab=32000)
    assert 60 <= shape["n_layer"] <= 90 and shape["d_model"] % 128 == 0
    assert abs(shape["params"] / 70e9 - 1) < 0.15
    with pytest.raises(ValueError, match="must be positive and finite"):
        model_shape(-1)


# ---- inference-aware (Sardana et al. 2024) ------------------------------------------------


def test_inference_aware_constraint_bruteforce_and_monotone(law):
    t_inf = np.array([0.0, 1e10, 1e11, 1e12, 3e12, 1e13])
    budgets = np.full(len(t_inf), 1e22)
    alloc = compute_optimal(law, budgets, inference_tokens=t_inf)
    total = 6 * alloc.N * alloc.D + 2 * alloc.N * t_inf
    assert _rel(total, budgets) < 1e-9
    np.testing.assert_allclose(alloc.inference_flops, 2 * alloc.N * t_inf, rtol=1e-12)
    assert (np.diff(alloc.N) < 0).all()  # more inference -> smaller model ...
    assert (np.diff(alloc.tokens_per_param) > 0).all()  # ... trained longer
    for c, t, n, loss in zip(budgets, t_inf, alloc.N, alloc.loss):
        top = np.log(n) + 1 if t == 0 else min(np.log(n) + 1, np.log(c / (2 * t)) - 1e-9)
        grid = np.exp(np.linspace(np.log(n) - 1, top, 200001))
        d = (c - 2 * grid * t) / (6 * grid)
        values = np.asarray(law.predict({"N": grid, "D": d}))
        assert loss <= values.min() * (1 + 1e-12)
        assert abs(np.log(grid[np.argmin(values)] / n)) < 2e-4


def test_target_loss_minimises_total_cost(law):
    t_inf = 1e12
    plan = target_loss_allocation(law, [2.3, 2.1], inference_tokens=t_inf)
    np.testing.assert_allclose(plan.loss, [2.3, 2.1], rtol=1e-9)
    np.testing.assert_allclose(6 * plan.N * plan.D + 2 * plan.N * t_inf, plan.C, rtol=1e-9)
    for target, n, cost in zip([2.3, 2.1], plan.N, plan.C):
        # along the loss contour (D solved from L(N, D) = target) the plan is the cheapest
        grid = n * np.exp(np.linspace(-0.3, 0.3, 601))
        rest = target - EPOCH["E"] - EPOCH["A"] / grid ** EPOCH["alpha"]
        d = (EPOCH["B"] / rest) ** (1 / EPOCH["beta"])
        costs = 6 * grid * d + 2 * grid * t_inf
        assert cost <= costs.min() * (1 + 1e-9)
        assert abs(np.log(grid[np.argmin(costs)] / n)) < 2e-3
    # the same plan is loss-optimal for its own total cost
    again = compute_optimal(law, plan.C, inference_tokens=t_inf)
    np.testing.assert_allclose(again.N, plan.N, rtol=1e-6)


# ---- data-constrained (Muennighoff et al. 2023) --------------------------------------------


def test_data_constrained_matches_grid_search(datablations_law):
    law = datablations_law
    budgets = np.array([1e20, 1e21, 1e22, 1e22])
    unique = np.array([1e9, 1e10, 1e10, 1e11])
    alloc = compute_optimal(law, budgets, unique_tokens=unique)
    np.testing.assert_allclose(alloc.epochs, alloc.D / unique)
    for c, u, n, d, loss in zip(budgets, unique, alloc.N, alloc.D, alloc.loss):
        log_n = np.log(n) + np.linspace(-1.5, 1.5, 601)
        log_d = np.log(d) + np.linspace(-1.5, 1.5, 601)
        NN, DD = np.meshgrid(np.exp(log_n), np.exp(log_d))
        values = np.asarray(law.predict({"N": NN, "D": DD, "U": u}))
        values = np.where(6 * NN * DD <= c * (1 + 1e-12), values, np.inf)
        i = np.unravel_index(np.argmin(values), values.shape)
        assert loss <= values.min() * (1 + 1e-9)
        assert abs(np.log(NN[i] / n)) < 0.02 and abs(np.log(DD[i] / d)) < 0.02


def test_data_constrained_epochs_grow_as_unique_data_shrinks(datablations_law):
    law = datablations_law
    unique = np.array([1e13, 1e11, 3e10, 1e10, 3e9])
    alloc = compute_optimal(law, np.full(len(unique), 1e22), unique_tokens=unique)
    assert (np.diff(alloc.epochs) > 0).all()
    assert (np.diff(alloc.D) < 0).all() and (np.diff(alloc.loss) > 0).all()
    assert alloc.epochs[0] < 1  # plenty of data: no repetition


# ---- training recipe (Li et al. 2025) -----------------------------------------------------


def test_recipe_li_et_al(law):
    # Li et al. 2025's law takes non-embedding N: a law of total N is converted first.
    alloc = compute_optimal(law, [1e21, 1e23], recipe=True)
    n_ne = non_embedding_params(alloc.N)
    np.testing.assert_allclose(alloc.learning_rate, 1.79 * n_ne**-0.713 * alloc.D**0.307, rtol=1e-12)
    np.testing.assert_allclose(alloc.batch_size, 0.58 * alloc.D**0.571, rtol=1e-12)
    assert {"learning_rate", "batch_size"} <= set(alloc.to_rows()[0])
    # A law of non-embedding N is used as is.
    same = compute_optimal(law, [1e21, 1e23], recipe=True, params="non-embedding")
    np.testing.assert_allclose(same.learning_rate, 1.79 * same.N**-0.713 * same.D**0.307, rtol=1e-12)
    assert (alloc.learning_rate > same.learning_rate).all()  # fewer parameters, larger rate


def test_non_embedding_params_removes_the_embedding_matrix():
    # 12 L d^2 + V d with d = 128 L (HoffmannFlops' shape): for L = 10, d = 1280.
    layers, d, vocab = 10.0, 1280.0, 32000.0
    body = 12 * layers * d**2
    np.testing.assert_allclose(non_embedding_params(body + vocab * d), body, rtol=1e-10)


def test_mixed_parameter_conventions_warn(law):
    with pytest.warns(UserWarning, match="kaplan.*non-embedding.*mixed"):
        compute_optimal(law, [1e21], flops="kaplan")
    with pytest.warns(UserWarning, match="hoffmann.*mixed"):
        compute_optimal(law, [1e21], flops="hoffmann", params="non-embedding")
    with pytest.raises(InputError, match="params='all'"):
        compute_optimal(law, [1e21], params="all")


def test_recipe_fit_recovers_constants():
    rng = np.random.default_rng(0)
    N, D = 10 ** rng.uniform(7, 10, 40), 10 ** rng.uniform(9, 12, 40)
    truth = HyperparameterLaw(2.5, -0.6, 0.25, 0.4, 0.6)
    runs = {
        "N": N,
        "D": D,
        "loss": np.ones(40),
        "learning_rate": truth.learning_rate(N, D),
        "batch_size": truth.batch_size(N, D),
    }
    fitted = HyperparameterLaw.fit(runs)
    np.testing.assert_allclose(
        [
            fitted.lr_coef,
            fitted.lr_n_exponent,
            fitted.lr_d_exponent,
            fitted.batch_coef,
            fitted.batch_d_exponent,
        ],
        [2.5, -0.6, 0.25, 0.4, 0.6],
        rtol=1e-8,
    )
    alloc = compute_optimal(Chinchilla(**EPOCH), [1e21], recipe=fitted, params="non-embedding")
    np.testing.assert_allclose(
        alloc.learning_rate, truth.learning_rate(alloc.N, alloc.D), rtol=1e-10
    )


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1e21, float("nan"), float("inf")])
def test_bad_budget(law, bad):
    with pytest.raises(ValueError, match="budget=.*must be positive and finite"):
        compute_optimal(law, [1e21, bad])


def test_budget_too_small(law):
    with pytest.raises(ValueError, match="too small for any model"):
        compute_optimal(law, [5.0])
    with pytest.raises(ValueError, match="too small for any model"):
        compute_optimal(law, [100.0])  # the optimum would be below one parameter
    with pytest.raises(ValueError, match="too small for any model"):
        compute_optimal(law, [1e12], inference_tokens=1e12)


def test_target_below_irreducible(law):
    with pytest.raises(ValueError, match="irreducible loss 1.8172"):
        target_loss_allocation(law, 1.8, inference_tokens=1e12)
    with pytest.raises(ValueError, match="not reached within max_budget"):
        target_loss_allocation(law, 1.8173, max_budget=1e30)


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_bad_unique_tokens(datablations_law, bad):
    with pytest.raises(ValueError, match="unique_tokens=.*must be positive and finite"):
        compute_optimal(datablations_law, [1e21], unique_tokens=bad)


def test_unique_tokens_law_mismatch(law, datablations_law):
    with pytest.raises(ValueError, match="does not model repeated data"):
        compute_optimal(law, [1e21], unique_tokens=1e10)
    with pytest.raises(ValueError, match="reads U"):
        compute_optimal(datablations_law, [1e21])


def test_law_without_n_or_d():
    with pytest.raises(ValueError, match="needs a law of \\['N', 'D'\\]"):
        compute_optimal(PowerLaw(E=1.7, A=100.0, alpha=0.05, variable="C"), [1e21])
    with pytest.raises(ValueError, match="FLOP model 'kaplan' needs"):
        compute_optimal(PowerLaw(E=1.7, A=100.0, alpha=0.3, variable="N"), [1e21], flops="kaplan")


def test_other_bad_inputs(law):
    with pytest.raises(ValueError, match="unknown FLOP model"):
        compute_optimal(law, [1e21], flops="8nd")
    with pytest.raises(ValueError, match="inference_tokens=-1.0: must be non-negative"):
        compute_optimal(law, [1e21], inference_tokens=-1.0)
    with pytest.raises(ValueError, match="the law is batched"):
        compute_optimal(law.replace(E=jnp.array([1.8, 1.9])), [1e21])
    with pytest.raises(TypeError, match="expected a fitted law"):
        compute_optimal("chinchilla", [1e21])
    with pytest.raises(TypeError, match="recipe=...: expected True"):
        compute_optimal(law, [1e21], recipe="li")
    with pytest.raises(ValueError, match="no interior optimum"):
        compute_optimal(law.replace(beta=0.0), [1e21])  # loss never improves with D: all parameters


# ---- command line: range, coefficients, conventions ----------------------------------------


def _allocate_cli(*extra):
    from click.testing import CliRunner

    from scalinglaws.cli import main

    coefs = [f"--coef={k}={v}" for k, v in EPOCH.items()]
    return CliRunner().invoke(main, ["allocate", "--law", "chinchilla", *coefs, *map(str, extra)])


def test_cli_budget_1e300_and_bad_coefficients():
    import json

    result = _allocate_cli("--budget", "1e300", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["allocations"][0]
    a, b = EPOCH["alpha"], EPOCH["beta"]
    log_n = (np.log(a * EPOCH["A"]) - np.log(b * EPOCH["B"])) / (a + b) + b / (a + b) * np.log(1e300 / 6)
    assert np.log(row["N"]) == pytest.approx(log_n, rel=1e-12)
    for bad, name in (("E=-5", "E"), ("beta=nan", "beta")):
        from click.testing import CliRunner

        from scalinglaws.cli import main

        coefs = [f"--coef={k}={v}" for k, v in EPOCH.items() if k != name] + [f"--coef={bad}"]
        result = CliRunner().invoke(main, ["allocate", "--law", "chinchilla", *coefs, "--budget", "1e21"])
        assert result.exit_code in (1, 2) and name in result.output, result.output
        assert "interior optimum" not in result.output


def test_cli_params_convention():
    result = _allocate_cli("--budget", "1e21", "--flops", "kaplan", "--recipe")
    assert result.exit_code == 0, result.output
    assert "mixed" in result.output and "--params non-embedding" in result.output
    result = _allocate_cli("--budget", "1e21", "--flops", "kaplan", "--recipe", "--params", "non-embedding")
    assert result.exit_code == 0 and "mixed" not in result.output, result.output


def test_float32_caller_gets_float64_results(law):
    # The package does not switch x64 on globally; compute_optimal scopes it and returns NumPy.
    want = compute_optimal(law, [1e21, 1e23])
    with jax.enable_x64(False):
        got = compute_optimal(Chinchilla(**EPOCH), [1e21, 1e23])
        assert not jax.config.jax_enable_x64
    assert isinstance(got.N, np.ndarray) and got.N.dtype == np.float64
    np.testing.assert_allclose(got.N, want.N, rtol=1e-13)
