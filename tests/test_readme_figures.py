"""The README's figures against the code: every number checked here is parsed from
README.md and compared with what the code computes, at the precision the README writes it
with (half a unit in its last digit). A README edit that changes a figure without the code,
or a code change that moves a figure the README states, fails here.

Timings are not checked (no timing assertions in tests): the README's speed tables are
printed by the scripts in `benchmarks/`, which it names next to each table.
"""

import re
from decimal import Decimal
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from test_chinchilla_reference import EPOCH_NOTEBOOK

import scalinglaws as sl

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)"


def _section(title: str) -> str:
    """The text under the heading `title` up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}[^\n]*\n", README, flags=re.M)
    assert match, f"README.md has no heading starting {title!r}"
    level = len(match.group(1))
    rest = README[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.M)
    return rest[: end.start()] if end else rest


def _bullet(section: str, start: str) -> str:
    match = re.search(rf"^- \*\*{re.escape(start)}.*?(?=^- |\Z)", section, flags=re.M | re.S)
    assert match, f"README.md: no bullet starting {start!r}"
    return " ".join(match.group(0).split())


def _value(text: str, name: str) -> str:
    match = re.search(rf"(?<![\w*]){re.escape(name)} = {NUMBER}", text)
    assert match, f"README.md: no `{name} = <number>` in {text[:80]!r}..."
    return match.group(1)


def _assert_stated(value: float, stated: str, what: str) -> None:
    """`value` rounds to `stated` (a decimal string, possibly in e-notation)."""
    number = Decimal(stated.replace(",", ""))
    half_unit = Decimal(5) * Decimal(10) ** (number.as_tuple().exponent - 1)
    assert abs(Decimal(repr(float(value))) - number) <= half_unit, (
        f"README.md states {what} = {stated}; the code gives {value!r}"
    )


def _epoch_objective(law) -> float:
    from scalinglaws.fit import objective

    runs = sl.load_dataset("chinchilla", query="epoch_default_included == 1")
    x = {k: jnp.asarray(v) for k, v in runs.arrays(["N", "D"]).items()}
    return float(objective(law, x, jnp.log(jnp.asarray(runs["loss"])), jnp.ones(len(runs)), "huber", 1e-3))


def test_quick_start_figures(chinchilla_epoch_fit):
    text = " ".join(_section("Two commands on a fresh machine").split())
    match = re.search(rf"objective {NUMBER}, E = {NUMBER}, alpha = {NUMBER}, beta = {NUMBER}", text)
    assert match, "README.md: the quick start no longer states the optimum it prints"
    fit = chinchilla_epoch_fit
    _assert_stated(float(fit.objective), match.group(1), "objective")
    for name, stated in zip(("E", "alpha", "beta"), match.groups()[1:]):
        _assert_stated(fit.coefficients[name], stated, name)
    assert "240 points" in text and fit.n_points == 240


def test_chinchilla_reference_figures(chinchilla_epoch_fit):
    text = _bullet(_section("Reference results"), "Chinchilla, Epoch AI's protocol")
    ours, epoch = text.split("(Epoch: E =")
    epoch = "E =" + epoch
    fit = chinchilla_epoch_fit
    _assert_stated(float(fit.objective), re.search(rf"objective {NUMBER}", ours).group(1), "objective")
    stated_epoch_objective = re.search(rf"\(Epoch: {NUMBER}\)", ours).group(1)
    _assert_stated(EPOCH_NOTEBOOK["objective"], stated_epoch_objective, "Epoch's objective")
    # "a slightly lower objective" than Epoch's L-BFGS-B, never a higher one.
    assert float(fit.objective) <= EPOCH_NOTEBOOK["objective"]
    for name in ("E", "A", "B", "alpha", "beta"):
        _assert_stated(fit.coefficients[name], _value(ours, name), name)
        _assert_stated(EPOCH_NOTEBOOK[name], _value(epoch, name), f"Epoch's {name}")
    assert "More than half of the 16 refined starts" in text
    assert len(fit.refined_objectives) >= 16 and int(fit.n_agree) > 8
    assert "at least 10 times worse" in text
    assert np.min(fit.start_objectives) >= 10 * float(fit.objective)


def test_hoffmann_published_coefficients_figure(chinchilla_epoch_fit):
    text = _bullet(_section("Reference results"), "Hoffmann et al.'s published coefficients")
    coefficients = {name: float(_value(text, name)) for name in ("E", "A", "B", "alpha", "beta")}
    # Hoffmann et al. 2022 (arXiv:2203.15556), eq. 10's rounded estimates.
    assert coefficients == dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    value = _epoch_objective(sl.laws.Chinchilla(**coefficients))
    _assert_stated(value, re.search(rf"score {NUMBER}", text).group(1), "Hoffmann's objective")
    assert "four times Epoch's optimum" in text
    assert round(value / float(chinchilla_epoch_fit.objective)) == 4


def test_recovery_figures():
    import test_recovery

    text = _bullet(_section("Reference results"), "Recovery")
    assert "1% log-normal noise" in text and test_recovery.SIGMA == 0.01
    assert "within 5 Gauss-Newton standard errors" in text
    assert "<= 5 * se[coef]" in Path(test_recovery.__file__).read_text()
    # The laws the README names are exactly the laws the recovery test simulates and refits.
    assert re.findall(r"`([a-z-]+)`", text.split(":")[1]) == list(test_recovery.CASES)


def test_regression_snapshot_figures():
    text = _bullet(_section("Regression snapshots"), "Data-constrained law on the 182 datablations runs")
    fit = sl.fit("data-constrained", "datablations", tie={"beta": "alpha"})
    assert fit.n_points == 182 and bool(fit.converged), fit.message
    _assert_stated(float(fit.objective), re.search(rf"objective {NUMBER}", text).group(1), "objective")
    for name in ("E", "A", "B"):
        _assert_stated(fit.coefficients[name], _value(text, name), name)
    _assert_stated(fit.coefficients["alpha"], _value(text, "alpha = beta"), "alpha")
    assert fit.coefficients["alpha"] == fit.coefficients["beta"]
    _assert_stated(fit.coefficients["R_D_star"], _value(text, "R_D*"), "R_D*")
    _assert_stated(fit.coefficients["R_N_star"], _value(text, "R_N*"), "R_N*")


ISOFLOP_ROW = re.compile(
    rf"^\| `(?P<config>[^`]+)` \| (?P<budgets>\d+) \| \**{NUMBER} \+- {NUMBER}\** \| {NUMBER} \+- {NUMBER} \|$", re.M
)


def test_isoflop_table():
    from scalinglaws.allocate import isoflop_analysis

    rows = list(ISOFLOP_ROW.finditer(_section("IsoFLOP analysis")))
    assert len(rows) == 15, "README.md: the isoFLOP table should list Porian et al.'s 15 configurations"
    for row in rows:
        config = row["config"].replace("\\|", "|")
        result = isoflop_analysis("porian-isoflop", query=f"config == '{config}'")
        assert result.n_budgets == int(row["budgets"]), config
        a, a_se, b, b_se = row.groups()[2:]
        _assert_stated(result.a, a, f"a of {config}")
        _assert_stated(result.a_se, a_se, f"SE of a of {config}")
        _assert_stated(result.b, b, f"b of {config}")
        _assert_stated(result.b_se, b_se, f"SE of b of {config}")


@pytest.mark.parametrize("stated", ["2143", "0.34731", "1.5e2", "477.8"])
def test_precision_helper_rejects_the_next_digit(stated):
    # The checker itself can fail: a value one unit off in the last stated digit is rejected.
    number = Decimal(stated)
    unit = Decimal(10) ** number.as_tuple().exponent
    _assert_stated(float(number + unit * Decimal("0.4")), stated, "x")
    with pytest.raises(AssertionError, match="README.md states x"):
        _assert_stated(float(number + unit * Decimal("0.6")), stated, "x")
