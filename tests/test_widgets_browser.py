"""The exported inspector page in a real headless chromium (Playwright, no network).

Skips only where no chromium binary exists (CI installs Debian's ``chromium`` in
``.ci/run``). Set ``SPECTOOL_UPDATE_DOCS_IMG=1`` to refresh ``docs/img/inspector.png``.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from spectool.widgets import state as st
from test_widgets_state import NPIX, make_spectra

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img" / "inspector.png"


@pytest.fixture(scope="module")
def served_page(tmp_path_factory):
    """Export an inspector page and serve its directory on a loopback port."""
    from spectool.widgets import SpectrumInspector

    spectra = make_spectra(8)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], 8)
    yy, xx = np.mgrid[:32, :32]
    star = np.exp(-((xx - 16.0) ** 2 + (yy - 15.0) ** 2) / 8.0)  # a synthetic point source, redder in i
    images = np.array([[a * star for a in (0.6, 1.0, 1.4)] for _ in range(8)]) + rng.normal(0, 0.02, (8, 3, 32, 32))
    for s, img in zip(spectra, images):
        s.meta["image"] = img
    insp = SpectrumInspector(spectra, predictions=probs, output_names=["A", "K"],
                             attributions={"random": rng.random((8, NPIX))},
                             options=st.DisplayOptions(line_sets=("balmer",), template_rank=0))
    root = tmp_path_factory.mktemp("page")
    path = insp.to_html(root / "inspector.html")
    assert path.stat().st_size > 100_000  # BokehJS is inlined: the page needs no network
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/inspector.html", insp, spectra
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium binary: apt-get install -y chromium (Debian) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright python package is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
                                                   viewport={"width": 1400, "height": 1100})
        yield ctx
        ctx.close()


def _model(page, name: str, expr: str):
    return page.evaluate(f"() => {{ const m = Bokeh.documents[0].get_model_by_name({name!r}); return {expr}; }}")


def _open(browser, url: str):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 "
                           "&& Bokeh.documents[0].get_model_by_name('title') !== null")
    page.wait_for_timeout(300)
    return page, errors


def test_exported_page_navigates_toggles_and_smooths(browser, served_page, tmp_path):
    url, insp, spectra = served_page
    page, errors = _open(browser, url)
    title = lambda: _model(page, "title", "m.text")  # noqa: E731
    assert "mock-000" in title() and "synthetic mock" in title()

    page.get_by_role("button", name="Next >").click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('title').text.includes('mock-001')")
    assert _model(page, "meta_source", "m.data.value[0]") == "mock-001"
    assert "mock-001" in page.locator(".slick-cell").all_inner_texts()  # the table really redrew
    assert _model(page, "index", "m.value") == 2

    # line sets: stellar starts hidden; clicking its checkbox shows it (main and zoom renderers)
    assert _model(page, "lines_stellar", "m.visible") is False
    page.get_by_text("stellar", exact=True).click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('lines_stellar').visible")
    assert _model(page, "zoom_lines_stellar", "m.visible") is True
    assert _model(page, "lines_balmer", "m.visible") is True
    page.get_by_text("balmer", exact=True).click()
    page.wait_for_function("() => !Bokeh.documents[0].get_model_by_name('lines_balmer').visible")

    # smoothing in JavaScript equals spectool.widgets.state.smooth
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('smooth').value = 3; }")
    js_flux = np.array(_model(page, "spec_source", "Array.from(m.data.flux)"), dtype=float)
    s = spectra[1]
    expect = st.smooth(s.flux.astype(np.float32), np.where(s.good, s.ivar, 0).astype(np.float32), 3.0)
    np.testing.assert_allclose(js_flux, expect, rtol=2e-5, atol=1e-6)

    # rest frame at a typed redshift: x = lambda / (1 + z); H alpha marker sits at its rest wavelength
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('ztext').value = '0.2'; }")
    page.get_by_role("button", name="rest", exact=True).click()
    page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('frame').active === 1")
    x = np.array(_model(page, "spec_source", "Array.from(m.data.x)"))
    np.testing.assert_allclose(x, s.wavelength.astype(np.float32) / 1.2, rtol=1e-6)
    assert _model(page, "z", "m.value") == pytest.approx(0.2)

    # template overlay: the best fit shipped with the page is drawn
    model = np.array(_model(page, "spec_source", "Array.from(m.data.model)"), dtype=float)
    np.testing.assert_allclose(model, insp.data.fits(1, 0.0)[0].model, rtol=1e-4, atol=1e-5)

    # hover zoom follows the mouse
    before = _model(page, "zoom_figure", "m.x_range.start")
    box = page.locator(".bk-Canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5)
    page.wait_for_function(f"() => Bokeh.documents[0].get_model_by_name('zoom_figure').x_range.start !== {before}")

    shot = tmp_path / "inspector.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("SPECTOOL_UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG)
    assert not errors, errors
    page.close()


def test_exported_page_filters_and_vi_resume(browser, served_page):
    url, insp, _ = served_page
    page, errors = _open(browser, url)
    # class filter: only A spectra (odd rows) remain; the current object moves to the next A
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('cls').value = 'A'; }")
    assert "mock-001" in _model(page, "title", "m.text") and "of 4 selected" in _model(page, "title", "m.text")
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('cls').value = 'all'; }")
    page.get_by_role("button", name="< Previous").click()
    assert "mock-000" in _model(page, "title", "m.text")
    # VI for the first two objects, kept in localStorage
    for comment in ("first", "second"):
        page.get_by_role("button", name="4 confident").click()
        page.evaluate(f"() => {{ Bokeh.documents[0].get_model_by_name('vicomment').value = {comment!r}; }}")
        page.get_by_role("button", name="Save VI").click()
        page.get_by_role("button", name="Next >").click()
    vi = _model(page, "vi", "m.data")
    assert list(vi["object_id"]) == ["mock-000", "mock-001"] and list(vi["vi_comment"]) == ["first", "second"]
    assert list(vi["vi_quality"]) == [4, 4]
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download VI CSV").click()
    csv = Path(dl.value.path()).read_text()
    assert csv.splitlines()[0] == "object_id,vi_label,vi_quality,vi_comment,timestamp" and '"second"' in csv
    assert not errors, errors
    page.close()
    # reopening resumes at the first object without a VI record
    again, errors = _open(browser, url)
    again.wait_for_function("() => Bokeh.documents[0].get_model_by_name('title').text.includes('mock-002')")
    assert _model(again, "vi", "m.data.object_id.length") == 2
    again.get_by_role("button", name="< Previous").click()
    assert _model(again, "vicomment", "m.value") == "second"  # the form shows the saved record
    assert not errors, errors
    again.close()
