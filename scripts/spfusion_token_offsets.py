"""Why might SPFusion's plain-sum ablation not learn? Token statistics at initialisation.

For the slim SPFusion of the CPU modes (``spectool.papers._context.SLIM``), with the star
operator and with the plain sum (Table 3's ablation), this prints for the spectral,
photometric and fused token maps (B, 32, 28) of 64 training stars of the red-clump mock at
8 x its quick size: the star-to-star spread of each token (averaged over its 28 positions),
the offset common to all stars, their ratio, and the largest |correlation| of a token with
mass. Synthetic mock data; numbers quoted in ``docs/mock_survey.md``.

    python scripts/spfusion_token_offsets.py
"""
from __future__ import annotations

import numpy as np
import torch

from spectool import datasets, models
from spectool.datasets.presets import preset
from spectool.mock.build import build_preset
from spectool.papers._context import SLIM


def main(n: int = 64, seed: int = 0) -> None:
    torch.manual_seed(seed)
    store = build_preset(preset("spfusion/redclump"), size="quick", seed=seed, scale=8).path
    tds = datasets.load("spfusion/redclump", source=str(store)).torch("train")
    items = [tds[int(i)] for i in np.random.default_rng(seed).permutation(len(tds))[:n]]
    x = torch.stack([torch.as_tensor(it["x"]) for it in items]).float()
    x = x[:, None] if x.ndim == 2 else x
    image = torch.stack([torch.as_tensor(it["image"]) for it in items]).float()
    mass = torch.stack([torch.as_tensor(it["y"]) for it in items]).float()[:, 0]
    for fusion in ("star", "add"):
        model = models.create("spfusion", fusion=fusion, **SLIM["spfusion"]).train()
        with torch.no_grad():
            s, p = model.spectral(x), model.photometric(image)
            maps = {"spectral": s, "photometric": p, "fused": model.fusion(s, p)}
        for name, t in maps.items():
            per_star = t.mean(-1)  # (B, 32): each token averaged over its positions
            spread = per_star.std(0).mean().item()
            offset = per_star.mean(0).abs().mean().item()
            centred, m = per_star - per_star.mean(0), mass - mass.mean()
            corr = (centred * m[:, None]).sum(0) / (centred.norm(dim=0) * m.norm() + 1e-12)
            print(f"{fusion:4s} {name:11s} star-to-star spread {spread:.3g}  common offset {offset:.3g}  "
                  f"spread/offset {spread / offset:.3f}  max |corr with mass| {corr.abs().max():.2f}")


if __name__ == "__main__":
    main()
