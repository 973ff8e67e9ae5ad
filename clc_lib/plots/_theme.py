"""One look for every chart: the seaborn theme, axis formatters and the ``ax=`` convention."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import seaborn as sns

PALETTE = "colorblind"
FIGSIZE = (9.0, 4.8)


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
