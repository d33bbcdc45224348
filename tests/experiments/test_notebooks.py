"""Executes every notebook in notebooks/ with nbclient (kernel python3) at smoke settings
(``REPSIM_JAX_NOTEBOOK_SMOKE=1``) from a directory outside the checkout and checks what
they print; checks that each is ready for Colab (an opening markdown cell saying how, an
install cell that pins nothing and needs no checkout)."""

import os
import pathlib
import re
import subprocess

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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_ready_for_colab(name):
    """Opens with a markdown cell on running it in Colab; the first code cell installs the
    package only when it is missing, from REPSIM_JAX_SOURCE, with no version pins (a
    runtime's own torch/jax stays) and no editable install of a checkout; no cell reaches
    outside the working directory."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "Colab" in nb.cells[0].source
    assert "REPSIM_JAX_SOURCE" in nb.cells[0].source
    install = next(c.source for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("repsim_jax") is None' in install and "REPSIM_JAX_SOURCE" in install
    assert "importlib.invalidate_caches()" in install and "site.main()" in install
    pins = re.findall(r"\b(?:torch|torchvision|jax|jaxlib)\s*==", install)
    editable = re.search(r"""(^|[\s"'])(-e|--editable)\b""", install)
    assert not pins and not editable, install
    assert ("[torch]" in install or "torch_extra" in install) == (name in NEEDS)
    for cell in nb.cells:
        assert "../" not in cell.source and "experiments/configs" not in cell.source, (name, cell.source)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_at_smoke_settings(name, tmp_path, monkeypatch):
    if os.environ.get("REPSIM_JAX_NOTEBOOKS_IN_WHEEL_CHECK") == "1":
        pytest.skip("CI runs this test in .ci/wheel_check, against the wheel install")
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    monkeypatch.setenv("REPSIM_JAX_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    # a fresh directory outside any checkout (nothing of the repository is reachable from it)
    work = tmp_path / "colab"
    work.mkdir()
    outside = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=work, capture_output=True, check=False)
    assert outside.returncode != 0, f"{work} is inside a checkout"
    client = NotebookClient(nb, kernel_name="python3", timeout=200, resources={"metadata": {"path": str(work)}})
    client.execute()  # the kernel inherits the environment set above
    text = _stream_text(nb)
    assert "repsim_jax " in text and "restart the session" not in text  # the install cell's report
    assert {p.name for p in work.iterdir()} <= {"runs"}, sorted(work.iterdir())  # outputs under runs/ only
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: {expected!r} not in output:\n{text[-2000:]}"
