"""Downloads: URL patterns, safety policy, and the engine against a loopback server.

No test contacts a non-loopback address: remote URLs are only built and checked,
and every transfer goes to ``tests/http_fixture_server.py`` on 127.0.0.1.
"""
from __future__ import annotations

import bz2
import hashlib
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from http_fixture_server import FixtureServer  # noqa: E402

from spectool.download import (DownloadOptions, DownloadTask, align_cutout, download_lamost_spectra,  # noqa: E402
                               download_sdss_spectra, fetch, fetch_many, lamost_spectrum_url, parse_spec_id,
                               sdss_cutout, sdss_frame_url, sdss_spectrum_urls)
from spectool.errors import DownloadError, InvalidImageError, MissingDataError, UnsafeInputError  # noqa: E402
from spectool.safety import check_url  # noqa: E402

RNG = np.random.default_rng(20240611)
BLOB = RNG.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
SMALL = b"SIMPLE  =                    T" + bytes(range(256)) * 8
FAST = DownloadOptions(retries=2, backoff=0.01, max_backoff=0.05, timeout=5, deadline=20,
                       allow_insecure_localhost=True, progress=False)


@pytest.fixture
def online(monkeypatch):
    """conftest sets $SPECTOOL_OFFLINE=1 for every test; these tests talk to 127.0.0.1 only."""
    monkeypatch.delenv("SPECTOOL_OFFLINE", raising=False)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------------ URL patterns
def test_sdss_url_patterns():
    legacy = sdss_spectrum_urls(324, 51616, 159)
    assert legacy[0] == ("https://data.sdss.org/sas/dr17/sdss/spectro/redux/26/spectra/lite/0324/"
                         "spec-0324-51616-0159.fits")
    assert [u.split("/redux/")[1].split("/")[0] for u in legacy] == ["26", "103", "104", "v5_13_2"]
    boss = sdss_spectrum_urls(7166, 56602, 536)
    assert boss[0] == ("https://data.sdss.org/sas/dr17/eboss/spectro/redux/v5_13_2/spectra/lite/7166/"
                       "spec-7166-56602-0536.fits")
    assert "/dr16/eboss/spectro/redux/v5_13_0/" in sdss_spectrum_urls(7166, 56602, 536, "dr16")[0]
    assert "/dr18/spectro/sdss/redux/v5_13_2/" in sdss_spectrum_urls(7166, 56602, 536, "DR18")[0]
    assert sdss_spectrum_urls(324, 51616, 159, run2d="103") == [legacy[1]]
    assert parse_spec_id("spec-0324-51616-0159.fits") == parse_spec_id("324-51616-159") == (324, 51616, 159)
    assert parse_spec_id((324, 51616, 159)) == (324, 51616, 159)
    for bad in ("spec-0324-51616.fits", "hello", "0324-51616-2000"):
        with pytest.raises(DownloadError, match="fiber|SDSS spectrum id"):
            parse_spec_id(bad)
    with pytest.raises(DownloadError, match="release"):
        sdss_spectrum_urls(324, 51616, 159, "dr99")


def test_lamost_and_frame_url_patterns():
    assert lamost_spectrum_url(101001) == "https://www.lamost.org/dr10/v2.0/spectrum/fits/101001"
    assert lamost_spectrum_url("7", "dr9", "v2.0", token="s3cret").endswith("/dr9/v2.0/spectrum/fits/7?token=s3cret")
    with pytest.raises(DownloadError, match="obsid"):
        lamost_spectrum_url("12ab")
    assert sdss_frame_url("g", 756, 3, 200) == ("https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/756/3/"
                                                "frame-g-000756-3-0200.fits.bz2")
    assert "/dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames/301/" in sdss_frame_url("i", 756, 3, 200, "dr18")
    with pytest.raises(DownloadError, match="camcol"):
        sdss_frame_url("g", 756, 7, 200)


