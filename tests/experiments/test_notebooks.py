"""Executes every notebook in notebooks/ with nbclient (kernel python3) at smoke settings
(``REPSIM_JAX_NOTEBOOK_SMOKE=1``) and checks what they print."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = {
    "quickstart": ["all bounds hold: True", "mean_cca"],
    "synthetic": ["CCA-logit bound holds everywhere: True", "l2_vs_kl"],
    "sweep": ["student reports", "mean_cca"],
    "language_models": ["all bounds hold: True", "mean_cca"],
}
NEEDS = {"language_models": "transformers"}  # the [torch] extra


def _stream_text(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def test_every_notebook_is_listed_and_stored_without_outputs():
    assert {p.stem for p in NOTEBOOKS.glob("*.ipynb")} == set(EXPECTED)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), (
            path.name
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_at_smoke_settings(name, tmp_path, monkeypatch):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    monkeypatch.setenv("REPSIM_JAX_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    # run where the notebook lives (relative config paths), writing runs/ under tmp_path
    work = tmp_path / "notebooks"
    work.mkdir()
    client = NotebookClient(nb, kernel_name="python3", timeout=200, resources={"metadata": {"path": str(work)}})
    (work.parent / "experiments").symlink_to(NOTEBOOKS.parent / "experiments")
    client.execute()  # the kernel inherits the environment set above
    text = _stream_text(nb)
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: {expected!r} not in output:\n{text[-2000:]}"
