"""Uncertainty on the Chinchilla fit (240 points, Besiroglu et al. 2024): vectorised JAX
bootstrap vs a SciPy refit loop (Epoch AI's protocol), with NUTS beside both, and a
simulation-based calibration check of credible intervals.

Run: python benchmarks/uncertainty_speed.py [--scipy-refits 200] [--calibration 100]

The SciPy loop refits `--scipy-refits` resamples (BFGS with numerical gradients on the
Huber objective, delta = 1e-3, from the point fit, as Epoch's notebook) and extrapolates
linearly to 4,000; the table says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

import scalinglaws as sl
from scalinglaws.bayes import bootstrap, calibration, infer

QUERY = "epoch_default_included == 1"
EPOCH_SE = {"E": 0.0257, "alpha": 0.0154, "beta": 0.0206}
EPOCH_CI = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


def scipy_refits(runs, start, n_refits: int, seed: int) -> tuple[float, np.ndarray]:
    log_n, log_d, log_l = np.log(runs["N"]), np.log(runs["D"]), np.log(runs["loss"])
    x0 = np.array([np.log(start["A"]), np.log(start["B"]), np.log(start["E"]), start["alpha"], start["beta"]])

    def objective(p, w):
        a, b, e, alpha, beta = p
        pred = logsumexp([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)], axis=0)
        return np.sum(w * huber(1e-3, pred - log_l))

    rng = np.random.default_rng(seed)
    clock = time.perf_counter()
    out = []
    for _ in range(n_refits):
        w = rng.multinomial(len(log_l), np.full(len(log_l), 1 / len(log_l))).astype(float)
        out.append(minimize(objective, x0, args=(w,), method="BFGS").x)
    return time.perf_counter() - clock, np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000, help="bootstrap replicates")
    parser.add_argument("--scipy-refits", type=int, default=200, help="SciPy refits timed (extrapolated to --n)")
    parser.add_argument("--calibration", type=int, default=100, help="simulated data sets (0 to skip)")
    parser.add_argument("--only-calibration", action="store_true", help="skip the speed comparison")
    args = parser.parse_args()
    if args.only_calibration:
        run_calibration(args.calibration)
        return

    runs = sl.load_dataset("chinchilla", query=QUERY)
    point = sl.fit("chinchilla", runs)
    print(f"point fit: {point.coefficients}")

    clock = time.perf_counter()
    boot = bootstrap("chinchilla", runs, n=args.n, seed=0, init=point)
    t_jax = time.perf_counter() - clock
    t_scipy_sub, scipy_values = scipy_refits(runs, point.coefficients, args.scipy_refits, seed=0)
    t_scipy = t_scipy_sub * args.n / args.scipy_refits

    clock = time.perf_counter()
    post = infer("chinchilla", runs, init=point, chains=4, warmup=1000, samples=1000, seed=0)
    t_nuts = time.perf_counter() - clock

    print(f"\n## Speed (240 points, {args.n} bootstrap replicates; includes compilation)\n")
    print("| method | wall time (s) | ratio to JAX bootstrap |")
    print("|---|---:|---:|")
    print(f"| scalinglaws bootstrap, vmapped BFGS, {args.n} refits | {t_jax:.1f} | 1.0 |")
    print(
        f"| SciPy BFGS refit loop, {args.scipy_refits} refits timed ({t_scipy_sub:.1f} s), "
        f"extrapolated to {args.n} | {t_scipy:.1f} | {t_scipy / t_jax:.0f}x slower |"
    )
    print(f"| NUTS, 4 chains x 1000 draws (+1000 warmup) | {t_nuts:.1f} | {t_nuts / t_jax:.1f} |")

    print("\n## Bootstrap standard errors vs Epoch AI (Besiroglu et al. 2024)\n")
    print("| coefficient | scalinglaws SE | Epoch SE | ratio | SciPy subset SE |")
    print("|---|---:|---:|---:|---:|")
    scipy_se = {"E": np.std(np.exp(scipy_values[:, 2]), ddof=1), "alpha": np.std(scipy_values[:, 3], ddof=1),
                "beta": np.std(scipy_values[:, 4], ddof=1)}
    for name, ref in EPOCH_SE.items():
        print(f"| {name} | {boot.se[name]:.4f} | {ref:.4f} | {boot.se[name] / ref:.2f} | {scipy_se[name]:.4f} |")

    print("\n## NUTS posterior (4 x 1000, Student-t likelihood) vs Epoch's bootstrap 95% intervals\n")
    print("| coefficient | median | 90% credible interval | Epoch 95% bootstrap | inside | r_hat | ESS |")
    print("|---|---:|---|---|---|---:|---:|")
    summary = post.summary()
    for name, (low, high) in EPOCH_CI.items():
        s = summary[name]
        print(
            f"| {name} | {s['median']:.4f} | [{s['q05']:.4f}, {s['q95']:.4f}] | [{low}, {high}] | "
            f"{'yes' if low < s['median'] < high else 'NO'} | {s['r_hat']:.3f} | {s['ess']:.0f} |"
        )
    print(f"\ndivergences: {post.divergences}; max r_hat: {max(s['r_hat'] for s in summary.values()):.4f}")

    if args.calibration:
        run_calibration(args.calibration)


def run_calibration(n_datasets: int) -> None:
    """Coverage of nominal 90% intervals on simulated data (Student-t noise, the model's own
    likelihood): the Chinchilla law at Epoch's fit on the 240 (N, D) points (sigma = 0.005,
    as the posterior finds), and a power law in N (20 points, sigma = 0.01)."""
    from scalinglaws.laws import Chinchilla, PowerLaw

    runs = sl.load_dataset("chinchilla", query=QUERY)
    cases = [
        ("Chinchilla, 240 points", Chinchilla(E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672),
         {"N": runs["N"], "D": runs["D"]}, 0.005, ("laplace",)),
        ("PowerLaw(N), 20 points", PowerLaw(E=1.8, A=400.0, alpha=0.3, variable="N"),
         {"N": np.geomspace(1e7, 1e10, 20)}, 0.01, ("laplace", "nuts")),
    ]
    print(f"\n## Calibration: coverage of nominal 90% intervals, {n_datasets} simulated data sets each\n")
    print("| truth | method | coverage per coefficient | time (s) |")
    print("|---|---|---|---:|")
    for label, truth, x, sigma, methods in cases:
        for method in methods:
            kwargs = {"chains": 1, "samples": 1000} if method == "laplace" else {"chains": 2, "warmup": 400, "samples": 400}
            clock = time.perf_counter()
            result = calibration(truth, x, sigma=sigma, n_datasets=n_datasets, method=method, seed=0, **kwargs)
            cov = ", ".join(f"{n} {v:.2f}" for n, v in result["coverage"].items())
            extra = f" ({result['divergences']} divergences)" if method == "nuts" else ""
            print(f"| {label} | {method}{extra} | {cov} | {time.perf_counter() - clock:.0f} |")


if __name__ == "__main__":
    main()
