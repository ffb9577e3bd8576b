"""Every notebook in notebooks/ executes from top to bottom without error.

Slow tier (`pytest -m slow`, run by `.ci/run` after the default tier): executing the
notebooks takes minutes on a 2-core machine, so the default test command leaves them out.
nbclient, nbformat and ipykernel are in the `test` extra, so they are imported normally:
a broken install fails here rather than skipping.
"""

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    # A moved notebooks/ folder would otherwise parametrise nothing and pass silently.
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    # No MPLBACKEND=Agg: the kernel's inline backend must render every figure as image/png.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("SCALINGLAWS_CACHE_DIR", "off")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert _images(notebook) >= 1, f"{path.name}: re-execution produced no figure (image/png output)"


def _images(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_shows_figures(path):
    # Committed with outputs (issue 12.4): a reader on GitHub sees the figures without running.
    notebook = nbformat.read(path, as_version=4)
    assert _images(notebook) >= 1, f"{path.name}: committed without figures; execute it and commit the outputs"
    assert 'matplotlib.use("Agg")' not in "".join(c.source for c in notebook.cells), path.name
