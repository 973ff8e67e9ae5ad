"""Alternative text of a chart, read from the matplotlib figure itself: the kind of chart (from the
artists drawn), its title, its axis labels and how many series or bars it shows.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> figure, ax = plt.subplots()
>>> _ = ax.plot([1, 2, 3], [4, 5, 6], label="Churn")
>>> _ = ax.set_title("Churn rate per month")
>>> chart_alt_text(figure)
'Line chart: Churn rate per month. One series: Churn.'
>>> plt.close(figure)
"""

from __future__ import annotations

from typing import Any

__all__ = ["chart_kind", "chart_alt_text"]

#: Series names listed in full up to this many; more are counted only.
MAX_NAMED_SERIES = 6


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _data_lines(ax: Any) -> list[Any]:
    """Lines that carry data: more than two points (reference lines such as axhline have two)."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def _bars(ax: Any) -> list[Any]:
    from matplotlib.container import BarContainer

    return [bar for container in ax.containers if isinstance(container, BarContainer) for bar in container]


def chart_kind(ax: Any) -> str:
    """``"heatmap"``, ``"bar chart"``, ``"line chart"``, ``"scatter plot"`` or ``"chart"``, from what ``ax`` draws."""
    from matplotlib.collections import PathCollection, QuadMesh

    if ax.images or any(isinstance(c, QuadMesh) for c in ax.collections):
        return "heatmap"
    if _bars(ax):
        return "bar chart"
    if _data_lines(ax):
        return "line chart"
    if any(isinstance(c, PathCollection) and len(c.get_offsets()) for c in ax.collections):
        return "scatter plot"
    return "chart"


def _series_names(ax: Any) -> list[str]:
    legend = ax.get_legend()
    if legend is not None:
        return [_one_line(text.get_text()) for text in legend.get_texts() if text.get_text().strip()]
    return [_one_line(line.get_label()) for line in _data_lines(ax) if not line.get_label().startswith("_")]


def _count_words(n: int) -> str:
    return "One" if n == 1 else f"{n:,}"


def _axes_text(ax: Any) -> str:
    kind = chart_kind(ax)
    title = _one_line(ax.get_title())
    parts = [f"{kind[0].upper()}{kind[1:]}" + (f": {title}." if title else ".")]
    xlabel, ylabel = _one_line(ax.get_xlabel()), _one_line(ax.get_ylabel())
    if xlabel and ylabel:
        parts.append(f"Horizontal axis: {xlabel}; vertical axis: {ylabel}.")
    elif xlabel or ylabel:
        parts.append(f"{'Horizontal' if xlabel else 'Vertical'} axis: {xlabel or ylabel}.")
    names = _series_names(ax)
    if kind == "bar chart" and not names:
        parts.append(f"{_count_words(len(_bars(ax)))} bar{'' if len(_bars(ax)) == 1 else 's'}.")
    elif names:
        listed = ", ".join(names[:MAX_NAMED_SERIES]) + (", ..." if len(names) > MAX_NAMED_SERIES else "")
        parts.append(f"{_count_words(len(names))} series: {listed}.")
    elif kind == "line chart":
        count = len(_data_lines(ax))
        parts.append(f"{_count_words(count)} line{'' if count == 1 else 's'}.")
    return " ".join(parts)


def chart_alt_text(figure: Any) -> str:
    """A description of ``figure`` for the ``alt`` attribute of its image.

    One sentence group per panel with data (colour bars are skipped): the chart kind, the title,
    the axis labels, and the series (legend entries or labelled lines, up to
    :data:`MAX_NAMED_SERIES` named) or the number of bars. A figure title comes first.
    """
    panels = [ax for ax in figure.get_axes() if ax.get_label() != "<colorbar>" and ax.get_visible()
              and (ax.has_data() or ax.get_title())]
    texts = [_axes_text(ax) for ax in panels]
    suptitle = getattr(figure, "_suptitle", None)
    heading = _one_line(suptitle.get_text()) if suptitle is not None else ""
    if len(texts) > 1:
        texts = [f"{len(texts)} panels."] + [f"Panel {i}: {text}" for i, text in enumerate(texts, start=1)]
    if heading:
        texts.insert(0, f"{heading}.")
    return " ".join(texts) or "Chart."
