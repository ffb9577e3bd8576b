"""The `scalinglaws` command line.

Sub-commands live in `scalinglaws/commands/`, one module per concept; each module defines
`register(group)`. Modules import heavy dependencies (numpyro, matplotlib) inside the
command functions so that `scalinglaws fit` starts fast.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import click


def _enable_compilation_cache() -> None:
    """Cache compiled XLA programs across runs (JAX's persistent compilation cache).

    A repeated `scalinglaws fit` then skips compilation, most of its cold start.
    `SCALINGLAWS_CACHE_DIR=off` disables it; any other value chooses the folder.
    """
    setting = os.environ.get("SCALINGLAWS_CACHE_DIR", "")
    if setting.lower() in ("off", "0", "none", "false"):
        return
    folder = Path(setting) if setting else Path.home() / ".cache" / "scalinglaws" / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # read-only home: run without the cache
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class _Group(click.Group):
    """Turns the package's own `ValueError`/`TypeError`s into one-line CLI errors."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ValueError, TypeError, KeyError) as error:
            if os.environ.get("SCALINGLAWS_DEBUG"):
                raise
            message = error.args[0] if error.args else str(error)
            raise click.ClickException(str(message)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scalinglaws")
def main() -> None:
    """Fit scaling laws to training runs, check their extrapolation, and plan compute."""
    _enable_compilation_cache()


def _register_commands(group: click.Group) -> None:
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(group)


_register_commands(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
