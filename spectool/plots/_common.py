"""What every catalog artefact shares: the data source label, result and table containers,
and the figure helpers that apply spectool's publication style.

Every figure title and table caption names its data source ("synthetic mock" or
"real") and the mode ("quick" = tiny CPU runs, "full" = paper protocol), so a number
measured on mock data is never mistaken for a paper result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SpectoolError


class PlotInputError(SpectoolError):
    """A plot function got a result object without the fields it needs."""


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

    def _repr_html_(self) -> str:
        return f"<p><b>{self.title}</b></p>{self.frame.to_html()}<p><i>{self.caption}</i></p>"

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

    from ..plotting import style

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


def styled(fn):
    """Run a plot function under spectool's matplotlib style."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..plotting import style

        with style():
            return fn(*args, **kwargs)
    return wrapper
