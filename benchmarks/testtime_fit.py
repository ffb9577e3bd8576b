"""Benchmark: beta-binomial fit (optimistix BFGS, vmapped starts) vs SciPy L-BFGS-B on the
same likelihood, and pass@k (log1p sums over min(k, c) terms) vs the per-problem NumPy product of
Chen et al. 2021 (Figure 3). Run: python benchmarks/testtime_fit.py (needs scipy)."""

import time

import numpy as np
import scipy.optimize
import scipy.special

import scalinglaws  # noqa: F401
from scalinglaws.testtime import fit_beta, pass_at_k


def scipy_fit(n, c):
    pairs, counts = np.unique(np.stack([n, c], 1), axis=0, return_counts=True)
    nn, cc = pairs[:, 0].astype(float), pairs[:, 1].astype(float)

    def nll(u):
        a, b = np.exp(u)
        return -np.sum(
            counts * (scipy.special.betaln(cc + a, nn - cc + b) - scipy.special.betaln(a, b))
        )

    best = min(
        (
            scipy.optimize.minimize(nll, [np.log(a), np.log(b)], method="L-BFGS-B")
            for a in (0.1, 0.5, 2.0)
            for b in (0.5, 5.0, 50.0)
        ),
        key=lambda r: r.fun,
    )
    return np.exp(best.x)


def chen_reference(n, c, k):
    return np.array(
        [
            1.0 if ni - ci < k else 1.0 - np.prod(1.0 - k / np.arange(ni - ci + 1, ni + 1))
            for ni, ci in zip(n, c)
        ]
    )


def clock(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main():
    rng = np.random.default_rng(0)
    rows = []
    for n_problems, n_samples in ((2000, 100), (500, 1000)):
        p = rng.beta(0.1, 1.0, n_problems)
        c = rng.binomial(n_samples, p)
        attempts = {"problem": np.arange(n_problems), "n": np.full(n_problems, n_samples), "c": c}
        fit, first = clock(fit_beta, attempts)
        _, warm = clock(fit_beta, attempts)
        ref, peer = clock(scipy_fit, attempts["n"], c)
        rows.append(
            (
                f"fit_beta {n_problems}x{n_samples}",
                first,
                warm,
                peer,
                f"alpha {float(fit.law.alpha):.5f} vs {ref[0]:.5f}",
            )
        )
    n = np.full(2000, 10_000)
    c = rng.binomial(10_000, rng.beta(0.1, 1.0, 2000))
    ours, first = clock(pass_at_k, n, c, 1000)
    _, warm = clock(pass_at_k, n, c, 1000)
    ref, peer = clock(chen_reference, n, c, 1000)
    rows.append(
        ("pass@1000, 2000 x n=10^4", first, warm, peer, f"max diff {np.abs(ours - ref).max():.1e}")
    )
    print(f"{'task':<28} {'first s':>8} {'warm s':>8} {'peer s':>8} {'peer/warm':>9}  check")
    for name, first, warm, peer, note in rows:
        print(f"{name:<28} {first:>8.3f} {warm:>8.4f} {peer:>8.4f} {peer / warm:>9.1f}  {note}")


if __name__ == "__main__":
    main()
