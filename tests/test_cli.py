"""The command line: listings and the readable fit table."""

from click.testing import CliRunner

from scalinglaws.cli import main


def test_laws_lists_every_law_with_formula_and_paper():
    from scalinglaws.laws import law_names

    out = CliRunner().invoke(main, ["laws"])
    assert out.exit_code == 0
    for name in law_names():
        assert name in out.output
    assert "L = E + A / N^alpha + B / D^beta" in out.output
    assert "Hoffmann et al. 2022" in out.output and "Muennighoff et al. 2023" in out.output


def test_datasets_lists_builtins_with_sources():
    out = CliRunner().invoke(main, ["datasets"])
    assert out.exit_code == 0
    assert "chinchilla" in out.output and "245 rows" in out.output
    assert "datablations" in out.output and "182 rows" in out.output
    assert "overtraining" in out.output and "104 rows" in out.output


def test_fit_prints_a_readable_table_and_holdout():
    out = CliRunner().invoke(
        main,
        ["fit", "chinchilla", "--law", "chinchilla", "--query", "epoch_default_included == 1", "--holdout-above", "1e21"],
    )
    assert out.exit_code == 0, out.output
    assert "coefficient" in out.output and "alpha" in out.output
    assert "held out" in out.output and "mean |rel. error|" in out.output
    assert "round 1" in out.stderr  # progress is visible on stderr
