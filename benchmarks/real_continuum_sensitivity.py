"""Is the mock-trained classifiers' error on real stars in the continuum or in the lines?

On the 78 real A-M stars of ``../shared/data/real/validation`` (all LAMOST), every shipped
full-classification checkpoint confuses one MK type with the next cooler one (A as F, F as
G, G as K; ``benchmarks/results/real_spectra.json``). A continuum redder than the mock's
(interstellar reddening, LAMOST's relative flux calibration) would do that. This script
dereddens (E(B-V) > 0) or reddens (E(B-V) < 0) every real star with the Fitzpatrick (1999)
law, R_V = 3.1, before prediction, and records for each checkpoint and E(B-V):

* the main-class accuracy on the stars (``pred_main_class`` against the catalogue's type);
* the mean class shift, in MK types, of the answers (+1 = one type cooler);
* the share of answers that are one type cooler than the catalogue's.

If the shift fell as the stars are dereddened, the continuum would be the cause. Written to
``benchmarks/results/real_continuum_sensitivity.json``. The checkpoints were trained on
synthetic mock data only; the spectra are real. A diagnostic of what the mock lacks, not a
recipe: nothing here is fitted to the validation files.

    python benchmarks/real_continuum_sensitivity.py [--only 'convnext1d*'] [--root DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import spectool  # noqa: E402
from benchmarks.real_spectra import DEFAULT_ROOT, load_real_set  # noqa: E402
from spectool._atomic import atomic_write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "real_continuum_sensitivity.json"
ORDER = "OBAFGKM"
#: E(B-V) (mag) removed from every real star before prediction; negative values add reddening.
EBV = (-0.2, 0.0, 0.1, 0.2, 0.3, 0.5)


def dereddened(spec, ebv: float):
    """``spec`` with E(B-V) = ``ebv`` mag of Fitzpatrick (1999) R_V = 3.1 extinction removed
    (``ebv`` < 0: added). Wavelengths are taken as given (Angstrom; the law varies slowly
    enough that vacuum vs air does not matter)."""
    import extinction

    if ebv == 0:
        return spec
    w = np.clip(np.asarray(spec.wavelength, float), 1000.0, 30000.0)
    a_lambda = extinction.fitzpatrick99(w, 3.1 * abs(ebv), 3.1)
    return dataclasses.replace(spec, flux=np.asarray(spec.flux, float) * 10 ** (0.4 * np.sign(ebv) * a_lambda))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="*-mock-fc", help="checkpoint name pattern (default: *-mock-fc)")
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if not (Path(args.root) / "manifest.csv").is_file():
        sys.exit(f"no validation set at {args.root} (../shared is not here)")
    data = load_real_set(args.root)
    man = data.manifest
    stars = [i for i, c in enumerate(man["main_class"]) if c in ("A", "F", "G", "K", "M")
             and not isinstance(data.inputs[i], Path)]
    truth = man["main_class"].to_numpy()[stars]
    names = [n for n in spectool.models.list_pretrained() if fnmatch.fnmatch(n, args.only)
             and spectool.models.pretrained_card(n).get("task") == "classification"]
    out = {"what": "main-class accuracy of mock-trained checkpoints on real A-M stars dereddened by E(B-V) "
                   "(negative: reddened), Fitzpatrick 1999 R_V 3.1; class shift + = cooler",
           "n_stars": len(stars), "ebv": list(EBV), "models": {}}
    t0 = time.time()
    for name in names:
        rows = []
        for ebv in EBV:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = spectool.predict(name, [dereddened(data.inputs[i], ebv) for i in stars], progress=False)
            got = pred["pred_main_class"].astype(str).to_numpy()
            steps = np.array([ORDER.index(p) - ORDER.index(t) if p in ORDER else np.nan for t, p in zip(truth, got)])
            row = {"ebv": ebv, "accuracy": round(float(np.mean(got == truth)), 4),
                   "mean_class_shift": round(float(np.nanmean(steps)), 3),
                   "one_type_cooler": round(float(np.mean(steps == 1)), 4)}
            rows.append(row)
            print(f"{name:26s} E(B-V) {ebv:+.1f} removed: accuracy {row['accuracy']:.3f}, mean shift "
                  f"{row['mean_class_shift']:+.2f} types, one type cooler {row['one_type_cooler']:.3f}", flush=True)
        out["models"][name] = rows
    out["seconds"] = round(time.time() - t0, 1)
    atomic_write_text(Path(args.out), json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
