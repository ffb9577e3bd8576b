"""Uncertainty on the Chinchilla fit (240 points, Besiroglu et al. 2024): vectorised JAX
bootstrap vs a SciPy refit loop (Epoch AI's protocol), with NUTS beside both, and a
simulation-based calibration check of credible intervals.

Run: python benchmarks/uncertainty_speed.py [--scipy-refits 200] [--calibration 100]
     python benchmarks/uncertainty_speed.py --only-sampler [--repeats 2]

The sampler table (issue 13) times `infer` with its defaults (whole call: point fit,
Laplace mode, leave-largest-out discrepancy, 4 chains x (300 + 1000) whitened NUTS,
diagnostics; with the point fit given; and with `chain_method="vectorized"`, the default
before chains ran side by side on a CPU's threads) beside a plain numpyro model
of the same likelihood (Student-t on log loss, the same priors), 4 vectorised chains x
(1000 warm-up + 1000 draws) from the point fit, with a diagonal and a dense mass matrix,
each timed after `block_until_ready` in the same process, with the minimum bulk/tail ESS
over the sampled quantities and ESS per second. Each is run `--repeats` times and the
fastest is reported (the first call of each includes compilation and is shown apart;
`infer` keeps the compiled sampler of a call for later calls on the same data and settings,
so its warm calls reuse it, and its program cache is cleared before each first call).

The SciPy loop refits `--scipy-refits` resamples (BFGS with numerical gradients on the
Huber objective, delta = 1e-3, from the point fit, as Epoch's notebook) and extrapolates
linearly to 4,000; the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def plain_numpyro(runs, point, *, dense: bool, seed: int = 0):
    """A plain numpyro model of the same posterior (what a user would write), 4 vectorised
    chains x (1000 + 1000) from the point fit. Returns (seconds, min ESS, max r_hat)."""
    import arviz as az
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS, init_to_value

    from scalinglaws.bayes import default_prior
    from scalinglaws.laws import Chinchilla

    template = Chinchilla(**point.coefficients)
    log_n, log_d = jnp.log(jnp.asarray(runs["N"])), jnp.log(jnp.asarray(runs["D"]))
    log_y = jnp.log(jnp.asarray(runs["loss"]))

    priors = {n: default_prior(template, n) for n in ("E", "A", "B", "alpha", "beta")}

    def model():
        c = {n: numpyro.sample(n, prior) for n, prior in priors.items()}
        sigma = numpyro.sample("sigma", dist.HalfNormal(0.1))
        mean = jnp.logaddexp(jnp.log(c["E"]), jnp.logaddexp(jnp.log(c["A"]) - c["alpha"] * log_n,
                                                           jnp.log(c["B"]) - c["beta"] * log_d))
        numpyro.sample("y", dist.StudentT(4.0, mean, sigma), obs=log_y)

    values = dict(point.coefficients, sigma=0.005)
    mcmc = MCMC(NUTS(model, dense_mass=dense, target_accept_prob=0.9, init_strategy=init_to_value(values=values)),
                num_warmup=1000, num_samples=1000, num_chains=4, chain_method="vectorized", progress_bar=False)
    clock = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    seconds = time.perf_counter() - clock
    arrays = {k: np.asarray(v) for k, v in samples.items()}
    ess = min(min(float(az.ess(v, method="bulk")), float(az.ess(v, method="tail"))) for v in arrays.values())
    r_hat = max(float(az.rhat(v)) for v in arrays.values())
    return seconds, ess, r_hat


def run_sampler_table(repeats: int) -> None:
    import warnings

    import jax

    from scalinglaws.precision import in_float64

    runs = sl.load_dataset("chinchilla", query=QUERY)
    point = sl.fit("chinchilla", runs)
    rows = []

    def ours(init=point, **kwargs):
        clock = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = infer("chinchilla", runs, init=init, seed=0, **kwargs)
        jax.block_until_ready(jax.numpy.zeros(1))
        seconds = time.perf_counter() - clock
        s = post.summary()
        ess = min(min(v["ess_bulk"], v["ess_tail"]) for v in s.values())
        return seconds, ess, max(v["r_hat"] for v in s.values()), post.divergences

    def plain(dense):
        with in_float64():  # as infer does: the package leaves the process's x64 flag alone
            return plain_numpyro(runs, point, dense=dense) + (None,)

    cases = [
        ("scalinglaws infer, defaults, whole call (point fit, Laplace, 300 + 1000 whitened NUTS)",
         lambda: ours(init=None)),
        ("scalinglaws infer, defaults, point fit given", lambda: ours()),
        ("scalinglaws infer, point fit given, chain_method='vectorized' (one vmapped program)",
         lambda: ours(chain_method="vectorized")),
        ("scalinglaws infer, 1000 + 1000 (the plain models' length)", lambda: ours(warmup=1000)),
        ("plain numpyro model, dense mass, 1000 + 1000", lambda: plain(dense=True)),
        ("plain numpyro model, diagonal mass, 1000 + 1000", lambda: plain(dense=False)),
    ]
    from scalinglaws.bayes import _programs

    for label, run in cases:
        # The first call compiles: `infer` would otherwise reuse the programs of the row
        # before (same data); warm calls reuse them, as a later call on the same data does.
        _programs.clear()
        times = [run() for _ in range(max(repeats, 0) + 1)]
        first, best = times[0], min(times[1:] or times, key=lambda t: t[0])
        rows.append((label, first[0], *best))
    print("\n## Sampler: 240 Chinchilla points, 4 chains x 1000 draws (infer's default on a CPU: one-chain calls "
          "side by side on threads; numpyro: 4 vectorised chains)\n")
    print("| sampler | first call (s, compiles) | warm call (s) | min ESS (bulk/tail) | ESS / s | max r_hat | divergences |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, first, seconds, ess, r_hat, div in rows:
        print(f"| {label} | {first:.1f} | {seconds:.1f} | {ess:.0f} | {ess / seconds:.0f} | {r_hat:.4f} | "
              f"{'-' if div is None else div} |")


FRESH_INFER = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import scalinglaws as sl
from scalinglaws.bayes import infer
t1 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    post = infer("chinchilla", "chinchilla", query=sys.argv[1])
t2 = time.perf_counter()
s = post.summary()
print(json.dumps({"import_s": t1 - t0, "infer_s": t2 - t1, "divergences": int(post.divergences),
                  "ess": min(min(v["ess_bulk"], v["ess_tail"]) for v in s.values()),
                  "bulk_ess": min(v["ess_bulk"] for v in s.values()),
                  "r_hat": max(v["r_hat"] for v in s.values())}))
"""


