"""Build a SpectrumInspector on the quick synthetic mock survey and export a standalone page.

Usage::

    python scripts/inspector_example.py [--out inspector.html] [--n 40] [--model mspcnet_sdss]

In JupyterLab, display ``insp`` (the last expression of a cell) to get the live widget;
the HTML page works offline in any browser (no kernel). The data are a *synthetic mock*.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from spectool.datasets import load
from spectool.models import create
from spectool.widgets import DisplayOptions, SpectrumInspector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("inspector.html"), help="HTML page to write")
    parser.add_argument("--n", type=int, default=40, help="spectra embedded in the page")
    parser.add_argument("--model", default=None,
                        help="optional spectool model name (untrained weights unless pretrained) for probabilities")
    parser.add_argument("--vi", type=Path, default=None, help="visual-inspection CSV (resumes where you left off)")
    args = parser.parse_args()

    ds = load("mspc/SC-S>5", size="quick")  # synthetic mock survey, O-M classes
    model = None
    if args.model:
        model = create(args.model, num_classes=len(ds.class_names))
        model.output_names = list(ds.class_names)
    insp = SpectrumInspector(ds, model=model, templates="auto", vi_file=args.vi,
                             options=DisplayOptions(smoothing=1.0, line_sets=("balmer", "stellar"), template_rank=0))
    print(insp)
    path = insp.to_html(args.out, max_objects=args.n, title=f"spectool inspector: {ds.name} (synthetic mock)")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
