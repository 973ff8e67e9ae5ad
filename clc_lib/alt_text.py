"""Alternative text of a chart, read from the matplotlib figure itself: the kind of chart (from the
artists drawn), its title, its axis labels and how many series or bars it shows, written in the
active language (:mod:`clc_lib.i18n`), like the chart's own text.

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

from clc_lib.i18n import N_, _, current_language, format_count, ngettext, sentence_space

__all__ = ["chart_kind", "chart_alt_text"]

#: Series names listed in full up to this many; more are counted only.
MAX_NAMED_SERIES = 6

#: How the alternative text names each kind of chart (:func:`chart_kind`) at the start of a sentence.
CHART_KIND_NAMES: dict[str, str] = {"heatmap": N_("Heatmap"), "bar chart": N_("Bar chart"),
                                    "line chart": N_("Line chart"), "scatter plot": N_("Scatter plot"),
                                    "chart": N_("Chart")}


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


def _name_list(names: list[str]) -> str:
    """The first :data:`MAX_NAMED_SERIES` names joined the language's way (``a, b, ...``; ``a、b……``)."""
    chinese = current_language() != "en"
    separator, more = ("、", "……") if chinese else (", ", ", ...")
    return separator.join(names[:MAX_NAMED_SERIES]) + (more if len(names) > MAX_NAMED_SERIES else "")


def _axes_text(ax: Any) -> str:
    kind = chart_kind(ax)
    kind_name = _(CHART_KIND_NAMES[kind])
    title = _one_line(ax.get_title())
    parts = [_("{kind}: {title}.").format(kind=kind_name, title=title) if title
             else _("{kind}.").format(kind=kind_name)]
    xlabel, ylabel = _one_line(ax.get_xlabel()), _one_line(ax.get_ylabel())
    if xlabel and ylabel:
        parts.append(_("Horizontal axis: {xlabel}; vertical axis: {ylabel}.").format(xlabel=xlabel, ylabel=ylabel))
    elif xlabel:
        parts.append(_("Horizontal axis: {label}.").format(label=xlabel))
    elif ylabel:
        parts.append(_("Vertical axis: {label}.").format(label=ylabel))
    names = _series_names(ax)
    if kind == "bar chart" and not names:
        count = len(_bars(ax))
        parts.append(ngettext("One bar.", "{count} bars.", count).format(count=format_count(count)))
    elif names:
        parts.append(ngettext("One series: {names}.", "{count} series: {names}.", len(names)).format(
            count=format_count(len(names)), names=_name_list(names)))
    elif kind == "line chart":
        count = len(_data_lines(ax))
        parts.append(ngettext("One line.", "{count} lines.", count).format(count=format_count(count)))
    return sentence_space().join(parts)


def chart_alt_text(figure: Any) -> str:
    """A description of ``figure`` for the ``alt`` attribute of its image.

    One sentence group per panel with data (colour bars are skipped): the chart kind, the title,
    the axis labels, and the series (legend entries or labelled lines, up to
    :data:`MAX_NAMED_SERIES` named) or the number of bars. A figure title comes first. The text is
    in the active language (:func:`clc_lib.i18n.current_language`).
    """
    panels = [ax for ax in figure.get_axes() if ax.get_label() != "<colorbar>" and ax.get_visible()
              and (ax.has_data() or ax.get_title())]
    texts = [_axes_text(ax) for ax in panels]
    suptitle = getattr(figure, "_suptitle", None)
    heading = _one_line(suptitle.get_text()) if suptitle is not None else ""
    if len(texts) > 1:
        texts = ([_("{count} panels.").format(count=format_count(len(texts)))]
                 + [_("Panel {number}: {text}").format(number=i, text=text) for i, text in enumerate(texts, start=1)])
    if heading:
        texts.insert(0, _("{title}.").format(title=heading))
    return sentence_space().join(texts) or _("Chart.")
