"""Dataset presets mirroring the papers' datasets (names, classes, targets, splits).

The numbers come from the seeds and ``shared/docs/reference-facts-*.md``:
MSPC-Net uses 2000 spectra per class, 5 folds, train:val:test 6:2:2; SPFusion
uses 3 folds with the non-test part split 7:3; SCA-Net uses an AFGK set with
S/N > 25, 8913 training and 20000 test spectra and 10% of train as validation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DatasetError

SC_S = ["O", "B", "A", "F", "G", "K", "M"]
SC_L = ["B", "A", "F", "G", "K", "M"]
SS_S5 = ["A0", "A2", "A4", "F0", "F2", "F3", "F5", "F8", "F9", "G0", "G2", "G4", "G5", "G8",
         "K0", "K1", "K3", "K5", "K7", "M0", "M1", "M2", "M3", "M4", "M5"]
SS_S10 = [c for c in SS_S5 if c != "A4"]
# LAMOST subclass vocabulary (LAMOST DR pipeline uses MK subclasses A0..M4 here): 37 classes.
SS_L = ["A0", "A1", "A2", "A3", "A5", "A6", "A7", "F0", "F2", "F3", "F4", "F5", "F6", "F7", "F9",
        "G0", "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9",
        "K0", "K1", "K2", "K3", "K4", "K5", "K7", "M0", "M1", "M2", "M3", "M4"]

# FC sets (the paper lists 54 / 52 stellar + GALAXY + QSO and 49 classes but not the names): spectool's choice of
# SDSS-like (Indo-US template letters) and LAMOST-like subclasses that the mock survey can model.
FC_S = ["GALAXY", "QSO", "O", "B0", "B1", "B2", "B3", "B5", "B6", "B7", "B8", "B9",
        "A0", "A1", "A2", "A3", "A4", "A5", "A6", "A8", "A9", "F0", "F2", "F3", "F5", "F6", "F8", "F9",
        "G0", "G1", "G2", "G3", "G4", "G5", "G8", "G9", "K0", "K1", "K2", "K3", "K4", "K5", "K7",
        "M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "B4", "F7"]
FC_L = ["GALAXY", "QSO", "O", "B5", "B6", "B9", "A9", "F8", "M5", "M6", "M7", "M8"] + SS_L


def _abundance(classes: list[str], galaxy: float, qso: float) -> dict[str, float]:
    """Relative abundance per class: galaxies and QSOs as given, stars sharing the rest with
    weights rising from O/B (rare) to F/G/K (common) and falling through late M."""
    letter_weight = {"O": 0.02, "B": 0.08, "A": 0.5, "F": 2.0, "G": 2.2, "K": 1.8, "M": 0.9}
    stars = [c for c in classes if c not in ("GALAXY", "QSO")]
    w = {c: letter_weight[c[0]] * (0.35 if c[0] == "M" and c[1:].isdigit() and int(c[1:]) >= 5 else 1.0) for c in stars}
    total = sum(w.values())
    out = {c: (1.0 - galaxy - qso) * v / total for c, v in w.items()}
    out.update(GALAXY=galaxy, QSO=qso)
    return {c: out[c] for c in classes}


@dataclass(frozen=True)
class Preset:
    """What a dataset is: task, labels, preprocessing, splits and sizes.

    ``per_class`` (classification) or ``n_total`` (regression) give the full
    (paper) size; ``quick`` gives the tiny CPU size. ``class_counts`` optionally
    sets an imbalanced relative abundance (FC sets).
    """

    name: str
    paper: str  # "mspcnet", "spfusion", "scanet"
    task: str  # "classification" | "regression"
    survey: str  # "sdss" | "lamost"
    preprocess: str  # "mspcnet" | "spfusion" | "scanet"
    class_names: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    snr_min: float = 0.0
    n_folds: int = 5
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    per_class: int = 2000
    quick_per_class: int = 40
    n_total: int = 0
    quick_total: int = 0
    images: bool = False
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """File-system safe name: ``mspc/SS-S>5`` -> ``mspc_SS-S_gt5``."""
        return self.name.replace("/", "_").replace(">", "_gt")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _mspc(name: str, survey: str, classes: list[str], snr: float, desc: str, **kw) -> Preset:
    return Preset(name=f"mspc/{name}", paper="mspcnet", task="classification", survey=survey,
                  preprocess="mspcnet", class_names=tuple(classes), snr_min=snr, description=desc, **kw)


PRESETS: dict[str, Preset] = {}
for _p in [
    _mspc("SC-S>5", "sdss", SC_S, 5, "SDSS stellar classes O-M, S/N > 5"),
    _mspc("SC-S>10", "sdss", SC_S, 10, "SDSS stellar classes O-M, S/N > 10"),
    _mspc("SC-L>5", "lamost", SC_L, 5, "LAMOST stellar classes B-M, S/N > 5"),
    _mspc("SC-L>10", "lamost", SC_L, 10, "LAMOST stellar classes B-M, S/N > 10"),
    _mspc("SS-S>5", "sdss", SS_S5, 5, "SDSS stellar subclasses (25), S/N > 5"),
    _mspc("SS-S>10", "sdss", SS_S10, 10, "SDSS stellar subclasses (24, no A4), S/N > 10"),
    _mspc("SS-L>5", "lamost", SS_L, 5, "LAMOST stellar subclasses (37), S/N > 5"),
    _mspc("SS-L>10", "lamost", SS_L, 10, "LAMOST stellar subclasses (37), S/N > 10"),
    # FC sets: every class, imbalanced like a random survey draw, no S/N cut.
    _mspc("FC-S", "sdss", FC_S, 0, "SDSS full classification: 54 classes incl. GALAXY and QSO, imbalanced, low S/N",
          n_total=108000, quick_total=2160, extra={"abundance": _abundance(FC_S, galaxy=0.30, qso=0.12), "snr_median": 8.0}),
    _mspc("FC-L", "lamost", FC_L, 0, "LAMOST full classification: 49 classes incl. GALAXY and QSO, imbalanced, low S/N",
          n_total=98000, quick_total=1960, extra={"abundance": _abundance(FC_L, galaxy=0.04, qso=0.02), "snr_median": 25.0}),
    Preset(name="spfusion/redclump", paper="spfusion", task="regression", survey="lamost", preprocess="spfusion",
           targets=("mass", "age"), n_folds=3, split=(0.7, 0.3, 0.0), n_total=55697, quick_total=300, images=True,
           description="Red-clump stars: LAMOST spectra + SDSS g,r,i cutouts; mass (Msun) and age (Gyr); 3 folds"),
    Preset(name="scanet/AFGK", paper="scanet", task="regression", survey="lamost", preprocess="scanet",
           targets=("teff", "logg", "feh"), snr_min=25, n_folds=1, split=(0.9, 0.1, 0.0), n_total=28913,
           quick_total=400, description="LAMOST AFGK stars, S/N > 25: 8913 train (10% val) + 20000 test; Teff (K), log g (dex), [Fe/H] (dex)",
           extra={"n_train": 8913, "n_test": 20000}),
    # not in the paper: the same layout over the A-M stars a survey user meets (a Teff regressor trained on
    # 4000-8400 K cannot return the temperature of an A or M star)
    Preset(name="scanet/AM", paper="scanet", task="regression", survey="lamost", preprocess="scanet",
           targets=("teff", "logg", "feh"), snr_min=25, n_folds=1, split=(0.9, 0.1, 0.0), n_total=28913,
           quick_total=400, description="spectool extension, not in the SCA-Net paper: LAMOST A-M stars, "
           "Teff 3200-10000 K, S/N > 25, the AFGK set's layout; Teff (K), log g (dex), [Fe/H] (dex)",
           extra={"n_train": 8913, "n_test": 20000, "teff_range": (3200.0, 10000.0)}),
]:
    PRESETS[_p.name] = _p


def preset(name: str) -> Preset:
    """The preset called ``name`` (a :class:`~spectool.errors.DatasetError` lists the valid names)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(PRESETS)}") from None


def list_presets(pattern: str = "") -> list[str]:
    return [n for n in PRESETS if pattern in n]
