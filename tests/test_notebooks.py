"""The numbered notebooks: each is a jupytext pair (``notebooks/NN_name.py`` percent script +
``notebooks/NN_name.ipynb``, see jupytext.toml) kept in sync, outputs stripped,
parameterised, and every one executes in ``smoke`` mode in CI (marker ``notebooks``): the code
path and every figure of the tutorial, not a result (``quick`` trains for minutes per table).

The executed notebooks share one results cache, so each training step runs once for the
whole session (the same cache layout as ``spectool figures``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# a cell that draws a matplotlib figure: an explicit figure, Spectrum.plot or a paper figure
# (catalog ids with "-tab" are tables); cells that draw only under a condition (``if ...:``,
# e.g. when real data is present) are not required to
DRAWS = re.compile(r"plt\.subplots\(|\.plot\(|figures\.draw\(\"[a-z]+-fig")
EXPECTED = ["00_quickstart", "01_data_and_preprocessing", "02_mspcnet_training", "03_mspcnet_analysis",
            "04_mspcnet_ablations", "05_spfusion", "06_scanet", "07_interactive_inspection", "08_real_data"]


def _cells(nb) -> list[tuple[str, str, list[str]]]:
    """What a pair must agree on: each cell's type, source and tags."""
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


def test_notebooks_present_and_paired():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    scripts = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert scripts == EXPECTED, "every notebook needs its jupytext percent script (make notebooks)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_pair_in_sync(path):
    """The .py script and the .ipynb hold the same cells: editing either one is safe, and
    ``make notebooks`` (jupytext --sync) propagates an edit to the other."""
    import jupytext

    script = path.with_suffix(".py")
    assert script.read_text().startswith("# ---\n# jupyter:"), f"{script.name}: not a jupytext percent script"
    assert "# %%" in script.read_text()
    from_py = jupytext.read(script, fmt="py:percent")
    from_ipynb = jupytext.read(path)
    assert from_ipynb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    a, b = _cells(from_py), _cells(from_ipynb)
    stale = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    assert len(a) == len(b) and not stale, (
        f"{path.stem}: .py and .ipynb differ ({len(a)} vs {len(b)} cells, first differing cell "
        f"{stale[:1] or min(len(a), len(b))}); run `make notebooks` (jupytext --sync notebooks/*.ipynb)")


def test_sync_check_detects_an_edit(tmp_path):
    """The pair check can fail: an edit to one side only is reported."""
    import jupytext

    src = NOTEBOOKS[0]
    nb = jupytext.read(src.with_suffix(".py"), fmt="py:percent")
    nb.cells[-1].source += "\nprint('edited in the script only')"
    assert _cells(nb) != _cells(jupytext.read(src))


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
    from spectool.figures import expand_ids

    text = "\n".join(p.with_suffix(".py").read_text() for p in NOTEBOOKS)
    shown = set(re.findall(r"\.(?:compute|draw)\(\s*\"([a-z0-9-]+)\"", text))
    missing = [fid for fid in expand_ids(None) if fid not in shown]
    assert not missing


@pytest.fixture(scope="session")
def results_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook-results")


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_smoke(path, results_cache, tmp_path, monkeypatch):
    import os

    import papermill as pm

    # the kernel runs in notebooks/: make it import this checkout's spectool, not another install
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"mode": "smoke", "source": "mock", "cache": str(results_cache)},
                        cwd=str(path.parent), kernel_name="python3", progress_bar=False, execution_timeout=900)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    shown = sum(bool(c.outputs) for c in nb.cells if c.cell_type == "code")
    assert shown >= 2
    # every cell that draws with matplotlib shows its figure (a lost interactive mode once
    # left all figures after the first one of the kernel undrawn)
    drawing = [c for c in nb.cells if c.cell_type == "code" and DRAWS.search(c.source)
               and not c.source.lstrip().startswith("if ")]
    blank = [c.source.splitlines()[0] for c in drawing
             if not any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert not blank, f"cells that draw but show no figure: {blank}"


def test_style_keeps_interactive_mode_switched_on_inside():
    """In Jupyter the inline backend turns interactive mode on when the first figure is made;
    if that happens inside spectool's style block, leaving the block must not turn it off
    again (it did: every later figure of the kernel stopped rendering)."""
    import matplotlib

    from spectool.plots import style

    before = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        with style():
            matplotlib.interactive(True)   # what matplotlib_inline's activation does
            assert matplotlib.rcParams["font.size"] == 9   # the style is applied inside
        assert matplotlib.is_interactive()
        assert matplotlib.rcParams["font.size"] != 9 or matplotlib.rcParamsDefault["font.size"] == 9
        with pytest.raises(ValueError):
            with style():
                matplotlib.interactive(False)
                raise ValueError("boom")
        assert not matplotlib.is_interactive()
    finally:
        matplotlib.interactive(before)


@pytest.mark.notebooks
def test_demo_runs_notebooks_two_at_a_time(tmp_path, monkeypatch):
    """``make demo`` executes notebooks two at once (each kernel on its share of the cores,
    each on its own IPC socket path); results come back in notebook order, and a failing
    notebook is a reported row while the others finish."""
    import spectool.demo as demo

    src = tmp_path / "books"
    src.mkdir()
    for name, code in (("00_a", "import os\nopen(f'{mode}-a.txt', 'w').write(os.environ.get('OMP_NUM_THREADS', ''))"),
                       ("01_b", "raise ValueError('broken on purpose')"),
                       ("02_c", "import os\nopen(f'{mode}-c.txt', 'w').write(os.environ.get('OMP_NUM_THREADS', ''))")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("mode = 'x'", metadata={"tags": ["parameters"]}),
                                             nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, src / f"{name}.ipynb")
    monkeypatch.setattr(demo, "notebook_dir", lambda: src)
    rows = demo.run_notebooks(tmp_path / "out", "smoke", tmp_path / "cache", progress=False, jobs=2)
    assert [r[0] for r in rows] == ["00_a", "01_b", "02_c"]
    assert rows[0][1] == rows[2][1] == "ok"
    assert rows[1][1].startswith("failed") and "broken on purpose" in rows[1][1]
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert (src / "smoke-a.txt").read_text() == threads == (src / "smoke-c.txt").read_text()
    assert (tmp_path / "out" / "02_c.ipynb").is_file()
    assert not list(src.glob("*ipc*")), "kernel IPC sockets belong in the Jupyter runtime dir"
