"""Charts of monetisation: revenue over time and by group, concentration, cross-sell and order value.

Each function takes the frame of the matching :mod:`clc_lib.monetisation` function as ``data=`` and
``ax=``, and returns the matplotlib Axes with a title and labelled axes (money in the run currency,
passed as ``currency=``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.definitions import TERMS, segment_label, stage_label
from clc_lib.errors import DataError
from clc_lib.i18n import N_, _, format_count, format_number, format_percent, ngettext
from clc_lib.monetisation import concentration_values, gini, lorenz_curve, top_share
from clc_lib.plots.theme import (
    format_count_axis,
    format_currency_axis,
    format_percent_axis,
    get_ax,
    incomplete_period_label,
    incomplete_periods,
    label_axes,
    label_bars,
    legend_outside,
    money_label,
    palette_colors,
    require_columns_and_rows,
    segment_color,
    segment_group_legend,
    set_period_ticks,
    stage_color,
    term_label,
)

__all__ = [
    "plot_revenue_over_time",
    "plot_revenue_by",
    "plot_lorenz",
    "plot_cross_sell",
    "plot_categories_per_customer",
    "plot_aov_by_tenure",
    "plot_aov_by_order_number",
]

# metric -> (label, kind of axis) for plot_revenue_over_time
# metric -> (label, kind of axis) for plot_revenue_over_time; labels are English, translated where drawn
REVENUE_METRICS: dict[str, tuple[str, str]] = {
    "net_revenue": (TERMS["net_revenue"].label, "currency"),
    "gross_revenue": (TERMS["gross_revenue"].label, "currency"),
    "returns": (TERMS["returns"].label, "currency"),
    "orders": (TERMS["orders"].label, "count"),
    "active_customers": (N_("Customers buying in the period"), "count"),
    "aov": (N_("Average order value"), "currency"),
    "arpu": (N_("Net revenue per customer buying in the period (ARPU)"), "currency"),
    "return_rate": (N_("Returns as share of gross revenue"), "percent"),
}
# matrix kind -> (title, colour-bar label) for plot_cross_sell
CROSS_SELL_LABELS: dict[str, tuple[str, str]] = {
    "counts": (N_("Cross-sell: customers who bought both categories"), N_("Customers (count)")),
    "row": (N_("Cross-sell: share of row-category buyers who also bought the column category"),
            N_("Share of row-category buyers (%)")),
    "customers": (N_("Cross-sell: share of customers who bought both categories"), N_("Share of customers (%)")),
}
#: The default tenure bands of ``clc_lib.monetisation.TENURE_BANDS_DAYS``, marked for translation; bands
#: of one's own are drawn as given.
TENURE_BAND_LABELS: tuple[str, ...] = (N_("0-89 days"), N_("90-179 days"), N_("180-364 days"), N_("1-2 years"),
                                       N_("2+ years"))
#: How the charts name the columns revenue is grouped by; other columns read as their words.
GROUP_NAMES: dict[str, str] = {"stage": N_("stage"), "segment": N_("segment"), "channel": N_("channel"),
                               "acquisition_channel": N_("acquisition channel"), "category": N_("category"),
                               "country": N_("country")}


def plot_revenue_over_time(data: pd.DataFrame, *, metric: str = "net_revenue", currency: str = "",
                           ax: plt.Axes | None = None) -> plt.Axes:
    """One metric of ``clc.revenue_over_time`` per period: revenue, orders, AOV, ARPU, returns, ...

    ``metric`` is one of ``net_revenue``, ``gross_revenue``, ``returns``, ``orders``,
    ``active_customers``, ``aov``, ``arpu``, ``return_rate``. A period marked incomplete
    (``is_complete`` False: it runs past ``as_of``) is drawn as a hollow point on a dotted line
    and named in the legend.
    """
    if metric not in REVENUE_METRICS:
        raise DataError(f"Unknown metric {metric!r} for plot_revenue_over_time.", source="plot_revenue_over_time",
                        hint=f"Use one of: {', '.join(REVENUE_METRICS)}.")
    require_columns_and_rows(data, ["period_start", metric], "plot_revenue_over_time")
    label, kind = REVENUE_METRICS[metric]
    label = _(label)  # term labels are marked for translation in clc_lib.definitions
    ax = get_ax(ax)
    data = data.sort_values("period_start")
    incomplete = incomplete_periods(data, pd.Index(data["period_start"]))
    complete_rows = data[~incomplete]
    line = ax.plot(complete_rows["period_start"], complete_rows[metric], marker="o", markersize=3)[0]
    if incomplete.any():
        first_open = int(np.flatnonzero(incomplete)[0])
        tail = data.iloc[max(first_open - 1, 0):]  # joined to the last complete point
        ax.plot(tail["period_start"], tail[metric], linestyle=":", color=line.get_color())
        ax.plot(data.loc[incomplete, "period_start"], data.loc[incomplete, metric], linestyle="none", marker="o",
                markersize=5, markerfacecolor="white", color=line.get_color(), label=incomplete_period_label(data))
        legend_outside(ax, fontsize="small")
    set_period_ticks(ax, pd.to_datetime(data["period_start"]))
    ax.set_ylim(bottom=min(0, float(np.nanmin(data[metric].to_numpy(dtype="float64")))))
    if kind == "currency":
        format_currency_axis(ax, currency)
        ylabel = money_label(label, currency)
    elif kind == "percent":
        format_percent_axis(ax)
        ylabel = _("{metric} (%)").format(metric=label)
    else:
        format_count_axis(ax)
        ylabel = _("{metric} (count)").format(metric=label)
    return label_axes(ax, _("{metric} per period").format(metric=label), _("Period start"), ylabel)


def plot_revenue_by(data: pd.DataFrame, *, by: str, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bars of net revenue per group with revenue and customer shares (``clc.revenue_by`` output).

    With ``by="stage"`` or ``by="segment"`` each bar has the colour of its lifecycle stage or RFM
    segment (:data:`~clc_lib.plots.theme.STAGE_COLORS`, :data:`~clc_lib.plots.theme.SEGMENT_COLORS`),
    as in every other chart; the group's name is on the axis.
    """
    require_columns_and_rows(data, [by, "net_revenue", "revenue_share", "customer_share"], "plot_revenue_by")
    ax = get_ax(ax)
    labels = data[by].astype(str).tolist()[::-1]
    values = data["net_revenue"].to_numpy()[::-1]
    if by == "stage":
        colors = [stage_color(label) for label in labels]
    elif by == "segment":
        colors = [segment_color(label) for label in labels]
    else:
        colors = [palette_colors(1)[0]] * len(labels)
    shown = {"stage": stage_label, "segment": segment_label}.get(by, str)
    bars = ax.barh([shown(label) for label in labels], values, color=colors)
    ax.set_xlim(left=min(0.0, float(np.nanmin(values))))
    label_bars(ax, bars, [_("{revenue_share} of revenue, {customer_share} of customers").format(
                              revenue_share=format_percent(revenue_share, 0),
                              customer_share=format_percent(customer_share, 0))
                          for revenue_share, customer_share in zip(data["revenue_share"].to_numpy()[::-1],
                                                                   data["customer_share"].to_numpy()[::-1])])
    if by == "segment":
        segment_group_legend(ax, labels)
    format_currency_axis(ax, currency, axis="x")
    name = _(GROUP_NAMES[by]) if by in GROUP_NAMES else by.replace("_", " ")
    net_revenue = term_label("net_revenue")
    return label_axes(ax, _("{net_revenue} by {group}").format(net_revenue=net_revenue, group=name),
                      money_label(net_revenue, currency), name[:1].upper() + name[1:])