# ------------------------------------------------------------------ policy
def test_url_policy_refuses_before_any_network(tmp_path, online):
    check_url("https://data.sdss.org/sas/dr17/x.fits")
    for url, why in [("http://data.sdss.org/sas/x.fits", "https"),
                     ("https://evil.example.com/x.fits", "allow-list"),
                     ("https://user:pw@data.sdss.org/x", "credentials"),
                     ("http://127.0.0.1:9/x", "https")]:
        with pytest.raises(UnsafeInputError, match=why):
            fetch(DownloadTask(url, tmp_path / "x"), DownloadOptions(progress=False))
    assert not any(tmp_path.iterdir())


def test_offline_mode_raises_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTOOL_OFFLINE", "1")
    with FixtureServer(files={"/a": SMALL}, lifetime=20) as srv:
        with pytest.raises(DownloadError, match=r"offline.*SPECTOOL_OFFLINE") as info:
            fetch(DownloadTask(srv.url("a"), tmp_path / "a"), FAST)
        assert srv.url("a") in str(info.value)
        assert srv.requests == []
    with pytest.raises(DownloadError, match="offline"):
        download_sdss_spectra(["0324-51616-0159"], tmp_path, raise_on_error=True,
                              options=DownloadOptions(progress=False))


# ------------------------------------------------------------------ engine
def test_resume_after_drop_404_reported_others_succeed(tmp_path, online):
    files = {"/a.fits": BLOB, "/b.fits": SMALL}
    with FixtureServer(files=files, drop_once={"/a.fits"}, lifetime=30) as srv:
        tasks = [DownloadTask(srv.url("a.fits"), tmp_path / "a.fits", sha256=sha(BLOB), size=len(BLOB)),
                 DownloadTask(srv.url("b.fits"), tmp_path / "b.fits", md5=hashlib.md5(SMALL).hexdigest()),
                 DownloadTask(srv.url("missing.fits"), tmp_path / "missing.fits")]
        t0 = time.monotonic()
        res = fetch_many(tasks, FAST, workers=3)
        assert time.monotonic() - t0 < 10
        a, b, missing = res
        assert (a.status, b.status, missing.status) == ("downloaded", "downloaded", "failed")
        assert (tmp_path / "a.fits").read_bytes() == BLOB and a.resumed and a.attempts == 2
        ranges = [r.range for r in srv.hits("a.fits")]
        # the client keeps whole chunks it received before the drop and resumes from there
        assert ranges[0] is None and 0 < int(ranges[1][6:-1]) <= len(BLOB) // 2
        assert (tmp_path / "b.fits").read_bytes() == SMALL
        assert isinstance(missing.error, DownloadError)
        assert "404" in str(missing.error) and srv.url("missing.fits") in str(missing.error)
        assert not (tmp_path / "missing.fits").exists() and not list(tmp_path.glob("*.part"))
        with pytest.raises(DownloadError, match="1 of 3 downloads failed"):
            fetch_many(tasks, FAST, raise_on_error=True)
        n = len(srv.requests)
        again = fetch_many(tasks[:2], FAST)
        assert [r.status for r in again] == ["skipped", "skipped"] and len(srv.requests) == n


def test_resume_from_part_left_by_killed_run(tmp_path, online):
    dest = tmp_path / "a.fits"
    with FixtureServer(files={"/a.fits": BLOB}, lifetime=20) as srv:
        task = DownloadTask(srv.url("a.fits"), dest, sha256=sha(BLOB))
        task.part.write_bytes(BLOB[:12345])
        r = fetch(task, FAST)
        assert r.resumed and dest.read_bytes() == BLOB and not task.part.exists()
        assert [h.range for h in srv.hits("a.fits")] == ["bytes=12345-"]
        # a .part that already holds every byte: the server answers 416 and the file is finished
        dest.unlink()
        task.part.write_bytes(BLOB)
        assert fetch(task, FAST).status == "downloaded" and dest.read_bytes() == BLOB


