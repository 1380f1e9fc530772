"""Do real stars of one MK class have the line strengths of mock stars of that class? (issue 15)

The classifiers trained on the mock type real LAMOST stars about one class late (F->G, G->K,
M->K), and ``scanet_mmtt-mock-afgk`` gives real G stars K-dwarf temperatures. A continuum
randomisation cannot cause or cure that if the *lines* of a real G star look like those of a
mock K star. This script measures continuum-independent band depths, so flux calibration and
reddening drop out to first order:

    depth = 1 - <F(line band)> / <continuum>,  continuum = straight line through the means of a
    blue and a red side band (Lick-style bandpasses, converted to vacuum Angstrom)

for the real LAMOST A-M stars of ``../shared/data/real/validation`` (pipeline labels) and for
noise-free synthetic mock-v2 LAMOST stars of the same classes (mock population of the
checkpoints' training sets: :func:`spectool.mock.stars.draw_subclass_labels`, giant fraction
0.15 as in the SDSS-style presets). Real spectra are shifted to rest frame with the file's Z.
Writes ``docs/img/mock_line_indices.png`` and ``benchmarks/results/mock_line_indices.json``.
The real spectra are only measured; nothing is fitted to them.

Subtype offsets: mock stars of every subtype A0-M8 (40 each) give the median of a temperature
index per subtype: the Balmer depth (mean of H beta and H alpha) from A2 to K7, where it falls
monotonically, and TiO 7100 from K5 to M8. Each real star's index, read on that sequence, gives
the mock subtype whose lines it has; the offset from its pipeline subtype (in subtypes, + =
later) says whether real stars of a class have the lines of later mock stars. The same is
measured on the dwarf (luminosity class V / IV) stars of the SDSS stellar templates
(``../shared/data/templates/spEigenStar-55734.fits``: observed library stars with literature MK
types), an independent reference for what a labelled subtype's lines look like.

    python scripts/mock_line_indices.py
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spectool.mock.generate import generate_stars  # noqa: E402
from spectool.mock.spectype import DWARF_TEFF  # noqa: E402
from spectool.mock.stars import POPULATION, draw_subclass_labels  # noqa: E402
from spectool.wavelength import air_to_vacuum  # noqa: E402
from spectool.widgets.templates import read_sdss_templates  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["A", "F", "G", "K", "M"]
NAMES = [n for n, _ in DWARF_TEFF]
#: name: (blue side band, line band, red side band), air Angstrom (Lick / Worthey et al. 1994 for
#: Hbeta, Mg b, Fe5270, Na D, G band; H alpha and TiO chosen here, wide enough for R ~ 1800).
BANDS = {
    "G band 4300": ((4266.4, 4282.6), (4281.4, 4316.4), (4318.9, 4335.1)),
    "H beta": ((4827.9, 4847.9), (4847.9, 4876.6), (4876.6, 4891.6)),
    "Mg b": ((5142.6, 5161.4), (5160.1, 5192.6), (5191.4, 5206.4)),
    "Fe 5270": ((5233.2, 5248.2), (5245.7, 5285.7), (5285.7, 5318.2)),
    "Na D": ((5860.6, 5875.6), (5876.9, 5909.4), (5922.1, 5948.1)),
    "H alpha": ((6510.0, 6540.0), (6553.0, 6573.0), (6590.0, 6620.0)),
    "TiO 7100": ((7020.0, 7050.0), (7060.0, 7150.0), (7400.0, 7440.0)),
}


def depth(wave: np.ndarray, flux: np.ndarray, good: np.ndarray, band) -> float:
    """Fractional band depth (dimensionless; NaN when a band has fewer than 3 good pixels)."""
    means = []
    for lo, hi in air_to_vacuum(np.asarray(band, float)):
        sel = good & (wave >= lo) & (wave <= hi)
        if sel.sum() < 3:
            return float("nan")
        means.append((float(np.mean(flux[sel])), float(np.mean(wave[sel]))))
    (fb, wb), (fl, wl), (fr, wr) = means
    cont = fb + (fr - fb) * (wl - wb) / (wr - wb)
    return 1.0 - fl / cont if cont > 0 else float("nan")


def indices(wave, flux, good) -> dict[str, float]:
    return {k: depth(wave, flux, good, b) for k, b in BANDS.items()}


def subtype_rank(name: str) -> float | None:
    """Rank of an MK subtype on the mock's dwarf scale (``"dM1"``, ``"K5V"``, ``"G0.5IV"`` -> rank of
    M1, K5, G0); None for anything else."""
    m = re.match(r"^(?:sd|d|g)?([OBAFGKM])(\d+)", name or "")
    core = f"{m.group(1)}{int(m.group(2))}" if m else ""
    return float(NAMES.index(core)) if core in NAMES else None


def mock_indices(subclasses: np.ndarray, rng: np.random.Generator) -> list[dict[str, float]]:
    """Band depths of noise-free mock LAMOST stars (S/N 50, mock population) of ``subclasses``."""
    lab = draw_subclass_labels(subclasses, NAMES, rng, giant_fraction=POPULATION.giant_fraction("sdss"))
    obs, _ = generate_stars(lab[["teff", "logg", "feh"]], "lamost", np.full(len(lab), 50.0), rng)
    w = np.asarray(obs.wave, float)
    return [indices(w, m, np.isfinite(m)) for m in np.asarray(obs.model, float)]


def mock_sequence(rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{index: (ranks, median index per subtype)} over the monotonic range of each index."""
    names = NAMES
    subs = np.repeat(names[names.index("A0"):names.index("M8") + 1], 40)
    idx = mock_indices(subs, rng)
    balmer = np.array([(d["H beta"] + d["H alpha"]) / 2 for d in idx])
    tio = np.array([d["TiO 7100"] for d in idx])
    ranks = np.array([names.index(s) for s in subs], float)
    out = {}
    for key, val, lo, hi in (("balmer", balmer, "A2", "K7"), ("tio", tio, "K5", "M8")):
        r = np.arange(names.index(lo), names.index(hi) + 1, dtype=float)
        med = np.array([np.median(val[ranks == k]) for k in r])
        # Balmer falls, TiO rises with rank: make the medians strictly monotonic for interpolation
        med = np.minimum.accumulate(med) if key == "balmer" else np.maximum.accumulate(med)
        out[key] = (r, med)
    return out


