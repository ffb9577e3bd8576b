"""Law files are data; every file the package writes goes through one careful writer."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.errors import InputError
from scalinglaws.io import law_from_dict, law_to_dict
from scalinglaws.laws import AbstractLaw, coefficient, positive
from scalinglaws.output import check_writable, open_for_writing, save_figure, write_text

CHINCHILLA = dict(E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672)
COEF = [f"--coef={k}={v}" for k, v in CHINCHILLA.items()]


def _fit_file(path: Path, law_entry: dict) -> Path:
    path.write_text(json.dumps({"format": "scalinglaws.fit", "version": 1, "law": law_entry, "fit": {}, "metadata": {}}))
    return path


# ---- law files are data ------------------------------------------------------------------


def test_file_naming_a_callable_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = {"class": "subprocess:call", "coefficients": {"args": ["touch", str(tmp_path / "pwned")]}}
    path = _fit_file(tmp_path / "evil.json", evil)
    with pytest.raises(InputError, match=r"refusing to load the law 'subprocess:call'.*register_law"):
        sl.load_fit(path)
    # Even with the opt-in, only an AbstractLaw subclass is ever called.
    with pytest.raises(InputError, match="not a concrete AbstractLaw subclass"):
        sl.load_fit(path, allow_import=True)
    for extra in ([], ["--allow-import"]):
        out = CliRunner().invoke(main, ["allocate", "--fit", str(path), "--budget", "1e21", *extra])
        assert out.exit_code == 1, out.output
        assert "Traceback" not in out.output
    assert not (tmp_path / "pwned").exists()


def test_module_named_in_a_file_is_not_imported_without_opt_in(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "sl_test_evil_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Law:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _fit_file(tmp_path / "fit.json", {"class": "sl_test_evil_module:Law", "coefficients": {}})
    with pytest.raises(InputError, match="refusing to load"):
        sl.load_fit(path)
    assert not marker.exists() and "sl_test_evil_module" not in sys.modules
    with pytest.raises(InputError, match="not a concrete AbstractLaw subclass"):
        sl.load_fit(path, allow_import=True)
    assert marker.exists()  # the opt-in imports; it still builds nothing but a law
    sys.modules.pop("sl_test_evil_module", None)


class TwoTermLaw(AbstractLaw):
    """L = E + A / C^alpha (a law of a user's own, for these tests)."""

    E: jnp.ndarray = coefficient(positive, init=(0.5, 5.0))
    A: jnp.ndarray = coefficient(positive, init=(0.1, 10.0))
    alpha: jnp.ndarray = coefficient(positive, init=(0.05, 2.0))
    inputs: ClassVar = ("C",)

    def log_predict(self, x):
        return jnp.logaddexp(jnp.log(self.E), jnp.log(self.A) - self.alpha * jnp.log(x["C"]))


def test_custom_law_registered_by_the_caller_loads(tmp_path):
    law = TwoTermLaw(E=1.5, A=3.0, alpha=0.25)
    entry = {"law": "two-term-test", "static": {}, "coefficients": {"E": 1.5, "A": 3.0, "alpha": 0.25}}
    path = _fit_file(tmp_path / "fit.json", entry)
    with pytest.raises(InputError, match=r"unknown law 'two-term-test'.*register_law"):
        sl.load_fit(path)
    sl.laws.register_law("two-term-test", TwoTermLaw)
    loaded = sl.load_fit(path).law
    assert type(loaded) is TwoTermLaw and float(loaded.alpha) == 0.25
    # Saving names it by its registered name; it round-trips bit for bit.
    sl.save_fit(law, tmp_path / "again.json")
    saved = json.loads((tmp_path / "again.json").read_text())["law"]
    assert saved["law"] == "two-term-test"
    assert law_from_dict(saved).coefficients.keys() == law.coefficients.keys()


def test_old_files_naming_a_builtin_class_still_load(tmp_path):
    entry = {"class": "scalinglaws.laws.chinchilla:Chinchilla", "static": {}, "coefficients": CHINCHILLA}
    law = sl.load_fit(_fit_file(tmp_path / "old.json", entry)).law
    assert type(law) is sl.laws.Chinchilla and float(law.B) == CHINCHILLA["B"]
    power = {"class": "scalinglaws.laws.power:PowerLaw", "static": {"variable": "N"},
             "coefficients": {"E": 1.5, "A": 300.0, "alpha": 0.2}}
    assert sl.load_fit(_fit_file(tmp_path / "p.json", power)).law.variable == "N"


def test_new_files_name_the_registered_law():
    entry = law_to_dict(sl.laws.PowerLaw(E=1.5, A=300.0, alpha=0.2, variable="D"))
    assert entry["law"] == "power-d" and entry["static"] == {"variable": "D"}


def test_name_and_class_that_disagree_are_refused(tmp_path):
    entry = {"law": "chinchilla", "class": "scalinglaws.laws.kaplan:Kaplan", "coefficients": CHINCHILLA}
    with pytest.raises(InputError, match="registered here as"):
        sl.load_fit(_fit_file(tmp_path / "f.json", entry))


@pytest.mark.parametrize(
    "coefficients, message",
    [
        (dict(CHINCHILLA, alpha=float("nan")), r"coefficient alpha=nan is not a finite number"),
        (dict(CHINCHILLA, E=-5.0), r"coefficient E=-5\.0 is outside its support \(positive\)"),
        (dict(CHINCHILLA, E="1.8"), r"coefficient E='1\.8' is not a number"),
        (dict(CHINCHILLA, E=True), r"coefficient E=True is not a number"),
        ({k: v for k, v in CHINCHILLA.items() if k != "B"}, r"missing coefficient\(s\) \['B'\]"),
        (dict(CHINCHILLA, args=["touch", "x"]), r"unknown coefficient\(s\) \['args'\]"),
        ("E=1", r"expected coefficients as NAME -> number"),
    ],
)
def test_coefficients_from_files_are_validated(tmp_path, coefficients, message):
    path = _fit_file(tmp_path / "f.json", {"law": "chinchilla", "coefficients": coefficients})
    with pytest.raises(InputError, match=message):
        sl.load_fit(path)


def test_static_fields_from_files_are_validated(tmp_path):
    bad = {"law": "power-n", "static": {"variable": {"a": 1}}, "coefficients": {"E": 1.0, "A": 1.0, "alpha": 0.1}}
    with pytest.raises(InputError, match="field variable=.* must be a string"):
        sl.load_fit(_fit_file(tmp_path / "a.json", bad))
    bad["static"] = {"shell": "rm"}
    with pytest.raises(InputError, match=r"unknown field\(s\) \['shell'\]"):
        sl.load_fit(_fit_file(tmp_path / "b.json", bad))
    bad["static"] = {"variable": "Q"}
    with pytest.raises(InputError, match="cannot rebuild the law PowerLaw"):
        sl.load_fit(_fit_file(tmp_path / "c.json", bad))


def test_boundary_values_are_accepted(tmp_path):
    # A pure power law is saved with E = 0 (fix={"E": 0}); the closed support admits it.
    entry = {"law": "power-c", "coefficients": {"E": 0.0, "A": 300.0, "alpha": 0.2}}
    assert float(sl.load_fit(_fit_file(tmp_path / "f.json", entry)).law.E) == 0.0


def test_coef_on_the_command_line_is_validated():
    args = ["allocate", "--law", "chinchilla", "--budget", "1e21"]
    out = CliRunner().invoke(main, [*args, *COEF[1:], "--coef=E=-5"])
    assert out.exit_code == 1 and "--coef: coefficient E=-5.0 is outside its support" in out.output
    out = CliRunner().invoke(main, [*args, *COEF])
    assert out.exit_code == 0, out.output


def test_posterior_file_is_data_too(tmp_path):
    from scalinglaws.bayes import Posterior, load_posterior

    template = sl.laws.Chinchilla(**CHINCHILLA)
    rng = np.random.default_rng(0)
    draws = {"alpha": 0.35 + 0.01 * rng.random((2, 5)), "sigma": 0.01 + 0.001 * rng.random((2, 5))}
    post = Posterior(template, ("alpha",), (), draws, method="laplace")
    path = tmp_path / "post.json"
    post.save(path)
    document = json.loads(path.read_text())
    assert document["law"]["law"] == "chinchilla"
    assert load_posterior(path) == post
    document["law"] = {"class": "subprocess:call", "coefficients": {"args": ["touch", str(tmp_path / "pwned")]}}
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match="refusing to load"):
        load_posterior(path)
    assert not (tmp_path / "pwned").exists()


