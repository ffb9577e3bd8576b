import os

import jax

# Tests are hermetic: the CLI's persistent compilation cache (in the user's home) stays off.
os.environ["SCALINGLAWS_CACHE_DIR"] = "off"
# Importing scalinglaws leaves jax.config alone (its public entry points scope float64
# themselves); tests switch float64 on for their own arrays, equinox style. That this
# does not hide a missing scope is checked in fresh float32 processes: tests/test_precision.py.
jax.config.update("jax_enable_x64", True)

import pytest


@pytest.fixture(scope="session")
def chinchilla_epoch_fit():
    """Epoch AI's grid fit on the 240 Chinchilla points (computed once per session)."""
    import scalinglaws as sl

    return sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