def equivalent_rank(value: float, seq: tuple[np.ndarray, np.ndarray], falling: bool) -> float:
    r, med = seq
    return float(np.interp(-value, -med, r) if falling else np.interp(value, med, r))


TEMPLATES = ROOT / ".." / "shared" / "data" / "templates" / "spEigenStar-55734.fits"


def template_dwarfs() -> list[tuple[str, float, dict]]:
    """(name, rank, indices) of the luminosity class V / IV A-M stars of the SDSS stellar templates
    (vacuum, rest frame, SDSS resolution); empty when the file is absent."""
    if not TEMPLATES.is_file():
        return []
    out = []
    for t in read_sdss_templates(TEMPLATES):
        name, flux = t.name.split(" (")[0], t.basis[0]
        m = re.match(r"^([AFGKM]\d(?:\.\d)?)(.*)$", name)
        if not m or "I" in m.group(2).replace("IV", "").replace("V", "") or not re.search(r"IV|V", m.group(2)):
            continue
        rank = subtype_rank(m.group(1))
        if rank is not None:
            out.append((name, rank, indices(t.wavelength, flux, np.isfinite(flux) & (flux > 0))))
    return out


def main() -> None:
    man, spectra = eval_real.load_real()
    real: dict[str, list[dict]] = {c: [] for c in CLASSES}
    for (_, row), s in zip(man.iterrows(), spectra):
        if row["main_class"] not in CLASSES or row["survey"] != "LAMOST":
            continue
        w = np.asarray(s.wavelength, float) / (1.0 + float(row["z"]))
        f = np.asarray(s.flux, float)
        good = np.isfinite(f)
        if s.ivar is not None:
            good &= np.asarray(s.ivar) > 0
        if s.mask is not None:
            good &= ~np.asarray(s.mask, bool)
        d = indices(w, f, good)
        d["rank"] = subtype_rank(str(row["subclass"]))
        real[row["main_class"]].append(d)
    rng = np.random.default_rng(0)
    mock: dict[str, list[dict]] = {}
    for c in CLASSES:
        subs = np.array([rng.choice([s for s in NAMES if s[0] == c and s != "M9"]) for _ in range(200)])
        mock[c] = mock_indices(subs, rng)
    out = {"what": "continuum-independent band depths (1 - line/continuum), real LAMOST validation stars "
                   "(pipeline MK class) vs noise-free synthetic mock v2 LAMOST stars of the same class",
           "bands_air_angstrom": {k: v for k, v in BANDS.items()}, "classes": {}}
    seq = mock_sequence(rng)
    names = NAMES
    out["subtype_offset"] = {"what": "mock subtype whose median temperature index the real star has, minus its "
                                     "pipeline subtype (subtypes; + = the real star has the lines of a later mock "
                                     "star). A-K: Balmer depth (A2-K7 sequence), M: TiO 7100 (K5-M8)", "classes": {}}
    for c in CLASSES:
        offs = []
        for d in real[c]:
            if d["rank"] is None:
                continue
            if c == "M":
                eq = equivalent_rank(d["TiO 7100"], seq["tio"], falling=False)
            else:
                eq = equivalent_rank((d["H beta"] + d["H alpha"]) / 2, seq["balmer"], falling=True)
            offs.append(eq - d["rank"])
        offs = np.array(offs)
        out["subtype_offset"]["classes"][c] = {
            "n": int(offs.size), "median": round(float(np.median(offs)), 1),
            "p16_p84": [round(float(v), 1) for v in np.percentile(offs, [16, 84])],
            "mock_sequence_ends": [names[int(seq["tio" if c == "M" else "balmer"][0][0])],
                                   names[int(seq["tio" if c == "M" else "balmer"][0][-1])]]}
    tmpl = []
    for name, rank, d in template_dwarfs():
        c = name[0]
        val, falling = (d["TiO 7100"], False) if c == "M" else ((d["H beta"] + d["H alpha"]) / 2, True)
        eq = equivalent_rank(val, seq["tio" if c == "M" else "balmer"], falling)
        tmpl.append({"template": name, "offset": round(eq - rank, 1)})
    out["subtype_offset"]["sdss_templates"] = tmpl
    out["subtype_offset"]["sdss_templates_median"] = {
        c: round(float(np.median([t["offset"] for t in tmpl if t["template"][0] == c])), 1)
        for c in CLASSES if any(t["template"][0] == c for t in tmpl)}
    fig, axes = plt.subplots(1, len(BANDS), figsize=(2.3 * len(BANDS), 3.3))
    for ax, name in zip(axes, BANDS):
        for i, c in enumerate(CLASSES):
            m = np.array([d[name] for d in mock[c]])
            r = np.array([d[name] for d in real[c]])
            q = np.nanpercentile(m, [16, 50, 84])
            ax.plot([i - 0.12] * 2, [q[0], q[2]], color="tab:red", lw=3, alpha=0.6)
            ax.plot(i - 0.12, q[1], "s", color="tab:red", ms=4)
            ax.plot(np.full(r.size, i + 0.12) + rng.uniform(-0.05, 0.05, r.size), r, ".", color="k", ms=3)
            out["classes"].setdefault(c, {"n_real": int(len(real[c])), "n_mock": int(len(mock[c]))})[name] = {
                "real_median": round(float(np.nanmedian(r)), 4) if r.size else None,
                "mock_median": round(float(q[1]), 4), "mock_p16_p84": [round(float(q[0]), 4), round(float(q[2]), 4)]}
        ax.set_xticks(range(len(CLASSES)), CLASSES)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("MK class")
    axes[0].set_ylabel("band depth 1 - F_line / F_cont")
    fig.suptitle("Line strengths per MK class: real LAMOST validation stars (black dots) vs synthetic mock v2 "
                 "(red: median and 16-84 %)", fontsize=9)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "img" / "mock_line_indices.png", dpi=80)
    (ROOT / "benchmarks" / "results" / "mock_line_indices.json").write_text(json.dumps(out, indent=1) + "\n")
    print("subtype offsets", out["subtype_offset"]["classes"])
    print("SDSS template dwarfs", out["subtype_offset"]["sdss_templates_median"], tmpl)
    for c in CLASSES:
        print(c, out["classes"][c]["n_real"], {k: (v["real_median"], v["mock_median"])
                                             for k, v in out["classes"][c].items() if isinstance(v, dict)})


if __name__ == "__main__":
    main()
