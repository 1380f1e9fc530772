"""Catalogue and label tables of the papers' data layouts, read into one DataFrame per dataset.

Every function returns a table with one row per spectrum: ``object_id`` (str,
unique), the label (``label``) or target columns, ``snr`` when known, the file
path(s) to read (``path``, and ``image_path`` for SPFusion) and one ``fold_k``
column per fold (k = 0, 1, ...) holding "train" / "val" / "test" ("" when the
spectrum is in no split of that fold).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import LabelError, MissingDataError, SpectoolWarning

SPLITS = ("train", "val", "test")
ID_COLUMNS = ("object_id", "basename", "obsid", "filename", "file", "id")
MK_ORDER = "OBAFGKMLT"
#: Column aliases of the SPFusion label.csv and SCA-Net catalogues -> spectool target names.
TARGET_ALIASES = {
    "teff": ("teff", "teff_k"), "logg": ("logg", "logg_cm_s2", "log_g"), "feh": ("feh", "feh_dex", "[fe/h]", "fe_h"),
    "mass": ("mass", "mass_msun"), "age": ("age", "age_gyr"),
}


def read_csv(path: str | Path) -> pd.DataFrame:
    """A catalogue CSV with ``#`` comment lines, stripped column names and string cells."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError("catalogue file not found", path)
    try:
        df = pd.read_csv(path, comment="#", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot parse CSV: {exc}", path) from exc
    df.columns = [str(c).strip() for c in df.columns]
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
    return df


def _find(df: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    low = {c.lower(): c for c in df.columns}
    return next((low[c] for c in candidates if c in low), None)


def _check_ids(ids: pd.Series, path: Path) -> None:
    if ids.isna().any() or (ids.astype(str).str.len() == 0).any():
        raise LabelError(f"{int(ids.isna().sum())} row(s) have a missing id", path)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise LabelError(f"duplicate id {dup.iloc[0]!r} ({len(dup)} duplicated row(s))", path)


def read_labels(path: str | Path, classes: Sequence[str] | None = None, id_column: str | None = None,
                label_column: str = "label") -> pd.DataFrame:
    """A classification label table: columns ``object_id`` and ``label`` (+ the others, unchanged).

    Raises :class:`~spectool.errors.LabelError` naming the file for a missing id or
    label column, blank labels, duplicate ids, or labels outside ``classes``.
    """
    path = Path(path)
    df = read_csv(path)
    idc = id_column or _find(df, ID_COLUMNS)
    if idc is None or idc not in df.columns:
        raise LabelError(f"no id column (one of {', '.join(ID_COLUMNS)}); columns are {list(df.columns)}", path)
    lab = _find(df, (label_column.lower(),))
    if lab is None:
        raise LabelError(f"missing label column {label_column!r}; columns are {list(df.columns)}", path)
    blank = df[lab].isna() | (df[lab].astype(str).str.strip() == "")
    if blank.any():
        raise LabelError(f"{int(blank.sum())} row(s) have a missing/blank label (first: row {int(np.argmax(blank))})",
                         path)
    out = df.rename(columns={idc: "object_id", lab: "label"})
    out["object_id"] = out["object_id"].astype(str)
    out["label"] = out["label"].astype(str)
    _check_ids(out["object_id"], path)
    if classes is not None:
        unknown = sorted(set(out["label"]) - set(classes))
        if unknown:
            raise LabelError(f"unknown class(es) {unknown}; expected one of {list(classes)}", path)
    return out


# ------------------------------------------------------------------ MSPC-Net
def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def mspc_fold_files(folds: str | Path | Sequence[str | Path]) -> list[Path]:
    """The ``fold_1.csv .. fold_5.csv`` files of a dataset folder (or an explicit list), in fold order."""
    if isinstance(folds, (str, Path)) and Path(folds).is_dir():
        files = sorted(Path(folds).glob("fold_*.csv"), key=_natural_key)
        if not files:
            raise MissingDataError("no fold_*.csv files in this folder", folds)
        return files
    files = [Path(folds)] if isinstance(folds, (str, Path)) else [Path(f) for f in folds]
    return sorted(files, key=_natural_key)


def _read_fold(path: Path) -> pd.DataFrame:
    df = read_csv(path)
    cols = {c.lower(): c for c in df.columns}
    missing = [c for c in ("basename", "label", "dataset") if c not in cols]
    if missing:
        raise LabelError(f"missing column(s) {missing}; MSPC fold files have basename,label,dataset[,snr,...]", path)
    df = df.rename(columns={cols[c]: c for c in cols})
    n = len(df)
    df = df.drop_duplicates()
    if len(df) < n:
        warnings.warn(f"{path}: dropped {n - len(df)} exact repeated row(s) ({n} -> {len(df)})", SpectoolWarning,
                      stacklevel=3)
    blank = df["label"].isna() | df["basename"].isna()
    if blank.any():
        raise LabelError(f"{int(blank.sum())} row(s) lack a basename or label", path)
    bad = sorted(set(df["dataset"].astype(str)) - set(SPLITS))
    if bad:
        raise LabelError(f"unknown split value(s) {bad} in column 'dataset' (use train/val/test)", path)
    dup = df["basename"][df["basename"].duplicated()]
    if len(dup):
        raise LabelError(f"basename {dup.iloc[0]!r} appears with different label/split values", path)
    return df


def read_mspc_folds(folds: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Merge the MSPC-Net fold CSVs into one table with ``fold_0 .. fold_{k-1}`` split columns.

    Accepts both column layouts (``basename,label,dataset,snr`` and
    ``basename,label,ra,dec,snr,resource,dataset``). Exact repeated rows (folder 04
    repeats every row three times) are dropped with a
    :class:`~spectool.errors.SpectoolWarning`. ``fold_1.csv`` becomes ``fold_0``.
    Raises :class:`~spectool.errors.LabelError` when a spectrum has different labels
    in different folds.
    """
    files = mspc_fold_files(folds)
    base: pd.DataFrame | None = None
    for k, path in enumerate(files):
        df = _read_fold(path)
        split = df.set_index("basename")["dataset"].astype(str).rename(f"fold_{k}")
        if base is None:
            base = df.drop(columns=["dataset"]).set_index("basename")
            base[f"fold_{k}"] = split
            continue
        labels = df.set_index("basename")["label"]
        common = base.index.intersection(labels.index)
        diff = common[(base.loc[common, "label"].astype(str) != labels.loc[common].astype(str)).to_numpy()]
        if len(diff):
            raise LabelError(f"{diff[0]!r} has label {base.loc[diff[0], 'label']!r} in {files[0].name} but "
                             f"{labels.loc[diff[0]]!r} here", path)
        extra = labels.index.difference(base.index)
        if len(extra) or len(common) < len(base):
            warnings.warn(f"{path}: {len(extra)} spectra not in {files[0].name} and {len(base) - len(common)} missing; "
                          "they get no split in the folds that lack them", SpectoolWarning, stacklevel=2)
            new = df.set_index("basename").loc[extra].drop(columns=["dataset"])
            base = pd.concat([base, new])
        base[f"fold_{k}"] = split.reindex(base.index)
    assert base is not None
    out = base.reset_index().rename(columns={"basename": "object_id"})
    for c in [c for c in out.columns if c.startswith("fold_")]:
        out[c] = out[c].fillna("").astype(str)
    out["object_id"] = out["object_id"].astype(str)
    out["label"] = out["label"].astype(str)
    if "snr" in out.columns:
        out["snr"] = pd.to_numeric(out["snr"], errors="coerce")
    return out


def _mk_key(label: str) -> tuple:
    m = re.match(r"^([OBAFGKMLT])(\d+(?:\.\d+)?)?((?:I{1,3}|IV|V|VI)?[a-z:]*)$", label)
    if m:
        return (0, MK_ORDER.index(m.group(1)), float(m.group(2) or -1), m.group(3))
    return (1, 0, 0.0, label)


def class_order(labels: Iterable[str], order: str | Sequence[str] | None = "spectral") -> list[str]:
    """Class names in model-output order.

    ``"spectral"`` (default): MK sequence O, B, A, F, G, K, M, L, T (subclasses by
    number: A0, A2, ..., M5), other names (GALAXY, QSO, ...) after, alphabetically.
    ``"alphabetical"``: the MSPC-Net authors' order (their config sorts the names, so
    SC-S is A, B, F, G, K, M, O). A list: exactly that order (every label must be in it).
    """
    present = sorted(set(map(str, labels)))
    if order is None or order == "spectral":
        return sorted(present, key=_mk_key)
    if order == "alphabetical":
        return present
    if isinstance(order, str):
        raise LabelError(f"class order must be 'spectral', 'alphabetical' or a list of names, not {order!r}")
    names = [str(c) for c in order]
    missing = sorted(set(present) - set(names))
    if missing:
        raise LabelError(f"label(s) {missing} are not in the given class order {names}")
    return names


def sample_per_class(df: pd.DataFrame, per_class: int, seed: int = 0, column: str = "label") -> pd.DataFrame:
    """At most ``per_class`` rows of every class, drawn without replacement with ``seed``.

    Classes with fewer rows keep them all (with a warning). Row order is preserved.
    """
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for name, idx in df.groupby(column, sort=True).indices.items():
        if len(idx) < per_class:
            warnings.warn(f"class {name!r} has only {len(idx)} spectra (< {per_class}); keeping all",
                          SpectoolWarning, stacklevel=2)
            keep.extend(idx.tolist())
        else:
            keep.extend(rng.choice(idx, per_class, replace=False).tolist())
    return df.iloc[sorted(keep)].reset_index(drop=True)


# ------------------------------------------------------------------ SPFusion
def _targets(df: pd.DataFrame, path: Path, names: Sequence[str], errors: bool = False) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for t in names:
        col = _find(df, TARGET_ALIASES[t])
        if col is None:
            raise LabelError(f"missing target column for {t!r} (one of {TARGET_ALIASES[t]})", path)
        out[t] = pd.to_numeric(df[col], errors="coerce")
        if out[t].isna().any():
            raise LabelError(f"{int(out[t].isna().sum())} row(s) have a missing/non-numeric {col!r}", path)
        if errors:
            ecol = _find(df, tuple(f"{a}_err" for a in TARGET_ALIASES[t]))
            if ecol is not None:
                out[f"{t}_err"] = pd.to_numeric(df[ecol], errors="coerce")
    return out


def read_spfusion_labels(path: str | Path) -> pd.DataFrame:
    """An SPFusion ``label.csv`` (obsid, SNR, teff_K, logg_cm_s2, feh_dex, mass_Msun, age_Gyr).

    Returns ``object_id`` (the obsid as str), ``snr`` and the targets ``mass``, ``age``,
    ``teff``, ``logg``, ``feh`` (Msun, Gyr, K, dex, dex).
    """
    path = Path(path)
    df = read_csv(path)
    idc = _find(df, ("obsid", "object_id"))
    if idc is None:
        raise LabelError("missing 'obsid' column", path)
    out = pd.DataFrame({"object_id": df[idc].astype(str)})
    _check_ids(out["object_id"], path)
    snr = _find(df, ("snr", "snrg"))
    out["snr"] = pd.to_numeric(df[snr], errors="coerce") if snr else np.nan
    return pd.concat([out, _targets(df, path, ("mass", "age", "teff", "logg", "feh"))], axis=1)


def make_folds(n: int, n_folds: int, *, val_fraction: float, seed: int = 0,
               test_fraction: float | None = None) -> pd.DataFrame:
    """Seeded split columns ``fold_0 .. fold_{n_folds-1}``.

    With ``n_folds > 1`` every fold tests a disjoint 1/n_folds of the rows (k-fold)
    and draws ``val_fraction`` of the rest as validation. With ``n_folds == 1``,
    ``test_fraction`` of the rows are test and ``val_fraction`` of the rest val.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    cols = {}
    for k in range(n_folds):
        split = np.full(n, "train", dtype=object)
        if n_folds > 1:
            test = perm[k::n_folds]
        else:
            test = perm[: int(round((test_fraction or 0.0) * n))]
        split[test] = "test"
        rest = np.flatnonzero(split == "train")
        val = rng.choice(rest, int(round(val_fraction * rest.size)), replace=False)
        split[val] = "val"
        cols[f"fold_{k}"] = split
    return pd.DataFrame(cols)


def spfusion_table(root: str | Path, n_folds: int = 3, val_fraction: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """The SPFusion dataset under ``root``: either the flat layout (``label.csv``, ``spectrum/``,
    ``photometric/``) or the authors' fold layout ``root/<fold>/{train,val,test}/{label,spectrum,photometric}``.

    The flat layout gets seeded ``n_folds`` folds (paper: 3 folds, one third test,
    the rest split 7:3 train:val).
    """
    root = Path(root)
    flat = root / "label.csv"
    if not flat.is_file() and (root / "label" / "label.csv").is_file():
        flat = root / "label" / "label.csv"
    if flat.is_file():
        df = read_spfusion_labels(flat)
        base = flat.parent if flat.parent.name != "label" else flat.parent.parent
        df["path"] = [str(base / "spectrum" / f"{i}.npy") for i in df["object_id"]]
        df["image_path"] = [str(base / "photometric" / f"{i}.npy") for i in df["object_id"]]
        return pd.concat([df, make_folds(len(df), n_folds, val_fraction=val_fraction, seed=seed)], axis=1)
    fold_dirs = sorted((d for d in root.iterdir() if d.is_dir() and (d / "train").is_dir()), key=_natural_key) \
        if root.is_dir() else []
    if not fold_dirs:
        raise MissingDataError("neither label.csv nor fold folders <fold>/{train,val,test}/label/label.csv found", root)
    rows: dict[str, dict] = {}
    for k, fold in enumerate(fold_dirs):
        for split in SPLITS:
            lab = fold / split / "label" / "label.csv"
            if not lab.is_file():
                continue
            df = read_spfusion_labels(lab)
            for rec in df.to_dict("records"):
                oid = rec["object_id"]
                row = rows.setdefault(oid, {**rec, "path": str(fold / split / "spectrum" / f"{oid}.npy"),
                                            "image_path": str(fold / split / "photometric" / f"{oid}.npy")})
                if abs(row["mass"] - rec["mass"]) > 1e-9 or abs(row["age"] - rec["age"]) > 1e-9:
                    raise LabelError(f"obsid {oid} has different mass/age in different folds", lab)
                row[f"fold_{k}"] = split
    out = pd.DataFrame(list(rows.values()))
    for k in range(len(fold_dirs)):
        col = f"fold_{k}"
        out[col] = out[col].fillna("").astype(str) if col in out.columns else ""
    return out


# ------------------------------------------------------------------ SCA-Net
def scanet_table(catalogue: str | Path, fits_dir: str | Path, *, test_fraction: float = 0.2,
                 val_fraction: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """An SCA-Net catalogue (file or obsid; teff, logg, feh and their ``*_err``) plus FITS paths.

    Files are looked up in ``fits_dir`` as the ``filename``/``file`` column (with or
    without ``.fits``/``.fits.gz``) or ``<obsid>.fits[.gz]``. A ``split``/``dataset``
    column gives the split; otherwise ``test_fraction`` of the rows are test and
    ``val_fraction`` of the rest validation (the paper: 10 % of train), seeded.
    """
    path = Path(catalogue)
    df = read_csv(path)
    fcol, ocol = _find(df, ("filename", "file", "path")), _find(df, ("obsid",))
    if fcol is None and ocol is None:
        raise LabelError("the catalogue needs a 'filename'/'file' or an 'obsid' column", path)
    out = pd.DataFrame({"object_id": df[ocol].astype(str) if ocol else
                        df[fcol].astype(str).map(lambda s: Path(s).name.split(".fits")[0])})
    _check_ids(out["object_id"], path)
    snr = _find(df, ("snr", "snrg", "snr_g"))
    out["snr"] = pd.to_numeric(df[snr], errors="coerce") if snr else np.nan
    out = pd.concat([out, _targets(df, path, ("teff", "logg", "feh"), errors=True)], axis=1)
    fits_dir = Path(fits_dir)
    names = df[fcol].astype(str) if fcol else out["object_id"]
    out["path"] = [str(_locate(fits_dir, n)) for n in names]
    scol = _find(df, ("split", "dataset"))
    if scol is not None:
        out["fold_0"] = df[scol].astype(str).str.lower().to_numpy()
        bad = sorted(set(out["fold_0"]) - set(SPLITS))
        if bad:
            raise LabelError(f"unknown split value(s) {bad} in column {scol!r}", path)
    else:
        out["fold_0"] = make_folds(len(out), 1, val_fraction=val_fraction, seed=seed,
                                   test_fraction=test_fraction)["fold_0"].to_numpy()
    return out


def _locate(directory: Path, name: str) -> Path:
    """``directory/name`` with the first existing suffix among '', .fits, .fits.gz (else the .fits path)."""
    for cand in (name, f"{name}.fits", f"{name}.fits.gz", f"{name}.gz"):
        p = directory / cand
        if p.is_file():
            return p
    return directory / (name if name.endswith((".fits", ".gz")) else f"{name}.fits")


def locate_files(directory: str | Path, names: Iterable[str]) -> list[str]:
    """Paths of ``<directory>/<name>.fits`` or ``.fits.gz`` for every name (missing ones as .fits)."""
    directory = Path(directory)
    return [str(_locate(directory, str(n))) for n in names]