def test_stale_part_restarts_and_bad_checksum_fails(tmp_path, online):
    with FixtureServer(files={"/a.fits": BLOB}, lifetime=20) as srv:
        task = DownloadTask(srv.url("a.fits"), tmp_path / "a.fits", sha256=sha(BLOB))
        task.part.write_bytes(b"\0" * 5000)  # stale bytes from another file
        assert fetch(task, FAST).status == "downloaded"
        assert (tmp_path / "a.fits").read_bytes() == BLOB
        assert [h.range for h in srv.hits("a.fits")] == ["bytes=5000-", None]
        wrong = DownloadTask(srv.url("a.fits"), tmp_path / "w.fits", sha256="0" * 64)
        with pytest.raises(DownloadError, match="sha256 mismatch") as info:
            fetch(wrong, FAST)
        assert srv.url("a.fits") in str(info.value)
        assert not wrong.dest.exists() and not wrong.part.exists()
        short = DownloadTask(srv.url("a.fits"), tmp_path / "s.fits", size=10)
        with pytest.raises(DownloadError, match="expected 10"):
            fetch(short, FAST)


def test_retries_are_bounded_and_transient_errors_recover(tmp_path, online):
    with FixtureServer(files={"/flaky": SMALL, "/down": SMALL}, fail_times={"/flaky": 2, "/down": 100},
                       lifetime=20) as srv:
        r = fetch(DownloadTask(srv.url("flaky"), tmp_path / "flaky"), FAST)
        assert r.attempts == 3 and (tmp_path / "flaky").read_bytes() == SMALL
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"gave up after 3 attempts: HTTP 503"):
            fetch(DownloadTask(srv.url("down"), tmp_path / "down"), FAST)
        assert time.monotonic() - t0 < 5 and len(srv.hits("down")) == 3


def test_redirects_are_checked(tmp_path, online):
    with FixtureServer(files={"/b": SMALL}, lifetime=20) as srv:
        srv.redirects = {"/evil": "https://evil.example.com/b", "/plain": "http://data.sdss.org/b",
                         "/ok": srv.url("b")}
        assert fetch(DownloadTask(srv.url("ok"), tmp_path / "ok"), FAST).status == "downloaded"
        for name in ("evil", "plain"):
            with pytest.raises(UnsafeInputError, match="refused redirect"):
                fetch(DownloadTask(srv.url(name), tmp_path / name), FAST)
        assert (tmp_path / "ok").read_bytes() == SMALL and not (tmp_path / "evil").exists()


def test_sdss_fallback_tree_and_lamost_token_redacted(tmp_path, online):
    boss_path = "/dr17/eboss/spectro/redux/v5_13_2/spectra/lite/0324/spec-0324-51616-0159.fits"
    with FixtureServer(files={boss_path: SMALL, "/dr10/v2.0/spectrum/fits/42": BLOB}, lifetime=20) as srv:
        (r,) = download_sdss_spectra(["spec-0324-51616-0159.fits"], tmp_path, base_url=srv.url(""), options=FAST)
        assert r.ok and r.url.endswith(boss_path) and (tmp_path / "spec-0324-51616-0159.fits").read_bytes() == SMALL
        assert len(srv.requests) == 4  # 26, 103, 104 answered 404, then v5_13_2
        ok, bad = download_lamost_spectra([42, 43], tmp_path, token="s3cret", base_url=srv.url(""), options=FAST)
        assert ok.ok and (tmp_path / "lamost-dr10-42.fits.gz").read_bytes() == BLOB
        assert srv.hits("dr10/v2.0/spectrum/fits/42")[0].query == "token=s3cret"
        assert not bad.ok and "s3cret" not in str(bad.error) and "/spectrum/fits/43" in str(bad.error)


