"""Numbers the papers publish, for tables that compare with methods spectool cannot rerun.

Every row here is copied from the seeds (the papers) and is shown as "published values,
not recomputed"; spectool's own rows (measured on the data the user ran) sit beside them
with their source label.
"""
from __future__ import annotations

import pandas as pd

#: SPFusion (seed 002) Table 2: model, data modality, params (M), MAE mass (Msun), MAE age (Gyr).
SPF_TABLE2 = pd.DataFrame(
    [
        ("ResNet10T", "P", 4.95, 0.1375, 1.2747),
        ("GhostNet V2", "P", 1.26, 0.1366, 1.2919),
        ("ConvNeXt Pico", "P", 8.56, 0.1360, 1.2875),
        ("MobilenetV4 S", "P", 1.31, 0.1357, 1.2711),
        ("EfficientViT B0", "P", 0.69, 0.1356, 1.2871),
        ("MobileViT XXS", "P", 0.97, 0.1353, 1.2934),
        ("Metaformer S12", "P", 11.43, 0.1351, 1.3218),
        ("ConvNeXtV2 Pico", "P", 8.58, 0.1348, 1.2729),
        ("SSCNN", "S", 0.75, 0.1072, 0.9656),
        ("RAC-Net", "S", 0.76, 0.0809, 0.8786),
        ("ConvNeXt 1D", "S", 0.57, 0.0694, 0.7938),
        ("SPFusion", "S&P", 0.94, 0.0640, 0.7456),
    ],
    columns=["model", "modality", "params_M", "mae_mass", "mae_age"],
)

#: SCA-Net (seed 004) Table 3: MAE of Teff (K), log g (dex), [Fe/H] (dex).
SCA_TABLE3 = pd.DataFrame(
    [("GSN", 80.00, 0.14, 0.07), ("DCN", 97.21, 0.28, 0.13), ("SCA-Net (M-M-T-T)", 71.07, 0.04, 0.04)],
    columns=["method", "mae_teff", "mae_logg", "mae_feh"],
)

#: MSPC-Net (seed 000) Table 3 / 4 / 6 mean accuracies of MSPC-Net (%), quoted in captions.
MSPC_HEADLINE = {
    "mspc-tab3": "paper: MSPC-Net 87.74 / 90.06 / 89.45 / 90.78 % accuracy on SC-S>5 / SC-S>10 / SC-L>5 / SC-L>10",
    "mspc-tab4": "paper: MSPC-Net 82.58 / 85.79 / 71.67 / 74.93 % accuracy on SS-S>5 / SS-S>10 / SS-L>5 / SS-L>10",
    "mspc-tab6": "paper: MSPC-Net 60.93 / 72.24 % accuracy on FC-S / FC-L",
}

PUBLISHED = "published values, not recomputed"
