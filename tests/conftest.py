import os

import jax

# Tests are hermetic: the CLI's persistent compilation cache (in the user's home) stays off.
os.environ["SCALINGLAWS_CACHE_DIR"] = "off"
# scalinglaws turns float64 on at import; tests state it explicitly too (equinox style).
jax.config.update("jax_enable_x64", True)

import pytest


@pytest.fixture(scope="session")
def chinchilla_epoch_fit():
    """Epoch AI's grid fit on the 240 Chinchilla points (computed once per session)."""
    import scalinglaws as sl

    return sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
