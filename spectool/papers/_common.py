"""What every catalog artefact shares: the data source label, result and table containers,
the sanity-gate verdicts, and the figure helpers that apply spectool's publication style.

Every figure title and table caption names its data source ("synthetic mock" or
"real") and the mode ("quick" = tiny CPU runs, "full" = paper protocol), so a number
measured on mock data is never mistaken for a paper result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import SpectoolError


class PlotInputError(SpectoolError):
    """A paper drawing function got a result object without the fields it needs."""


@dataclass(frozen=True)
class Source:
    """Where the numbers of an artefact come from.

    ``synthetic`` is True for the embedded mock survey; ``mode`` is ``"quick"`` (tiny
    datasets, slim models, 1-epoch trainings) or ``"full"`` (paper protocol); ``name`` is
    ``"mock"`` or the path of the real data.
    """

    synthetic: bool = True
    mode: str = "quick"
    name: str = "mock"

    @property
    def label(self) -> str:
        """Short text for titles, e.g. ``"synthetic mock data, quick mode"``."""
        kind = "synthetic mock data" if self.synthetic else f"real data ({self.name})"
        return f"{kind}, {self.mode} mode"


@dataclass
class Result:
    """Input of one plot function: the computed ``data`` (its type is documented by each
    plot function), the :class:`Source`, and an optional ``note`` shown in the caption."""

    data: Any
    source: Source = field(default_factory=Source)
    note: str = ""


@dataclass
class RunSet:
    """Finished training runs of one experiment (see :func:`spectool.train.cross_validate`).

    ``results`` is the tidy table (one row per run: ``dataset``, ``label``, ``group``,
    ``fold``, ``seed``, ``params`` and metrics such as ``accuracy``, ``macro_f1``,
    ``mae_<target>``); ``predictions`` and ``histories`` map ``(dataset, label)`` to the
    evaluation predictions and per-epoch history of the first fold/seed of that run;
    ``class_names`` maps a dataset to its class order (classification).
    """

    results: pd.DataFrame
    predictions: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    histories: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    class_names: dict[str, list[str]] = field(default_factory=dict)

    def labels(self, dataset: str | None = None) -> list[str]:
        """Model labels in run order (of ``dataset`` if given)."""
        df = self.results if dataset is None else self.results[self.results["dataset"] == dataset]
        return list(dict.fromkeys(df["label"]))

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(self.results["dataset"]))


@dataclass
class Table:
    """A catalog table: ``frame`` plus a title and caption (written as CSV and Markdown)."""

    frame: pd.DataFrame
    title: str
    caption: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.frame.shape

    def flat(self) -> pd.DataFrame:
        """The frame with the index as columns and multi-level headers joined by " / "."""
        df = self.frame.copy()
        if isinstance(df.columns, pd.MultiIndex):
            df.columns = [" / ".join(str(c) for c in col if str(c)) for col in df.columns]
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        return df

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown: title, table, caption."""
        df = self.flat()
        cells = [[_fmt(v) for v in row] for row in df.itertuples(index=False)]
        head = [str(c) for c in df.columns]
        lines = [f"**{self.title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """An HTML fragment: bold title, the table (blank cells for missing values), caption."""
        import html

        body = self.frame.to_html(na_rep="", border=0, classes="spectool-table", float_format=lambda v: f"{v:.4g}")
        cap = f"<p><i>{html.escape(self.caption)}</i></p>" if self.caption else ""
        return f"<p><b>{html.escape(self.title)}</b></p>{body}{cap}"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"{self.title}\n{self.frame.to_string()}\n{self.caption}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def need(result: Any, kind: type, what: str) -> Any:
    """``result.data`` checked to be a ``kind``; raise :class:`PlotInputError` naming ``what``."""
    data = getattr(result, "data", None)
    if not isinstance(data, kind):
        raise PlotInputError(f"{what} needs Result(data={kind.__name__}), got {type(data).__name__}", what)
    return data


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (8.0, 4.0), **kw):
    """A styled ``(fig, axes)`` pair (axes always a 2-D array)."""
    import matplotlib.pyplot as plt

    from ..plots import style

    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, constrained_layout=True, **kw)
    return fig, axes


def titled(fig, title: str, source: Source, note: str = ""):
    """Put ``title`` and the data source on the figure (suptitle); returns ``fig``."""
    import textwrap

    width = max(60, int(fig.get_figwidth() * 14))
    text = "\n".join([title, *textwrap.wrap(f"[{source.label}]" + (f" {note}" if note else ""), width)])
    fig.suptitle(text, fontsize=9)
    return fig


def table(frame: pd.DataFrame, title: str, source: Source, caption: str = "", note: str = "") -> Table:
    """A :class:`Table` whose title names the data source."""
    if frame.empty:
        raise PlotInputError(f"{title}: no rows to tabulate", title)
    extra = " ".join(t for t in (caption, note) if t)
    return Table(frame, f"{title} [{source.label}]", extra)


def passed(values: pd.Series) -> pd.Series:
    """A sanity-gate column (``learned``, ``learned_<t>``) as booleans, missing values
    dropped; the text ``"False"`` is False (a column that held booleans and missing
    values was cached as text by older versions)."""
    return values.dropna().map(lambda v: v if isinstance(v, (bool, np.bool_)) else str(v).strip() == "True").astype(bool)


def _failed_targets(rows: pd.DataFrame) -> list[str]:
    """Regression targets (``learned_<t>`` columns) that some run of ``rows`` did not learn."""
    return [c[len("learned_"):] for c in rows.columns
            if c.startswith("learned_") and rows[c].notna().any() and not passed(rows[c]).all()]


def verdicts(results: pd.DataFrame, keys: Sequence[str] = ("dataset", "label")) -> dict[tuple, str]:
    """Sanity-gate text per row key from the ``learned``, ``learned_<target>`` and
    ``baseline_*`` columns that :func:`spectool.papers._context.sanity_gate` adds:
    ``"yes (...)"``, ``"PARTLY: ..."`` (regression: some targets beat their baseline) or
    ``"NO: ..."``, each with the lowest sanity-gate z of the key's runs and targets when the
    results carry ``gate_z`` columns."""
    if "learned" not in results.columns:
        return {}
    out = {}
    for key, rows in results.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        bases = [c for c in rows.columns if c.startswith("baseline_") and rows[c].notna().any()]
        parts = []
        for c in bases:
            metric = c[len("baseline_"):]
            b = float(rows[c].mean())
            parts.append(f"majority class {100 * b:.1f} %" if metric == "accuracy"
                         else f"best constant {metric.replace('mae_', 'MAE ')} {b:.4g}")
        base = ", ".join(parts)
        zcols = [c for c in rows.columns if c.startswith("gate_z") and rows[c].notna().any()]
        z = np.asarray(rows[zcols], float) if zcols else np.array([np.nan])
        zmin = float(np.nanmin(z)) if np.isfinite(z).any() else float("nan")
        zs = f", lowest z {zmin:.1f}" if np.isfinite(zmin) else ""
        n_ok = int(passed(rows["learned"]).sum())
        failed = _failed_targets(rows)
        targets = [c[len("learned_"):] for c in rows.columns if c.startswith("learned_") and rows[c].notna().any()]
        if n_ok == len(rows):
            out[key] = f"yes (trivial baseline: {base}; beaten at p < 0.05{zs})"
        elif targets and len(failed) < len(targets):
            out[key] = (f"PARTLY: {', '.join(failed)} do(es) not beat the best constant ({base}) beyond chance "
                        f"(p < 0.05{zs}); those numbers withheld")
        else:
            out[key] = (f"NO: {len(rows) - n_ok} of {len(rows)} run(s) do not beat the trivial baseline ({base}) "
                        f"beyond chance (p < 0.05{zs}); numbers withheld")
    return out


def withheld_targets(results: pd.DataFrame, keys: Sequence[str] = ("dataset", "label")) -> dict[tuple, list[str]]:
    """Per row key, the regression targets whose numbers the gate withholds (PARTLY rows)."""
    out = {}
    for key, rows in results.groupby(list(keys), sort=False):
        out[key if isinstance(key, tuple) else (key,)] = _failed_targets(rows)
    return out


def gate_frame(frame: pd.DataFrame, results: pd.DataFrame, keys: Sequence[str] = ("dataset", "label"),
               levels: int = 2) -> pd.DataFrame:
    """``frame`` (indexed by ``keys`` in its first ``levels`` index levels) with a
    ``learned?`` column; the metric cells of rows (or, for PARTLY rows, of the targets) that
    did not beat the baseline are blanked."""
    v = verdicts(results, keys)
    if not v:
        return frame
    failed = withheld_targets(results, keys)
    out = frame.copy()
    col = ("learned?", "") if isinstance(out.columns, pd.MultiIndex) else "learned?"
    texts, keys_of = [], []
    for idx in out.index:
        key = tuple(idx[:levels]) if isinstance(idx, tuple) else (idx,)
        texts.append(v.get(key, ""))
        keys_of.append(key)
    keep = [c for c in out.columns if (c[0] if isinstance(c, tuple) else c) in ("size", "runs")]
    for row, text, key in zip(out.index, texts, keys_of):
        if not text.startswith(("NO", "PARTLY")):
            continue
        for c in out.columns:
            name = " ".join(map(str, c)) if isinstance(c, tuple) else str(c)
            hit = text.startswith("NO") or any(t in name.lower() for t in failed.get(key, []))
            if c not in keep and hit:
                out.loc[row, c] = np.nan if out[c].dtype.kind == "f" else "-"
    out[col] = texts
    return out


def gate_text(results: pd.DataFrame, keys: Sequence[str] = ("dataset", "label")) -> str:
    """One sentence naming the models that did not beat their trivial baseline ("" if none)."""
    v = verdicts(results, keys)
    bad = [" / ".join(map(str, k)) for k, t in v.items() if t.startswith("NO")]
    part = [" / ".join(map(str, k)) + f" ({', '.join(withheld_targets(results, keys)[k])})"
            for k, t in v.items() if t.startswith("PARTLY")]
    text = ""
    if part:
        text = ("SANITY GATE: " + ", ".join(part) + " did not beat the best constant for the target(s) named "
                "beyond chance (p < 0.05); those values are not a result. ")
    if not bad:
        return text.strip()
    return (text + "SANITY GATE: " + ", ".join(bad) + " did not beat the trivial baseline beyond chance (p < 0.05); "
            "its curves/values show no learning and are not a result.")


from ..plots import styled  # noqa: E402 - one style helper for plots and papers
