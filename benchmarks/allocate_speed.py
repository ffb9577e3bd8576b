"""Speed of the vectorised allocator against a SciPy loop of constrained minimisations.

10,000 FLOP budgets from 1e18 to 1e26, Chinchilla law (Epoch AI's refit, Besiroglu et al.
2024) with C = 6ND. Ours: `compute_optimal`, one compiled vectorised call (first call, which
compiles, reported separately from warm calls). Peer: `scipy.optimize.minimize(method="SLSQP")`
per budget over (log N, log D) with the equality constraint log 6 + log N + log D = log C,
started from the 20-tokens-per-parameter rule. Both are checked against the closed form.

Run: python benchmarks/allocate_speed.py [--n 10000] [--n-scipy 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize

from scalinglaws.allocate import chinchilla_closed_form, compute_optimal
from scalinglaws.laws import Chinchilla
from scalinglaws.precision import in_float64

EPOCH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}


def scipy_allocate(budgets: np.ndarray) -> np.ndarray:
    E, A, B, a, b = (EPOCH[k] for k in ("E", "A", "B", "alpha", "beta"))

    def loss(x):
        return E + A * np.exp(-a * x[0]) + B * np.exp(-b * x[1])

    def grad(x):
        return np.array([-a * A * np.exp(-a * x[0]), -b * B * np.exp(-b * x[1])])

    out = np.empty(len(budgets))
    for i, c in enumerate(budgets):
        log_c6 = np.log(c / 6.0)
        n0 = np.sqrt(c / (6 * 20.0))
        x0 = np.array([np.log(n0), log_c6 - np.log(n0)])
        cons = {
            "type": "eq",
            "fun": lambda x, k=log_c6: x[0] + x[1] - k,
            "jac": lambda x: np.array([1.0, 1.0]),
        }
        res = minimize(
            loss,
            x0,
            jac=grad,
            constraints=[cons],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 200},
        )
        out[i] = np.exp(res.x[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument(
        "--n-scipy", type=int, default=None, help="budgets for SciPy (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    law = Chinchilla(**EPOCH)
    budgets = np.logspace(18, 26, args.n)
    exact_n = np.asarray(chinchilla_closed_form(law, budgets)[0])

    clock = time.perf_counter()
    alloc = compute_optimal(law, budgets)
    first = time.perf_counter() - clock
    warm = []
    for _ in range(args.repeats):
        clock = time.perf_counter()
        alloc = compute_optimal(law, budgets)  # returns NumPy arrays: already synchronised
        warm.append(time.perf_counter() - clock)
    ours = min(warm)
    err_ours = np.max(np.abs(alloc.N / exact_n - 1))

    m = args.n_scipy or args.n
    clock = time.perf_counter()
    n_scipy = scipy_allocate(budgets[:m])
    scipy_time = (time.perf_counter() - clock) * args.n / m
    err_scipy = np.max(np.abs(n_scipy / exact_n[:m] - 1))

    print(f"{args.n} budgets, Chinchilla law, C = 6ND")
    print(f"{'method':<44} {'seconds':>10} {'max rel err N*':>15}")
    print(f"{'scalinglaws compute_optimal, first (compile)':<44} {first:>10.3f} {err_ours:>15.2e}")
    print(
        f"{'scalinglaws compute_optimal, warm (best of ' + str(args.repeats) + ')':<44} {ours:>10.3f} {err_ours:>15.2e}"
    )
    label = "scipy SLSQP loop" + ("" if m == args.n else f" ({m} timed, scaled)")
    print(f"{label:<44} {scipy_time:>10.3f} {err_scipy:>15.2e}")
    print(
        f"ratio scipy / ours (warm): {scipy_time / ours:.1f}x;  scipy / ours (incl. compile): {scipy_time / first:.1f}x"
    )


if __name__ == "__main__":
    with in_float64():  # the closed form below is plain JAX: float64 is the caller's choice
        main()
