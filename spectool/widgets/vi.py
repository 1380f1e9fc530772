"""Visual-inspection (VI) records: one row per inspected object, saved atomically, resumable.

The file is CSV (``.csv``) or Parquet (``.parquet``/``.pq``) with columns
``object_id, vi_label, vi_quality, vi_comment, reviewer, timestamp`` (UTC ISO 8601).
Every :meth:`VIFile.record` rewrites the whole file through
:func:`spectool._atomic.atomic_path`, so a crash never leaves half a file, and a
new session resumes at the first object without a record.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from .._atomic import atomic_path
from ..errors import CorruptFileError
from .state import VI_QUALITY, WidgetInputError

COLUMNS = ("object_id", "vi_label", "vi_quality", "vi_comment", "reviewer", "timestamp")


@dataclass(frozen=True)
class VIRecord:
    """One visual inspection: ``quality`` on the 0-4 scale of :data:`~spectool.widgets.state.VI_QUALITY`."""

    object_id: str
    label: str = ""
    quality: int | None = None
    comment: str = ""
    reviewer: str = ""

    def __post_init__(self) -> None:
        if self.quality is not None and self.quality not in VI_QUALITY:
            raise WidgetInputError(f"quality must be one of {sorted(VI_QUALITY)}, got {self.quality!r}", "vi_quality")
        if not str(self.object_id):
            raise WidgetInputError("a VI record needs an object_id", "object_id")


class VIFile:
    """A VI table on disk (created on the first record)."""

    def __init__(self, path: str | Path, reviewer: str = "") -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise WidgetInputError("VI file must end in .csv, .parquet or .pq", self.path)
        self.reviewer = reviewer
        self.table = self._load()

    def _load(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
        try:
            if self.path.suffix.lower() == ".csv":
                df = pd.read_csv(self.path, dtype={"object_id": str, "vi_label": str, "vi_comment": str,
                                                   "reviewer": str}, keep_default_na=False)
            else:
                df = pd.read_parquet(self.path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise CorruptFileError(f"cannot read VI table: {exc}", self.path) from exc
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise CorruptFileError(f"VI table lacks columns {missing}", self.path)
        df["object_id"] = df["object_id"].astype(str)
        return df[list(COLUMNS)].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def inspected(self) -> set[str]:
        return set(self.table["object_id"].astype(str))

    def get(self, object_id: str) -> VIRecord | None:
        """The saved record of ``object_id``, or None."""
        hit = self.table[self.table["object_id"] == str(object_id)]
        if hit.empty:
            return None
        r = hit.iloc[-1]
        q = r["vi_quality"]
        quality = None if (isinstance(q, str) and not q) or pd.isna(q) else int(q)
        return VIRecord(str(r["object_id"]), str(r["vi_label"] or ""), quality, str(r["vi_comment"] or ""),
                        str(r["reviewer"] or ""))

    def record(self, rec: VIRecord) -> None:
        """Add or replace the record of ``rec.object_id`` and save atomically."""
        row = {
            "object_id": str(rec.object_id),
            "vi_label": rec.label,
            "vi_quality": rec.quality,
            "vi_comment": rec.comment,
            "reviewer": rec.reviewer or self.reviewer,
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        keep = self.table[self.table["object_id"] != row["object_id"]]
        self.table = pd.concat([keep, pd.DataFrame([row])], ignore_index=True)
        self.save()

    def save(self) -> None:
        out = self.table.copy()
        out["vi_quality"] = pd.array(out["vi_quality"].tolist(), dtype="Int64")
        with atomic_path(self.path) as tmp:
            if self.path.suffix.lower() == ".csv":
                out.to_csv(tmp, index=False)
            else:
                out.to_parquet(tmp, index=False)

    def resume_position(self, object_ids: Sequence[str]) -> int:
        """Index into ``object_ids`` of the first object without a record (last index if all are done)."""
        done = self.inspected
        for k, oid in enumerate(object_ids):
            if str(oid) not in done:
                return k
        return max(len(object_ids) - 1, 0)
