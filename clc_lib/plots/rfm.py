"""Charts of RFM segments: the recency x frequency grid and the size of each segment.

Each function takes the output of the matching :mod:`clc_lib.rfm` function as ``data=``, draws on
``ax=`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from clc_lib.definitions import segment_label
from clc_lib.i18n import _, format_count, format_number, format_percent
from clc_lib.plots.theme import (
    SEGMENT_GROUPS,
    format_count_axis,
    get_ax,
    label_axes,
    label_bars,
    segment_color,
    segment_group_legend,
)

__all__ = ["plot_rfm_heatmap", "plot_segment_sizes"]


def plot_rfm_heatmap(data: pd.DataFrame, ax: plt.Axes | None = None, *, monetary: str = "net_revenue",
                     currency: str = "") -> plt.Axes:
    """Recency x frequency score grid: colour = mean monetary value, text = main segment and mean.

    ``data`` is the output of :func:`clc_lib.rfm.rfm_segments` (``r_score``, ``f_score``,
    ``segment`` and the monetary column, run currency). A score no customer has (frequency scores
    are often skipped when many customers share the same number of purchase days) gets no row or
    column, and the axis label says so.
    """
    ax = get_ax(ax, figsize=(9.0, 6.0))
    scored = data.dropna(subset=["r_score", "f_score"]).astype({"r_score": int, "f_score": int})
    means = scored.pivot_table(index="r_score", columns="f_score", values=monetary, aggfunc="mean")
    levels = range(1, int(max(scored["r_score"].max(), scored["f_score"].max(), 1)) + 1)
    means = means.reindex(index=[r for r in list(levels)[::-1] if r in means.index],
                          columns=[f for f in levels if f in means.columns])
    skipped_f = [f for f in levels if f not in means.columns]
    skipped_r = [r for r in levels if r not in means.index]
    main = (scored.groupby(["r_score", "f_score"], observed=True)["segment"]
            .agg(lambda s: s.astype(str).value_counts().index[0]))
    counts = scored.groupby(["r_score", "f_score"]).size()
    annotations = means.copy().astype(object)
    for r in means.index:
        for f in means.columns:
            if (r, f) in main.index and pd.notna(means.loc[r, f]):
                annotations.loc[r, f] = (f"{segment_label(main[(r, f)])}\n{format_number(means.loc[r, f], 0)}"
                                         f"\nn={format_count(counts[(r, f)])}")
            else:
                annotations.loc[r, f] = ""
    unit = currency or _("run currency")
    colour_label = (_("Mean net revenue per customer ({unit})").format(unit=unit) if monetary == "net_revenue"
                    else _("Mean {value} per customer ({unit})").format(value=monetary.replace("_", " "), unit=unit))
    sns.heatmap(means, ax=ax, cmap="YlGnBu", annot=annotations.to_numpy(), fmt="", annot_kws={"fontsize": 7},
                linewidths=0.5, cbar_kws={"label": colour_label})

    def no_customers(scores: list[int]) -> str:
        return _("; no customer has score {scores}").format(scores=", ".join(map(str, scores))) if scores else ""

    label_axes(ax, _("RFM grid: main segment and mean value per customer"),
               _("Frequency score (1 = fewest purchase days{no_customers})").format(
                   no_customers=no_customers(skipped_f)),
               _("Recency score (5 = most recent{no_customers})").format(no_customers=no_customers(skipped_r)))
    return ax


def plot_segment_sizes(data: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bars of customers per segment with customer and revenue shares.

    ``data`` is :func:`clc_lib.rfm.segment_profiles`. Each bar has its segment's colour
    (:data:`~clc_lib.plots.theme.SEGMENT_COLORS`: the colour of its group, as segments outnumber the
    colours a reader tells apart) and its name on the axis; the legend names the groups. Bars run
    from the best group (top) to the segments outside the groups, by size within a group.
    """
    ax = get_ax(ax)
    frame = data[data["customers"] > 0]
    # best group on top, each group's segments by size, so that a colour's bars sit together
    rank = {segment: i for i, members in enumerate(SEGMENT_GROUPS.values()) for segment in members}
    order = sorted(range(len(frame)), key=lambda i: (rank.get(str(frame.index[i]), len(rank)),
                                                     -float(frame["customers"].iloc[i])))
    frame = frame.iloc[order[::-1]]
    names = frame.index.astype(str)
    bars = ax.barh([segment_label(n) for n in names], frame["customers"], color=[segment_color(n) for n in names])
    labels = [_("{customer_share} of customers, {revenue_share} of revenue").format(
                  customer_share=format_percent(c, 0), revenue_share=format_percent(r, 0))
              for c, r in zip(frame["customer_share"], frame["revenue_share"].fillna(0))]
    ax.set_xlim(0, float(frame["customers"].max()) * 1.05 if len(frame) else 1)
    label_bars(ax, bars, labels, fontsize=8)
    segment_group_legend(ax, names)
    label_axes(ax, _("Customers per RFM segment"), _("Customers"), _("RFM segment"))
    format_count_axis(ax, axis="x")
    return ax