# ------------------------------------------------------------------ imaging
def _frame(shape, crval, crpix, rot_deg, star_radec, amp, seed):
    """A synthetic SDSS-like frame: TAN WCS at 0.396"/px, flat noise-free sky and one Gaussian star."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    s = 0.396 / 3600
    t = np.deg2rad(rot_deg)
    w.wcs.cd = s * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    x0, y0 = w.world_to_pixel_values(*star_radec)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sky = 0.01 * (1 + np.random.default_rng(seed).random(shape))
    img = sky + amp * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 2.0**2))
    return img.astype(np.float32), w


def _frames(target, size=260):
    return {"g": _frame((size, size), [150.0, 2.0], [130, 130], 0.0, target, 1.0, 1),
            "r": _frame((size, size), [150.0, 2.0], [137.3, 125.4], 0.7, target, 2.0, 2),
            "i": _frame((size, size), [150.0, 2.0], [121.6, 134.9], -0.4, target, 3.0, 3)}


def _centroid(img, half=7):
    """Background-subtracted centroid (y, x) in a window around the brightest pixel."""
    y, x = np.unravel_index(np.argmax(img), img.shape)
    win = img[y - half: y + half + 1, x - half: x + half + 1] - np.median(img)
    yy, xx = np.mgrid[-half: half + 1, -half: half + 1]
    return np.array([y + (win * yy).sum() / win.sum(), x + (win * xx).sum() / win.sum()])


def test_align_cutout_on_synthetic_frames():
    target = (150.0021, 2.0013)
    frames = _frames(target)
    cube = align_cutout(frames, *target)
    assert cube.shape == (3, 128, 128) and cube.dtype == np.float32
    cents = np.array([_centroid(c) for c in cube])
    assert np.all(np.abs(cents - cents[0]) < 0.15), cents  # bands aligned on g to a fraction of a pixel
    assert np.all(np.abs(cents[0] - 63.5) <= 1.0), cents[0]  # target at the centre
    assert cube[0].max() == frames["g"][0].max()  # g is an exact crop, not resampled
    fluxes = [(c - np.median(c)).sum() for c in cube]
    assert fluxes[1] / fluxes[0] == pytest.approx(2.0, rel=0.03)
    assert fluxes[2] / fluxes[0] == pytest.approx(3.0, rel=0.03)
    with pytest.raises(InvalidImageError, match="not fully inside"):
        align_cutout(frames, *frames["g"][1].pixel_to_world_values(10, 10))
    with pytest.raises(MissingDataError, match="band 'i'"):
        align_cutout({b: frames[b] for b in "gr"}, *target)
    with pytest.raises(InvalidImageError, match="2-D"):
        align_cutout({**frames, "r": (np.zeros(5), frames["r"][1])}, *target)


def test_sdss_cutout_end_to_end_over_loopback(tmp_path, online):
    from astropy.io import fits

    target = (150.0021, 2.0013)
    files = {}
    for band, (img, wcs) in _frames(target).items():
        buf = io.BytesIO()
        fits.PrimaryHDU(img, header=wcs.to_header()).writeto(buf)
        files[f"/dr17/eboss/photoObj/frames/301/756/3/frame-{band}-000756-3-0200.fits.bz2"] = bz2.compress(
            buf.getvalue())
    files["/dr17/SkyServerWS/SearchTools/SqlSearch"] = b'[{"TableName":"Table1","Rows":[{"run":756,"camcol":3,"field":200}]}]'
    with FixtureServer(files=files, lifetime=30) as srv:
        out = tmp_path / "cut.npy"
        cube = sdss_cutout(*target, out, frames_dir=tmp_path / "frames", options=FAST, base_url=srv.url(""),
                           skyserver_url=srv.url(""))
        assert "fGetNearbyObjEq" in srv.hits("dr17/SkyServerWS/SearchTools/SqlSearch")[0].query
    assert cube.shape == (3, 128, 128) and np.array_equal(np.load(out), cube)
    assert len(list((tmp_path / "frames").glob("frame-*.fits.bz2"))) == 3


# ------------------------------------------------------------------ CLI
def test_cli_reports_errors_and_downloads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spectool.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["download", "sdss", "0324-51616-0159", "--dest", str(tmp_path)])
    assert res.exit_code == 2 and "error:" in res.output and "offline" in res.output
    res = runner.invoke(app, ["download", "sdss", "not-an-id", "--dest", str(tmp_path)])
    assert res.exit_code == 2 and "not-an-id" in res.output
    monkeypatch.delenv("SPECTOOL_OFFLINE")
    monkeypatch.setenv("SPECTOOL_ALLOW_INSECURE_LOCALHOST", "1")
    with FixtureServer(files={"/dr10/v2.0/spectrum/fits/42": SMALL}, lifetime=20) as srv:
        args = ["download", "lamost", "42", "43", "--dest", str(tmp_path), "--base-url", srv.url(""),
                "--retries", "0"]
        res = runner.invoke(app, args)
    assert res.exit_code == 2 and "1 downloaded, 0 skipped, 1 failed" in res.output and "404" in res.output
    assert (tmp_path / "lamost-dr10-42.fits.gz").read_bytes() == SMALL
