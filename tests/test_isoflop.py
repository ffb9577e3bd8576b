"""IsoFLOP analysis (Hoffmann et al. 2022, Approach 2) and allocation exponents of laws (issue 3)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from scalinglaws.allocate import (
    compute_optimal,
    exponents_from_law,
    isoflop_analysis,
    plot_frontier,
    plot_isoflop,
    plot_loss_vs_compute,
)
from scalinglaws.laws import Chinchilla

EPOCH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}
A_TRUE = EPOCH["beta"] / (EPOCH["alpha"] + EPOCH["beta"])


def _synthetic():
    law = Chinchilla(**EPOCH)
    budgets = np.logspace(18, 22, 9)
    rows = []
    for c in budgets:
        n_opt = float(compute_optimal(law, [c]).N[0])
        n = n_opt * np.exp(np.linspace(-1.5, 1.5, 13))
        rows.append({"N": n, "D": c / (6 * n), "C": np.full(13, c)})
    data = {k: np.concatenate([r[k] for r in rows]) for k in ("N", "D", "C")}
    data["loss"] = np.asarray(law.predict(data))
    return data


def test_recovers_chinchilla_exponents():
    res = isoflop_analysis(_synthetic())
    assert res.n_budgets == 9
    assert abs(res.a - A_TRUE) < 5e-3 and abs(res.b - (1 - A_TRUE)) < 5e-3
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)  # D = C / 6N


def test_exponents_from_law():
    out = exponents_from_law(Chinchilla(**EPOCH), np.logspace(18, 26, 5))
    assert out["a"] == pytest.approx(A_TRUE, rel=1e-8)
    assert out["b"] == pytest.approx(1 - A_TRUE, rel=1e-8)
    np.testing.assert_allclose(out["a_local"], A_TRUE, rtol=1e-8)


# Porian et al. 2024 (arXiv:2406.19146): a ~ 0.83-0.88 with Kaplan's FLOP count, long warmup
# and Kaplan's decay; a ~ 0.5 once the discrepancies are fixed (tuned, short warmup, no decay).
@pytest.mark.parametrize(
    "config, low, high",
    [
        ("rw|base|long|kaplan|kaplan|train", 0.80, 0.95),
        ("owt2|base|long|kaplan|kaplan|train", 0.80, 0.95),
        ("rw|tuned|short|const|standard|val", 0.46, 0.55),
        ("owt2|tuned|short|const|standard|val", 0.46, 0.55),
    ],
)
def test_porian_configs(config, low, high):
    res = isoflop_analysis("porian-isoflop", query=f"config == '{config}'")
    assert low < res.a < high
    assert 0 < res.a_se < 0.05
    assert res.b == pytest.approx(1 - res.a, abs=1e-9)


def test_plots():
    data = _synthetic()
    res = isoflop_analysis(data)
    assert plot_isoflop(data, res).get_xscale() == "log"
    assert plot_frontier(res).get_yscale() == "log"
    alloc = compute_optimal(Chinchilla(**EPOCH), np.logspace(18, 24, 7))
    assert len(plot_loss_vs_compute(alloc).lines) == 1
    import matplotlib.pyplot as plt

    plt.close("all")


def test_errors():
    with pytest.raises(ValueError, match="window=2: a parabola needs at least 3 points"):
        isoflop_analysis(_synthetic(), window=2)
    with pytest.raises(ValueError, match="only 1 budget"):
        isoflop_analysis(
            "porian-isoflop", query="C < 2e16 and config == 'rw|tuned|short|const|standard|val'"
        )
    with pytest.raises(ValueError, match="no column 'loss'|requires|loss"):
        isoflop_analysis({"N": [1.0, 2.0, 3.0], "C": [1.0, 1.0, 1.0]})