def plot_lorenz(data, *, negative: str = "raise", ax: plt.Axes | None = None) -> plt.Axes:
    """Lorenz curve of values per customer (e.g. ``summary.net_revenue``) with the Gini in the title.

    ``negative="clip"`` counts negative values (net refunds) as 0, as in :func:`clc.gini`.
    """
    values = concentration_values(data, negative=negative)  # warns once about clipped values
    curve = lorenz_curve(values)
    coefficient = gini(values)
    top = top_share(values, 0.2)
    ax = get_ax(ax)
    ax.plot(curve["customer_share"], curve["value_share"], label=_("Lorenz curve"))
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label=_("Equal value per customer"))
    ax.fill_between(curve["customer_share"], curve["value_share"], curve["customer_share"], alpha=0.15)
    ax.annotate(_("Top 20% of customers: {share} of value").format(share=format_percent(top, 0)), (0.8, 1 - top),
                xytext=(-10, 10),
                textcoords="offset points", ha="right", fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize="small")
    format_percent_axis(ax, axis="x")
    format_percent_axis(ax, axis="y")
    return label_axes(ax, _("Revenue concentration (Gini = {gini})").format(gini=format_number(coefficient, 2)),
                      _("Share of customers, smallest to largest (%)"), _("Cumulative share of revenue (%)"))