def test_mixture_and_coverage_laws_are_named_by_registered_name(tmp_path):
    from scalinglaws.mixture import SqrtMixingLaw
    from scalinglaws.testtime import BetaCoverage, load_coverage_law, save_coverage_law

    mixing = SqrtMixingLaw.for_domains(["web", "code"])
    entry = law_to_dict(mixing)
    assert entry["law"] == "mixing-sqrt" and entry["static"]["domains"] == ["web", "code"]
    again = law_from_dict(entry)
    assert again.domains == ("web", "code") and np.array_equal(np.asarray(again.t), np.asarray(mixing.t))
    entry["coefficients"]["t"] = [0.0, 0.0, 0.0]
    with pytest.raises(InputError, match=r"coefficient t needs one value per domain \(2\)"):
        law_from_dict(entry)

    coverage = BetaCoverage(alpha=0.3, beta=2.0, pi0=0.1)
    save_coverage_law(coverage, tmp_path / "law.json")
    assert json.loads((tmp_path / "law.json").read_text())["law"]["law"] == "coverage-beta"
    assert float(load_coverage_law(tmp_path / "law.json").pi0) == 0.1


def test_naming_a_law_never_instantiates_templates():
    calls = []

    def factory():
        calls.append(1)
        return TwoTermLaw(E=1.0, A=1.0, alpha=0.5)

    sl.laws.register_law("two-term-factory-test", factory)
    assert len(calls) == 1  # once, at registration, to learn its class
    for _ in range(3):
        sl.io.law_name(sl.laws.Chinchilla(**CHINCHILLA))
        sl.io.law_name(TwoTermLaw(E=1.0, A=1.0, alpha=0.5))
    assert len(calls) == 1


