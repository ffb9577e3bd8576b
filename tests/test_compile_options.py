"""The package's XLA compile options (`scalinglaws.compile_options`): asked for only where
they apply, and passed to the compiler of the programs that fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaws import compile_options


@pytest.fixture
def cpu_info(tmp_path, monkeypatch):
    """Point the module at a fake `/proc/cpuinfo`; the caches are cleared around the test."""
    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(compile_options, "_CPU_INFO", path)
    compile_options._cpu_flags.cache_clear()
    compile_options.compiler_options.cache_clear()
    yield path
    compile_options._cpu_flags.cache_clear()
    compile_options.compiler_options.cache_clear()


def test_512_bit_vectors_only_on_a_cpu_with_avx512(cpu_info, monkeypatch):
    cpu_info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512dq\n\nprocessor\t: 1\n")
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert compile_options.compiler_options() == {"xla_cpu_prefer_vector_width": 512}


@pytest.mark.parametrize(
    ("text", "backend"),
    [
        ("flags\t\t: fpu sse2 avx2 fma\n", "cpu"),  # no AVX-512
        ("flags\t\t: fpu avx2 avx512f\n", "gpu"),  # another backend: its own defaults
        ("processor\t: 0\n", "cpu"),  # no flags line
        (None, "cpu"),  # no /proc/cpuinfo (not Linux)
    ],
)
def test_no_options_elsewhere(cpu_info, monkeypatch, text, backend):
    if text is not None:
        cpu_info.write_text(text)
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    assert compile_options.compiler_options() is None


def test_the_options_reach_the_compiler(monkeypatch):
    """An option XLA does not know makes the compilation fail, so the wrapper passes them
    on (with the real options, the program computes what `eqx.filter_jit`'s does)."""

    def double(x):
        return 2.0 * x

    x = jnp.arange(4.0)
    np.testing.assert_array_equal(compile_options.jit(double)(x), 2.0 * np.arange(4.0))
    monkeypatch.setattr(compile_options, "compiler_options", lambda: {"xla_no_such_option_here": 1})
    wrapped = compile_options.jit(double)
    assert wrapped.__name__ == "double"
    with pytest.raises(Exception, match="xla_no_such_option_here"):
        wrapped.lower(x).compile()


def test_the_fitting_programs_use_the_options():
    from scalinglaws import sharding
    from scalinglaws.fit import _fit

    for program in (sharding._run, _fit._round_jit, _fit.refined_laws):
        assert isinstance(program, compile_options.jit)


@pytest.mark.parametrize("options", [None, {"xla_cpu_prefer_vector_width": 512}])
def test_called_while_tracing_it_compiles_with_the_enclosing_program(monkeypatch, options):
    """JAX accepts compile options only on the outermost `jax.jit`: inside a user's `jit`
    (or `vmap`, `grad`), the wrapped function is part of that program, as a nested
    `eqx.filter_jit` is, and gives the same values as a top-level call."""
    monkeypatch.setattr(compile_options, "compiler_options", lambda: options)
    from scalinglaws.sharding import sharded_map

    def scaled(batched, shared):
        return batched * shared

    wrapped = compile_options.jit(lambda x: jnp.sin(x) * 2.0)
    x = jnp.linspace(0.0, 1.0, 8)
    top = np.asarray(wrapped(x))
    np.testing.assert_array_equal(jax.jit(lambda v: wrapped(v))(x), top)
    np.testing.assert_array_equal(jax.jit(lambda: wrapped(np.linspace(0.0, 1.0, 8)))(), top)  # concrete argument
    np.testing.assert_array_equal(jax.vmap(wrapped)(x[:, None])[:, 0], top)
    np.testing.assert_allclose(jax.grad(lambda v: wrapped(v).sum())(x), 2.0 * np.cos(np.asarray(x)))
    np.testing.assert_array_equal(jax.jit(lambda v: sharded_map(scaled, v, 3.0))(x), 3.0 * np.asarray(x))