def run_fresh_infer(n: int) -> None:
    """Issue 13's sampler figure: the whole `infer("chinchilla", "chinchilla", query=...)`
    call with default settings, each in a fresh process (compilation included, the
    persistent compilation cache off), timed after imports."""
    print(f"\n## infer defaults, whole call, {n} fresh processes (after imports; compilation included)\n")
    print("| run | wall (s) | min ESS (bulk/tail) | min bulk ESS | ESS / s | max r_hat | divergences | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    for i in range(n):
        load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", FRESH_INFER, QUERY], capture_output=True, text=True, env=env,
                             check=False)
        if out.returncode != 0:
            sys.exit(f"fresh infer failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {i + 1} | {r['infer_s']:.2f} | {r['ess']:.0f} | {r['bulk_ess']:.0f} | {r['ess'] / r['infer_s']:.0f} | "
              f"{r['r_hat']:.4f} | {r['divergences']} | {load:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000, help="bootstrap replicates")
    parser.add_argument("--scipy-refits", type=int, default=200, help="SciPy refits timed (extrapolated to --n)")
    parser.add_argument("--calibration", type=int, default=100, help="simulated data sets (0 to skip)")
    parser.add_argument("--only-calibration", action="store_true", help="skip the speed comparison")
    parser.add_argument("--only-sampler", action="store_true", help="only the sampler table")
    parser.add_argument("--repeats", type=int, default=1, help="warm repeats per sampler after the first call (fastest reported; 0: first call only)")
    parser.add_argument("--fresh", type=int, default=3, help="fresh processes timing a whole default infer call (0 to skip)")
    args = parser.parse_args()
    if args.only_sampler:
        run_fresh_infer(args.fresh)
        run_sampler_table(args.repeats)
        return
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
    post = infer("chinchilla", runs, init=point, seed=0)
    t_nuts = time.perf_counter() - clock

    print(f"\n## Speed (240 points, {args.n} bootstrap replicates; includes compilation)\n")
    print("| method | wall time (s) | ratio to JAX bootstrap |")
    print("|---|---:|---:|")
    print(f"| scalinglaws bootstrap, vmapped BFGS, {args.n} refits | {t_jax:.1f} | 1.0 |")
    print(
        f"| SciPy BFGS refit loop, {args.scipy_refits} refits timed ({t_scipy_sub:.1f} s), "
        f"extrapolated to {args.n} | {t_scipy:.1f} | {t_scipy / t_jax:.0f}x slower |"
    )
    print(f"| NUTS (infer defaults), 4 chains x 1000 draws (+300 warm-up) | {t_nuts:.1f} | {t_nuts / t_jax:.1f} |")

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

    # Issue 10: posterior-predictive vs bootstrap-predictive intervals on the fitted points.
    x = {"N": runs["N"], "D": runs["D"]}
    y = runs["loss"]
    print("\n## Predictive intervals on the 240 fitted points: posterior (NUTS) vs bootstrap\n")
    print("| level | median width ratio (posterior / bootstrap, log scale) | coverage: posterior | bootstrap |")
    print("|---:|---:|---:|---:|")
    for level in (0.9, 0.5):
        ours, theirs = post.forecast(x, level=level), boot.forecast(x, level=level)
        ratio = np.median(np.log(ours["hi"] / ours["lo"]) / np.log(theirs["hi"] / theirs["lo"]))
        cov = [np.mean((f["lo"] <= y) & (y <= f["hi"])) for f in (ours, theirs)]
        print(f"| {level} | {ratio:.2f} | {cov[0]:.2f} | {cov[1]:.2f} |")
    print(f"\ndiscrepancy slope (leave-largest-out): {post.discrepancy_slope:.4f} per decade of compute")
    run_fresh_infer(args.fresh)
    run_sampler_table(args.repeats)

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