def plot_cross_sell(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Heatmap of category co-occurrence (``clc.category_co_occurrence`` output, counts or shares)."""
    if data.empty:
        raise DataError("The co-occurrence matrix is empty: nothing to plot.", source="plot_cross_sell", n_rows=0)
    counts = all(np.issubdtype(dtype, np.integer) for dtype in data.dtypes)
    row_shares = not counts and bool(np.allclose(np.diag(data.to_numpy(dtype="float64")), 1.0))
    kind = "counts" if counts else ("row" if row_shares else "customers")
    title, colour_label = CROSS_SELL_LABELS[kind]
    ax = get_ax(ax, figsize=(7.5, 6.0))
    sns.heatmap(data, annot=len(data) <= 12, fmt=",.0f" if counts else ".0%", cmap="Blues", ax=ax,
                cbar_kws={"label": _(colour_label)})
    if not counts:
        format_percent_axis(ax.collections[0].colorbar.ax)
    return label_axes(ax, _(title), _("Also bought (category)"), _("Bought (category)"))


def plot_categories_per_customer(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Bars of the share of customers by number of categories bought (``clc.categories_per_customer`` output)."""
    require_columns_and_rows(data, ["categories", "share"], "plot_categories_per_customer")
    ax = get_ax(ax)
    ax.bar(data["categories"].astype(str), data["share"], color=palette_colors(1)[0])
    format_percent_axis(ax)
    return label_axes(ax, _("Cross-sell breadth: categories bought per customer"), _("Distinct categories bought"),
                      _("Customers (%)"))


def _plot_aov(data: pd.DataFrame, x: str, title: str, xlabel: str, currency: str, ax: plt.Axes | None) -> plt.Axes:
    require_columns_and_rows(data, [x, "aov", "orders"], title)
    ax = get_ax(ax)
    labels = data[x].astype(str).map(lambda band: _(band) if band in TENURE_BAND_LABELS else band)
    bars = ax.bar(labels, data["aov"].fillna(0), color=palette_colors(1)[0], label=_("Mean"))
    if "median_order_value" in data.columns:
        ax.plot(labels, data["median_order_value"], "D", color="0.2", label=_("Median"))
    label_bars(ax, bars, [ngettext("{count}\norder", "{count}\norders", int(orders)).format(count=format_count(orders))
                          if pd.notna(value) else "" for value, orders in zip(data["aov"], data["orders"])],
               fontsize="x-small")
    legend_outside(ax, fontsize="small")
    format_currency_axis(ax, currency)
    return label_axes(ax, title, xlabel, money_label(_("Order value"), currency))


def plot_aov_by_tenure(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Average (and median) order value by tenure band at the order (``clc.aov_by_tenure`` output)."""
    return _plot_aov(data, "tenure_band", _("Order value by customer tenure at the order"),
                     _("Tenure at the order (since first purchase)"), currency, ax)


def plot_aov_by_order_number(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Average (and median) order value of the 1st, 2nd, ... order (``clc.aov_by_order_number`` output)."""
    return _plot_aov(data, "order_number", _("Order value by order number"), _("Order number of the customer"),
                     currency, ax)