# ---- the abstract/final pattern ------------------------------------------------------------


def test_abstract_law_cannot_be_instantiated():
    with pytest.raises(TypeError, match="abstract"):
        AbstractLaw()
    from scalinglaws.mixture import AbstractMixingLaw

    with pytest.raises(TypeError, match="abstract"):
        AbstractMixingLaw.template(domains=["a"])


def test_concrete_laws_are_final():
    with pytest.raises(TypeError, match="concrete laws are final"):

        class Tweaked(sl.laws.Chinchilla):  # noqa: F841
            pass


def _concrete_laws():
    import scalinglaws.mixture  # noqa: F401  (defines the mixing laws)
    import scalinglaws.testtime  # noqa: F401  (defines the coverage laws)
    from scalinglaws.laws._registry import _loaded_laws

    return [cls for cls in _loaded_laws() if cls.__module__.startswith("scalinglaws.")]


# Optional class-level metadata with documented defaults on AbstractLaw (see its docstring).
METADATA = {"target", "formula", "citation", "default_grid", "per_domain"}


def test_no_concrete_member_is_overridden():
    laws = _concrete_laws()
    assert len(laws) >= 15
    for cls in laws:
        for name, value in vars(cls).items():
            if name.startswith("__") or name in METADATA or name in {"_abc_impl"}:
                continue
            for base in cls.__mro__[1:]:
                if base is object or name not in vars(base):
                    continue
                inherited = vars(base)[name]
                abstract = getattr(inherited, "__isabstractmethod__", False) or name in getattr(
                    base, "__abstractvars__", ()
                )
                assert abstract, f"{cls.__name__}.{name} overrides the concrete {base.__name__}.{name}"


# ---- the one output writer -----------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".scalinglaws-tmp." in n)


def test_write_through_symlink(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_new_file_honours_umask_and_existing_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.json", "{}")
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        os.umask(0o077)
        write_text(tmp_path / "b.json", "{}")
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    existing = tmp_path / "c.json"
    existing.write_text("old")
    existing.chmod(0o640)
    write_text(existing, "new")
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and existing.read_text() == "new"


@pytest.mark.parametrize(
    "destination, message",
    [
        ("missing/x.json", "the folder .* does not exist"),
        (".", "is a folder"),
        ("/dev/full", "is not a regular file"),
    ],
)
def test_bad_destinations_are_one_line_errors_naming_the_option(tmp_path, destination, message):
    path = destination if destination.startswith("/") else str(tmp_path / destination)
    with pytest.raises(InputError, match=f"^--out '{path}': {message}") as error:
        check_writable(path, "--out")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match=message):
        write_text(path, "x", "--out")
    if destination == "/dev/full":
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # still the device


def test_read_only_folder():
    # Not under pytest's tmp_path: its parents are private to root, and the check below
    # runs as an unprivileged user, who must be able to reach the folder.
    base = Path(tempfile.mkdtemp(prefix="scalinglaws-ro-"))
    base.chmod(0o755)
    folder = base / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _check_read_only(folder)
    finally:
        shutil.rmtree(base)


