"""Quick-mode cross-validation: MSPC-Net vs SSCNN, RAC-Net and ConvNeXt-1D on the synthetic
mock SS-S>5 set, 5 folds, printed in the shape of MSPC-Net Table 4 (accuracy and F1-score
per fold, Avg, Std). Mock data: the numbers say nothing about real SDSS spectra.

    python scripts/quick_cv.py [--root runs] [--jobs 2] [--fresh]

The timing and table are also written to benchmarks/results/quick_cv.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from spectool.train import cross_validate, load_experiment
from spectool.train.cv import slug

EXPERIMENT = "mspc_table4_quick"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("runs"), help="parent of the experiment directory")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained in parallel processes")
    ap.add_argument("--fresh", action="store_true", help="delete earlier results of this experiment first")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/quick_cv.json"))
    args = ap.parse_args()
    exp = load_experiment(EXPERIMENT)
    if args.fresh:
        shutil.rmtree(args.root / slug(exp.name), ignore_errors=True)
    t0 = time.time()
    res = cross_validate(exp, root=args.root, jobs=args.jobs)
    wall = time.time() - t0
    table = res.table()
    print(f"\n{exp.description}\n")
    print(table.to_string())
    print(f"\n{len(res.results)} runs in {wall:.0f} s wall ({wall / 60:.1f} min), jobs={args.jobs}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"experiment": EXPERIMENT, "wall_seconds": round(wall, 1), "jobs": args.jobs,
                                    "runs": len(res.results), "synthetic": True,
                                    "table": json.loads(table.to_json(orient="split"))}, indent=2))


if __name__ == "__main__":
    main()
