"""Built-in datasets: public measurements from published studies, shipped with attribution.

Each CSV here was copied from the published source named in `ATTRIBUTION.md` (beside this
file); nothing is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    filename: str
    rows: int
    description: str
    citation: str
    # What the table is, hence its loader: "runs" (`load_runs`), "attempts"
    # (`testtime.load_attempts`) or "models" (`testtime.load_candidates`).
    kind: str = "runs"


_DATASETS = {
    info.name: info
    for info in [
        DatasetInfo(
            "chinchilla",
            "chinchilla.csv",
            245,
            "Hoffmann et al. 2022 Fig. 4 training runs as digitised by Epoch AI: N, D = C/6N, C, "
            "loss; epoch_default_included marks the 240 points Epoch fit.",
            "Hoffmann et al. 2022 (arXiv:2203.15556); Besiroglu et al. 2024 (arXiv:2404.10102), "
            "github.com/epoch-research/analyzing-chinchilla",
        ),
        DatasetInfo(
            "datablations",
            "datablations.csv",
            182,
            "Muennighoff et al. 2023 data-constrained runs on C4 (the 182 runs of the paper's "
            "R_D*/R_N* fit): N, D, unique tokens U, epochs, validation loss.",
            "Muennighoff et al. 2023 (arXiv:2305.16264), github.com/huggingface/datablations (Apache-2.0)",
        ),
        DatasetInfo(
            "overtraining",
            "overtraining.csv",
            104,
            "Gadre et al. 2024 over-training testbed: N, D, C = 6ND, M = D/N, C4 eval loss, "
            "downstream errors err_avg17 / err_avg46; corpus = training dataset.",
            "Gadre et al. 2024 (arXiv:2403.08540), github.com/mlfoundations/scaling (MIT)",
        ),
        DatasetInfo(
            "porian-isoflop",
            "porian_isoflop.csv",
            1745,
            "Porian et al. 2024 isoFLOP points, 15 configurations (dataset|hparams|warmup|decay|"
            "FLOP convention|split), budgets 1.25e16-2.56e19: C, N, D = C/6N, loss.",
            "Porian et al. 2024 (arXiv:2406.19146), github.com/formll/resolving-scaling-law-discrepancies (MIT)",
        ),
        DatasetInfo(
            "regmix",
            "regmix.csv",
            1088,
            "RegMix proxy runs: 17 Pile-domain mixture weights w_* and 13 domain losses loss_*; "
            "model_scale 1M/60M/1B, split train/test.",
            "Liu et al. 2024 (arXiv:2407.01492), github.com/sail-sg/regmix (MIT)",
        ),
        DatasetInfo(
            "testtime-attempts",
            "testtime_attempts.csv",
            3000,
            "Simulated test-time attempts (documented recipe, seed 2024): 1,000 problems x 3 models "
            "(0.6B, 8B, 32B), 100 samples each; p ~ Beta(alpha, beta) per model, one shared "
            "difficulty quantile per problem. Columns model, problem, n, c.",
            "simulation; recipe in datasets/ATTRIBUTION.md (difficulty model after Brown et al. 2024, "
            "arXiv:2407.21787)",
            kind="attempts",
        ),
        DatasetInfo(
            "testtime-models",
            "testtime_models.csv",
            3,
            "Candidates for `testtime plan`: the 3 models of testtime-attempts with size, tokens = 2000, "
            "cost_per_token = 2N FLOPs and law = their Beta coverage law (fitted to testtime-attempts).",
            "derived from testtime-attempts; 2N FLOPs per generated token after Kaplan et al. 2020",
            kind="models",
        ),
    ]
}


def list_datasets() -> tuple[str, ...]:
    """Names of the built-in datasets."""
    return tuple(_DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    if name not in _DATASETS:
        raise InputError(f"dataset {name!r}: unknown; built-ins are {', '.join(_DATASETS)}")
    return _DATASETS[name]


def dataset_path(name: str) -> Path:
    """Path of a built-in dataset's CSV inside the installed package."""
    return Path(str(resources.files(__package__).joinpath(dataset_info(name).filename)))


def load_dataset(name: str, *, query: str | None = None):
    """A built-in dataset as validated [`Runs`][scalinglaws.Runs], optionally filtered.

    The test-time datasets load as what their commands read: `testtime-attempts` as
    [`Attempts`][scalinglaws.testtime.Attempts], `testtime-models` as a list of
    [`Candidate`][scalinglaws.testtime.Candidate] (neither takes a `query`).

    **Raises:** `InputError` (a `ValueError`) for an unknown name or a bad `query`.
    """
    from ..data import load_runs

    kind = dataset_info(name).kind
    if kind != "runs":
        if query is not None:
            raise InputError(f"load_dataset({name!r}, query=...): a {kind} table takes no query; filter it with pandas.")
        from .. import testtime

        return testtime.load_attempts(name) if kind == "attempts" else testtime.load_candidates(name)
    return load_runs(name, query=query)