def _check_read_only(folder: Path):
    if os.geteuid() != 0:
        with pytest.raises(InputError, match="^--out .*is not writable"):
            check_writable(folder / "x.json", "--out")
    else:
        # Root ignores permission bits: check in a forked child that has dropped to an
        # unprivileged user, where the probe write fails as it does for any user.
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fork of a multithreaded (JAX) process
            pid = os.fork()
        if pid == 0:  # the child: only plain Python below, then _exit
            try:
                os.setgid(65534)
                os.setuid(65534)
                check_writable(folder / "x.json", "--out")
                message = "no error"
            except InputError as error:
                message = str(error)
            except BaseException as error:  # noqa: BLE001 (reported to the parent)
                message = f"{type(error).__name__}: {error}"
            os.write(write, message.encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read) as pipe:
            message = pipe.read()
        assert re.match(r"^--out .*is not writable \(Permission denied\); choose another folder\.$", message), message
    assert _leftovers(folder) == []


def test_failure_inside_the_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "fit.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with open_for_writing(path) as handle:
            handle.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_sigkill_during_a_large_write(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"old contents")
    script = textwrap.dedent(
        f"""
        import sys, time
        from scalinglaws.output import open_for_writing
        with open_for_writing({str(path)!r}, binary=True) as handle:
            chunk = b"x" * 65536
            for i in range(20000):
                handle.write(chunk)
                handle.flush()
                if i == 10:
                    print("started", flush=True)
                time.sleep(0.005)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == b"old contents"  # the old file survives intact
    stale = _leftovers(tmp_path)
    assert len(stale) == 1 and f".{child.pid}." in stale[0]
    write_text(path, "new")  # the next write removes the dead process's leftover
    assert path.read_text() == "new" and _leftovers(tmp_path) == []


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    live = tmp_path / f".f.json.scalinglaws-tmp.{os.getppid()}.abcd"
    live.write_text("someone else's write in progress")
    write_text(tmp_path / "f.json", "{}")
    assert live.exists()


def test_figures_go_through_the_writer(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    save_figure(figure, tmp_path / "f.png", dpi=50)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match=r"^--plot .*unknown figure format 'xyz'"):
        save_figure(figure, tmp_path / "f.xyz")
    with pytest.raises(InputError, match=r"^--plot .*does not exist"):
        save_figure(figure, tmp_path / "missing" / "f.png")
    plt.close(figure)
    assert _leftovers(tmp_path) == []


def test_cli_out_into_missing_folder_fails_before_fitting(tmp_path, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before --out was checked")

    monkeypatch.setattr(sl, "fit", no_fit)
    out = CliRunner().invoke(main, ["fit", "chinchilla", "--law", "chinchilla", "--out", str(tmp_path / "no" / "x.json")])
    assert out.exit_code == 1, out.output
    assert "--out" in out.output and "does not exist" in out.output and "Traceback" not in out.output


def test_cli_plot_into_missing_folder(tmp_path):
    args = ["allocate", "--law", "chinchilla", *COEF, "--budget", "1e21", "--plot", str(tmp_path / "no" / "f.png")]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1, out.output
    assert "--plot" in out.output and "does not exist" in out.output and "Traceback" not in out.output
    out = CliRunner().invoke(main, args[:-1] + [str(tmp_path / "f.png")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "f.png").stat().st_size > 0 and _leftovers(tmp_path) == []


def test_allow_import_loads_a_law_from_a_trusted_module(tmp_path, monkeypatch):
    (tmp_path / "sl_test_user_laws.py").write_text(textwrap.dedent(
        """
        from typing import ClassVar
        import jax.numpy as jnp
        from scalinglaws.laws import AbstractLaw, coefficient, positive

        class OffsetPower(AbstractLaw):
            E: jnp.ndarray = coefficient(positive, init=(0.5, 5.0))
            A: jnp.ndarray = coefficient(positive, init=(0.1, 1e4))
            alpha: jnp.ndarray = coefficient(positive, init=(0.05, 1.0))
            inputs: ClassVar = ("C",)

            def log_predict(self, x):
                return jnp.logaddexp(jnp.log(self.E), jnp.log(self.A) - self.alpha * jnp.log(x["C"]))
        """
    ))
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = {"law": None, "class": "sl_test_user_laws:OffsetPower", "coefficients": {"E": 1.7, "A": 200.0, "alpha": 0.1}}
    path = _fit_file(tmp_path / "fit.json", entry)
    with pytest.raises(InputError, match="refusing to load"):
        sl.load_fit(path)
    law = sl.load_fit(path, allow_import=True).law
    assert type(law).__name__ == "OffsetPower" and float(law.A) == 200.0
    sys.modules.pop("sl_test_user_laws", None)
