import jax

# scalinglaws turns float64 on at import; tests state it explicitly too (equinox style).
jax.config.update("jax_enable_x64", True)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def chinchilla_epoch_fit():
    """Epoch AI's grid fit on the 240 Chinchilla points (computed once per session)."""
    import scalinglaws as sl

    return sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
