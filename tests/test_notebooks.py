"""Every notebook in notebooks/ runs top to bottom without an API key, and is saved clean."""

from __future__ import annotations

import os
import pathlib
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from gptimage_widgets import catalog

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")


def test_the_notebooks_exist():
    assert [path.name for path in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_inpainting.ipynb",
        "03_prompt_sweep.ipynb",
        "04_client_without_widgets.ipynb",
        "05_batch_and_sweeps.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_without_outputs(path: pathlib.Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "sk-" not in path.read_text(encoding="utf-8").replace("sk-test-FAKE", "")


MODEL_ARG = re.compile(r"""model\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_choose_only_current_models(path: pathlib.Path):
    """No notebook defaults to a retired or deprecated model (issue 12): every ``model=`` in
    a code cell names a model OpenAI serves today; a notebook that shows a retired model
    on purpose must say so in a markdown cell ("retired")."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    prose = " ".join(cell.source for cell in nb.cells if cell.cell_type == "markdown").lower()
    for name in MODEL_ARG.findall(code):
        spec = catalog.get_model(name)
        if spec.status in ("deprecated", "shutdown"):
            assert "retired" in prose and name in prose, (path.name, name, spec.status)
    if path.name == "01_quickstart.ipynb":
        assert MODEL_ARG.findall(code)[0] == "gpt-image-2", "the quickstart's first choice"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_a_key(path: pathlib.Path, tmp_path, monkeypatch):
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / "run"
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute(env={k: v for k, v in os.environ.items() if k not in SECRET_ENV})
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    assert all(cell.execution_count is not None for cell in nb.cells if cell.cell_type == "code")
    assert any((work / "gptimage-outputs").rglob("meta.json"))  # history went to the tmp dir
    plotting_cells = [
        cell for cell in nb.cells if cell.cell_type == "code" and "giw.plot_" in cell.source
    ]
    for cell in plotting_cells:  # a figure must show as an image, not "<Figure size ...>"
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell.source
