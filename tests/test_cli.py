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


def _freeze_count_after(call: str) -> int:
    """`gc.get_freeze_count()` in a fresh interpreter after `scalinglaws.cli.<call>()` runs
    `scalinglaws --version` (a process of its own: freezing is a process-wide decision)."""
    import subprocess
    import sys

    code = (
        "import gc, sys\nfrom scalinglaws import cli\nsys.argv = ['scalinglaws', '--version']\n"
        f"try:\n    cli.{call}()\nexcept SystemExit:\n    pass\nprint(gc.get_freeze_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_the_executable_freezes_its_imports_and_main_leaves_the_collector_alone():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "scalinglaws"]
    assert script.value == "scalinglaws.cli:run"  # the installed `scalinglaws` command
    # Everything imported so far (JAX, pandas, the sub-commands: over 100,000 objects) leaves
    # the collector's reach in the executable's own process...
    assert _freeze_count_after("run") > 100_000
    # ...but `main`, which tests and notebooks call in their own process, freezes nothing.
    assert _freeze_count_after("main") == 0
