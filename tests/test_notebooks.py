"""The numbered notebooks: generated from scripts/make_notebooks.py, outputs stripped,
parameterised, and every one executes in quick mode (marker ``notebooks``).

The executed notebooks share one results cache, so each quick training runs once for the
whole session (the same cache layout as ``spectool figures``).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_quickstart", "01_data_and_preprocessing", "02_mspcnet_training", "03_mspcnet_analysis",
            "04_mspcnet_ablations", "05_spfusion", "06_scanet", "07_interactive_inspection", "08_real_data"]


def test_notebooks_present_and_up_to_date():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_stripped_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert 'mode = "quick"' in params[0].source and 'source = "mock"' in params[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
    assert "synthetic" in nb.cells[0].source.lower()


def test_every_catalog_id_is_shown_in_a_notebook():
    from spectool.plots import CATALOG

    text = "\n".join(p.read_text() for p in NOTEBOOKS)
    missing = [fid for fid in CATALOG if f'figures.compute(\\"{fid}\\"' not in text]
    assert not missing


@pytest.fixture(scope="session")
def results_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook-results")


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_quick(path, results_cache, tmp_path):
    import papermill as pm

    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"mode": "quick", "source": "mock", "cache": str(results_cache)},
                        cwd=str(path.parent), kernel_name="python3", progress_bar=False, execution_timeout=900)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    shown = sum(bool(c.outputs) for c in nb.cells if c.cell_type == "code")
    assert shown >= 2
