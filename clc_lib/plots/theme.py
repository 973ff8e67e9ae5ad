"""One look for every chart: the seaborn theme, axis formatters, the ``ax=`` convention and input checks.

Every chart module draws with these, so that all charts share colours, tick labels, period labels,
the marking of incomplete periods and the wording of errors about wrong input.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.errors import DataError

PALETTE = "colorblind"
FIGSIZE = (9.0, 4.8)
#: At most this many period labels on a time axis of bars; the rest are skipped evenly.
MAX_PERIOD_TICKS = 18


def set_theme() -> None:
    """Apply the project's seaborn theme (white grid, colour-blind palette, readable sizes).

    Text is drawn literally: labels come from the data (categories, channels, campaign names), and
    matplotlib would otherwise read text between two ``$`` as mathtext, so that ``Save $5 - $10``
    shows as "Save 5 − 10" and ``Gifts $x^$`` stops the chart with a parse error.
    """
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook",
                  rc={"figure.figsize": FIGSIZE, "axes.titleweight": "bold", "axes.titlesize": 13,
                      "figure.dpi": 100, "savefig.dpi": 100, "savefig.bbox": "tight",
                      "text.parse_math": False})


def get_ax(ax: plt.Axes | None = None, figsize: tuple[float, float] | None = None) -> plt.Axes:
    """Return ``ax``, or the axes of a new figure when ``ax`` is None."""
    if ax is not None:
        return ax
    _, new_ax = plt.subplots(figsize=figsize or FIGSIZE)
    return new_ax


def label_axes(ax: plt.Axes, title: str, xlabel: str | None = None, ylabel: str | None = None) -> plt.Axes:
    """Set the title and axis labels (units belong in the labels, e.g. "Revenue (EUR)")."""
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    return ax


def _axis(ax: plt.Axes, axis: str):
    return ax.yaxis if axis == "y" else ax.xaxis


def format_currency_axis(ax: plt.Axes, currency: str = "", axis: str = "y") -> plt.Axes:
    """Tick labels as money with thousands separators, e.g. ``12,500 EUR`` (k/M for large values)."""
    suffix = f" {currency}" if currency else ""

    def fmt(value: float, _pos: int) -> str:
        magnitude = abs(value)
        if magnitude >= 1e6:
            return f"{value / 1e6:,.1f}M{suffix}"
        if magnitude >= 1e4:
            return f"{value / 1e3:,.0f}k{suffix}"
        return f"{value:,.0f}{suffix}" if magnitude >= 100 or value == 0 else f"{value:,.2f}{suffix}"

    _axis(ax, axis).set_major_formatter(mticker.FuncFormatter(fmt))
    return ax


def format_percent_axis(ax: plt.Axes, axis: str = "y", decimals: int = 0) -> plt.Axes:
    """Tick labels as percentages for values stored as shares (0.25 -> 25%)."""
    _axis(ax, axis).set_major_formatter(mticker.PercentFormatter(xmax=1.0, decimals=decimals))
    return ax


def format_count_axis(ax: plt.Axes, axis: str = "y") -> plt.Axes:
    """Tick labels as whole numbers with thousands separators."""
    _axis(ax, axis).set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    return ax


def palette_colors(n: int) -> list:
    """Return ``n`` colours of the project palette (at least one)."""
    return sns.color_palette(PALETTE, n_colors=max(n, 1))


def money_label(label: str, currency: str) -> str:
    """Return ``label`` with the currency in brackets, e.g. "Net revenue (EUR)"; unchanged without one."""
    return f"{label} ({currency})" if currency else label


def period_labels(dates: pd.Series | pd.Index) -> list[str]:
    """Label each period start: "Jan 2024" when all are firsts of the month, else "08 Jan 2024"."""
    dates = pd.DatetimeIndex(dates)
    monthly = bool((dates.day == 1).all())
    return list(dates.strftime("%b %Y" if monthly else "%d %b %Y"))


def thin_ticks(ax: plt.Axes, positions: np.ndarray, labels: list[str]) -> None:
    """Put every k-th label on the x axis (rotated) so that at most :data:`MAX_PERIOD_TICKS` show.

    Parameters
    ----------
    ax
        Axes whose x ticks are set.
    positions
        x position of every label (e.g. the bar positions ``0, 1, ...``).
    labels
        One label per position, as from :func:`period_labels`.
    """
    step = max(1, int(np.ceil(len(labels) / MAX_PERIOD_TICKS)))
    ax.set_xticks(positions[::step])
    ax.set_xticklabels(labels[::step], rotation=45, ha="right")


def incomplete_period_label(data: pd.DataFrame) -> str:
    """Legend text for an unfinished period, with the ``as_of`` date of ``data.attrs`` when it has one."""
    as_of = data.attrs.get("as_of")
    return "incomplete period" + (f" (data to {pd.Timestamp(as_of):%d %b %Y})" if as_of is not None else "")


def incomplete_periods(data: pd.DataFrame, periods: pd.Index) -> np.ndarray:
    """Booleans per period of ``periods``: True where ``data.is_complete`` marks it unfinished.

    Parameters
    ----------
    data
        Frame with ``period_start`` and, optionally, ``is_complete`` (False for a period that runs
        past ``as_of``). Without ``is_complete`` every period counts as complete.
    periods
        Period starts to answer for, in the order of the chart.

    Returns
    -------
    numpy.ndarray
        One boolean per entry of ``periods``; periods absent from ``data`` count as complete.
    """
    if "is_complete" not in data.columns:
        return np.zeros(len(periods), dtype=bool)
    complete = data.groupby("period_start")["is_complete"].all()
    return ~complete.reindex(periods, fill_value=True).to_numpy(dtype=bool)


def require_columns_and_rows(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`~clc_lib.errors.DataError` when ``data`` lacks one of ``columns`` or has no rows.

    Parameters
    ----------
    data
        Frame passed to a chart.
    columns
        Columns the chart reads.
    what
        Name of the chart, used as the error's source (e.g. ``"plot_funnel"``).
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} has no column {missing[0]!r}.", source=what, column=missing[0],
                        hint=f"Pass the frame returned by the matching clc analysis; it has: {list(data.columns)}.")
    if data.empty:
        raise DataError(f"The data for {what} has no rows: nothing to plot.", source=what, n_rows=0,
                        hint="Check the as_of date and whether the input table has rows in the period.")


def require_columns(data: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise :class:`~clc_lib.errors.DataError` naming every one of ``columns`` that ``data`` lacks.

    Parameters
    ----------
    data
        Frame passed to a chart (an empty frame is accepted).
    columns
        Columns the chart reads.
    what
        Description of the chart for the message, e.g. ``"the churn rate chart"``.
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} lacks columns.", source="data", column=", ".join(missing),
                        hint=f"Pass the output of the matching clc function (it has {', '.join(columns)}).")
