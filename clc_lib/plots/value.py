"""Charts of acquisition and monetisation: each takes ``data=`` (the frame of the matching analysis) and ``ax=``.

Every function returns the matplotlib Axes with a title and labelled axes (money in the run
currency, passed as ``currency=``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.errors import ConfigError, DataError
from clc_lib.monetisation import concentration_values, gini, lorenz_curve, top_share
from clc_lib.plots._theme import (
    PALETTE,
    format_count_axis,
    format_currency_axis,
    format_percent_axis,
    get_ax,
    label_axes,
)

__all__ = [
    "plot_new_customers",
    "plot_funnel",
    "plot_cac",
    "plot_repeat_rate",
    "plot_revenue_over_time",
    "plot_revenue_by",
    "plot_lorenz",
    "plot_ltv_cac",
    "plot_payback_curve",
    "plot_cross_sell",
    "plot_categories_per_customer",
    "plot_aov_by_tenure",
    "plot_aov_by_order_number",
]

# metric -> (label, kind of axis) for plot_revenue_over_time
REVENUE_METRICS: dict[str, tuple[str, str]] = {
    "net_revenue": ("Net revenue", "currency"),
    "gross_revenue": ("Gross revenue", "currency"),
    "returns": ("Returns", "currency"),
    "orders": ("Orders", "count"),
    "active_customers": ("Active customers", "count"),
    "aov": ("Average order value", "currency"),
    "arpu": ("Net revenue per active customer (ARPU)", "currency"),
    "return_rate": ("Returns as share of gross revenue", "percent"),
}
FUNNEL_STAGES: dict[str, str] = {"aware": "Aware", "engaged": "Engaged", "converted": "Converted"}
# matrix kind -> (title, colour-bar label) for plot_cross_sell
CROSS_SELL_LABELS: dict[str, tuple[str, str]] = {
    "counts": ("Cross-sell: customers who bought both categories", "Customers (count)"),
    "row": ("Cross-sell: share of row-category buyers who also bought the column category",
            "Share of row-category buyers (%)"),
    "customers": ("Cross-sell: share of customers who bought both categories", "Share of customers (%)"),
}
ALL_ROWS = ("all channels", "all channels (blended)", "paid channels")
MAX_PERIOD_TICKS = 18


def _check_data(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} has no column {missing[0]!r}.", source=what, column=missing[0],
                        hint=f"Pass the frame returned by the matching clc analysis; it has: {list(data.columns)}.")
    if data.empty:
        raise DataError(f"The data for {what} has no rows: nothing to plot.", source=what, n_rows=0,
                        hint="Check the as_of date and whether the input table has rows in the period.")


def _money_label(label: str, currency: str) -> str:
    return f"{label} ({currency})" if currency else label


def _period_labels(dates: pd.Series | pd.Index) -> list[str]:
    dates = pd.DatetimeIndex(dates)
    monthly = bool((dates.day == 1).all())
    return list(dates.strftime("%b %Y" if monthly else "%d %b %Y"))


def _thin_ticks(ax: plt.Axes, positions: np.ndarray, labels: list[str]) -> None:
    step = max(1, int(np.ceil(len(labels) / MAX_PERIOD_TICKS)))
    ax.set_xticks(positions[::step])
    ax.set_xticklabels(labels[::step], rotation=45, ha="right")


def _colors(n: int) -> list:
    return sns.color_palette(PALETTE, n_colors=max(n, 1))


def _incomplete_label(data: pd.DataFrame) -> str:
    as_of = data.attrs.get("as_of")
    return "incomplete period" + (f" (data to {pd.Timestamp(as_of):%d %b %Y})" if as_of is not None else "")


def _incomplete_periods(data: pd.DataFrame, periods: pd.Index) -> np.ndarray:
    """Booleans per period of ``periods``: True where ``data.is_complete`` marks it unfinished."""
    if "is_complete" not in data.columns:
        return np.zeros(len(periods), dtype=bool)
    complete = data.groupby("period_start")["is_complete"].all()
    return ~complete.reindex(periods, fill_value=True).to_numpy(dtype=bool)


def plot_new_customers(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Stacked bars of new customers per period by acquisition channel (``clc.new_customers`` output).

    A period marked incomplete (``is_complete`` False: it runs past ``as_of``) is drawn hatched and
    lighter and named in the legend.
    """
    _check_data(data, ["period_start", "channel", "new_customers"], "plot_new_customers")
    table = data.pivot_table(index="period_start", columns="channel", values="new_customers",
                             aggfunc="sum", fill_value=0)
    table = table[table.sum().sort_values(ascending=False).index]
    incomplete = _incomplete_periods(data, table.index)
    ax = get_ax(ax)
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for color, channel in zip(_colors(table.shape[1]), table.columns):
        bars = ax.bar(positions, table[channel].to_numpy(), bottom=bottom, label=str(channel), color=color,
                      width=0.85)
        for bar in np.asarray(bars.patches, dtype=object)[incomplete]:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
        bottom += table[channel].to_numpy()
    if incomplete.any():
        ax.bar([], [], color="white", edgecolor="grey", hatch="//", label=_incomplete_label(data))
    _thin_ticks(ax, positions, _period_labels(table.index))
    ax.legend(title="Acquisition channel", fontsize="small", ncols=2)
    format_count_axis(ax)
    return label_axes(ax, "New customers per period by acquisition channel", "Period of first purchase",
                      "New customers (count)")


def plot_funnel(data: pd.DataFrame, *, by: str = "channel", ax: plt.Axes | None = None) -> plt.Axes:
    """Grouped bars aware / engaged / converted per group with the conversion rate (``clc.funnel`` output)."""
    _check_data(data, [by, *FUNNEL_STAGES, "conversion_rate"], "plot_funnel")
    groups = data[~data[by].isin(ALL_ROWS)] if len(data) > 1 else data
    ax = get_ax(ax)
    positions = np.arange(len(groups))
    width = 0.8 / len(FUNNEL_STAGES)
    for i, (color, (stage, label)) in enumerate(zip(_colors(len(FUNNEL_STAGES)), FUNNEL_STAGES.items())):
        ax.bar(positions + (i - 1) * width, groups[stage].to_numpy(), width=width, label=label, color=color)
    for x, converted, rate in zip(positions, groups["converted"], groups["conversion_rate"]):
        if pd.notna(rate):
            ax.annotate(f"{rate:.1%}", (x + width, converted), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize="small")
    ax.set_xticks(positions)
    ax.set_xticklabels(groups[by].astype(str), rotation=30, ha="right")
    ax.legend(title="Stage reached", fontsize="small")
    format_count_axis(ax)
    name = by.replace("_", " ")
    return label_axes(ax, f"Pre-purchase funnel by {name} (label: converted / aware)", f"First-touch {name}",
                      "People (count)")


def plot_cac(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """CAC per paid channel (``clc.cac_by_channel``): bars for totals, lines per month when ``by_period=True``."""
    _check_data(data, ["channel", "cac"], "plot_cac")
    ax = get_ax(ax)
    paid = data[data["cac"].notna()]
    if paid.empty:
        raise DataError("No channel has a CAC (no spend matched any new customer): nothing to plot.",
                        source="plot_cac", column="cac", n_rows=len(data),
                        hint="Check that spend.channel uses the same names as the acquisition channels.")
    if "period_start" in paid.columns:
        for color, (channel, rows) in zip(_colors(paid["channel"].nunique()), paid.groupby("channel", sort=True)):
            style = "--" if channel in ALL_ROWS else "-"
            ax.plot(rows["period_start"], rows["cac"], style, marker="o", label=str(channel), color=color)
        ax.legend(title="Channel", fontsize="small")
        xlabel = "Month"
    else:
        paid = paid.sort_values("cac")
        colors = ["0.55" if c in ALL_ROWS else _colors(1)[0] for c in paid["channel"]]
        ax.barh(paid["channel"].astype(str), paid["cac"], color=colors)
        for y, (value, new) in enumerate(zip(paid["cac"], paid["new_customers"])):
            ax.annotate(f"{value:,.0f} {currency} ({new:,} new)".replace("  ", " "), (value, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize="small")
        format_currency_axis(ax, currency, axis="x")
        return label_axes(ax, "Customer acquisition cost by channel", _money_label("CAC per new customer", currency),
                          "Acquisition channel")
    format_currency_axis(ax, currency)
    return label_axes(ax, "Customer acquisition cost per month by channel", xlabel,
                      _money_label("CAC per new customer", currency))


def plot_repeat_rate(data: pd.DataFrame, *, window_days: int | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Repeat rate per acquisition cohort, one line per channel (``clc.repeat_rate`` output; complete cohorts)."""
    _check_data(data, ["cohort", "repeat_rate"], "plot_repeat_rate")
    complete = data[data["repeat_rate"].notna()]
    ax = get_ax(ax)
    window = f" within {window_days} days" if window_days else ""
    if complete.empty:  # a legitimate state of young data, shown rather than raised
        ax.text(0.5, 0.5, "No cohort has a complete repeat window yet", ha="center", va="center",
                transform=ax.transAxes)
        return label_axes(ax, f"Customers with a second purchase{window}, by cohort",
                          "Acquisition cohort (period start)", "Repeat rate (% of cohort)")
    series = complete.groupby("channel", sort=True) if "channel" in complete.columns else [("all", complete)]
    for color, (channel, rows) in zip(_colors(complete.get("channel", pd.Series(["all"])).nunique()), series):
        ax.plot(rows["cohort"], rows["repeat_rate"], marker="o", label=str(channel), color=color)
    if "channel" in complete.columns:
        ax.legend(title="Acquisition channel", fontsize="small")
    format_percent_axis(ax)
    return label_axes(ax, f"Customers with a second purchase{window}, by cohort", "Acquisition cohort (period start)",
                      "Repeat rate (% of cohort)")


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
    _check_data(data, ["period_start", metric], "plot_revenue_over_time")
    label, kind = REVENUE_METRICS[metric]
    ax = get_ax(ax)
    data = data.sort_values("period_start")
    incomplete = _incomplete_periods(data, pd.Index(data["period_start"]))
    complete_rows = data[~incomplete]
    line = ax.plot(complete_rows["period_start"], complete_rows[metric], marker="o", markersize=3)[0]
    if incomplete.any():
        first_open = int(np.flatnonzero(incomplete)[0])
        tail = data.iloc[max(first_open - 1, 0):]  # joined to the last complete point
        ax.plot(tail["period_start"], tail[metric], linestyle=":", color=line.get_color())
        ax.plot(data.loc[incomplete, "period_start"], data.loc[incomplete, metric], linestyle="none", marker="o",
                markersize=5, markerfacecolor="white", color=line.get_color(), label=_incomplete_label(data))
        ax.legend(fontsize="small")
    ax.set_ylim(bottom=min(0, float(np.nanmin(data[metric].to_numpy(dtype="float64")))))
    if kind == "currency":
        format_currency_axis(ax, currency)
        ylabel = _money_label(label, currency)
    elif kind == "percent":
        format_percent_axis(ax, decimals=1)
        ylabel = f"{label} (%)"
    else:
        format_count_axis(ax)
        ylabel = f"{label} (count)"
    return label_axes(ax, f"{label} per period", "Period start", ylabel)


def plot_revenue_by(data: pd.DataFrame, *, by: str, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bars of net revenue per group with revenue and customer shares (``clc.revenue_by`` output)."""
    _check_data(data, [by, "net_revenue", "revenue_share", "customer_share"], "plot_revenue_by")
    ax = get_ax(ax)
    labels = data[by].astype(str).tolist()[::-1]
    values = data["net_revenue"].to_numpy()[::-1]
    ax.barh(labels, values, color=_colors(1)[0])
    for y, (value, revenue_share, customer_share) in enumerate(zip(values, data["revenue_share"].to_numpy()[::-1],
                                                                   data["customer_share"].to_numpy()[::-1])):
        ax.annotate(f"{revenue_share:.0%} of revenue, {customer_share:.0%} of customers", (max(value, 0), y),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize="small")
    format_currency_axis(ax, currency, axis="x")
    name = by.replace("_", " ")
    return label_axes(ax, f"Net revenue by {name}", _money_label("Net revenue", currency), name.capitalize())


def plot_lorenz(data, *, negative: str = "raise", ax: plt.Axes | None = None) -> plt.Axes:
    """Lorenz curve of values per customer (e.g. ``summary.net_revenue``) with the Gini in the title.

    ``negative="clip"`` counts negative values (net refunds) as 0, as in :func:`clc.gini`.
    """
    values = concentration_values(data, negative=negative)  # warns once about clipped values
    curve = lorenz_curve(values)
    coefficient = gini(values)
    top = top_share(values, 0.2)
    ax = get_ax(ax)
    ax.plot(curve["customer_share"], curve["value_share"], label="Lorenz curve")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="Equal value per customer")
    ax.fill_between(curve["customer_share"], curve["value_share"], curve["customer_share"], alpha=0.15)
    ax.annotate(f"Top 20% of customers: {top:.0%} of value", (0.8, 1 - top), xytext=(-10, 10),
                textcoords="offset points", ha="right", fontsize="small")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize="small")
    format_percent_axis(ax, axis="x")
    format_percent_axis(ax, axis="y")
    return label_axes(ax, f"Revenue concentration (Gini = {coefficient:.2f})",
                      "Share of customers, smallest to largest (%)", "Cumulative share of revenue (%)")


def plot_ltv_cac(data: pd.DataFrame, *, payback: pd.DataFrame | None = None, currency: str = "",
                 ax: plt.Axes | None = None) -> plt.Axes:
    """Bars of LTV and CAC per channel with the LTV:CAC ratio and, when given, the payback months.

    ``data`` is ``clc.ltv_cac`` output; ``payback`` is ``clc.payback_period`` output.
    """
    _check_data(data, ["channel", "ltv", "cac", "ltv_cac_ratio"], "plot_ltv_cac")
    rows = data[data["ltv"].notna()].reset_index(drop=True)  # CAC-only rows (blended) have nothing to compare
    if rows.empty:
        raise DataError("No channel has an LTV: nothing to plot.", source="plot_ltv_cac", column="ltv",
                        n_rows=len(data), hint="Check that the LTV and CAC channel names match.")
    months = {} if payback is None else dict(zip(payback["channel"], payback["payback_months"]))
    ax = get_ax(ax)
    positions = np.arange(len(rows))
    colors = _colors(2)
    ax.bar(positions - 0.2, rows["ltv"].fillna(0), width=0.4, label="LTV per customer", color=colors[0])
    ax.bar(positions + 0.2, rows["cac"].fillna(0), width=0.4, label="CAC per new customer", color=colors[1])
    for x, (channel, ltv, cac, ratio) in enumerate(rows[["channel", "ltv", "cac", "ltv_cac_ratio"]].itertuples(
            index=False)):
        parts = [f"{ratio:.1f}:1"] if pd.notna(ratio) else []
        if channel in months:
            paid_back = months[channel]
            parts.append(f"payback {paid_back:.0f} mo" if pd.notna(paid_back) else "not paid back")
        if parts:
            ax.annotate("\n".join(parts), (x, np.nanmax([ltv, cac])), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize="small")
    ax.set_xticks(positions)
    ax.set_xticklabels(rows["channel"].astype(str), rotation=30, ha="right")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the annotations
    ax.legend(fontsize="small")
    format_currency_axis(ax, currency)
    return label_axes(ax, "LTV vs CAC by acquisition channel", "Acquisition channel",
                      _money_label("Value per customer", currency))


def plot_payback_curve(data: pd.DataFrame, *, cac: pd.DataFrame | pd.Series | None = None, margin_rate: float = 1.0,
                       currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Cumulative value per acquired customer by months since acquisition, with each channel's CAC as a line.

    ``data`` is ``clc.cumulative_revenue_per_customer`` output; ``cac`` is ``clc.cac_by_channel(...,
    by_period=False)`` output or a Series channel -> CAC. The value is the curve's gross margin when it
    has ``cumulative_margin_per_customer`` (built with ``margin=``), else ``margin_rate`` x its revenue;
    the title says which. The curve crosses its CAC line at the payback month.
    """
    _check_data(data, ["channel", "months_since_acquisition", "cumulative_revenue_per_customer"], "plot_payback_curve")
    on_margin = "cumulative_margin_per_customer" in data.columns
    if on_margin and margin_rate != 1.0:
        raise ConfigError("The curve is already on gross margin (built with margin=); leave margin_rate at 1.0.")
    column = "cumulative_margin_per_customer" if on_margin else "cumulative_revenue_per_customer"
    if cac is not None and isinstance(cac, pd.DataFrame):
        cac = cac.set_index("channel")["cac"]
    ax = get_ax(ax)
    channels = sorted(data["channel"].unique())
    for color, channel in zip(_colors(len(channels)), channels):
        rows = data[data["channel"] == channel]
        ax.plot(rows["months_since_acquisition"] + 1, rows[column] * margin_rate,
                marker="o", markersize=3, color=color, label=str(channel))
        if cac is not None and pd.notna(cac.get(channel, np.nan)):
            ax.axhline(cac[channel], color=color, linestyle="--", linewidth=1)
    ax.legend(title="Channel (dashed: CAC)", fontsize="small")
    ax.set_ylim(bottom=0)
    format_currency_axis(ax, currency)
    if on_margin:
        what, basis = "gross margin", data.attrs.get("value_basis", "gross margin")
    elif margin_rate != 1.0:
        what, basis = "gross margin", f"{margin_rate:.0%} of net revenue"
    else:
        what, basis = "revenue", "net revenue, no gross margin applied"
    return label_axes(ax, f"Cumulative {what} per acquired customer\n({basis})",
                      "Months since acquisition (30.4-day months, at month end)",
                      _money_label(f"Cumulative {what} per customer", currency))


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
                cbar_kws={"label": colour_label})
    if not counts:
        format_percent_axis(ax.collections[0].colorbar.ax)
    return label_axes(ax, title, "Also bought (category)", "Bought (category)")


def plot_categories_per_customer(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Bars of the share of customers by number of categories bought (``clc.categories_per_customer`` output)."""
    _check_data(data, ["categories", "share"], "plot_categories_per_customer")
    ax = get_ax(ax)
    ax.bar(data["categories"].astype(str), data["share"], color=_colors(1)[0])
    format_percent_axis(ax)
    return label_axes(ax, "Cross-sell breadth: categories bought per customer", "Distinct categories bought",
                      "Customers (%)")


def _plot_aov(data: pd.DataFrame, x: str, title: str, xlabel: str, currency: str, ax: plt.Axes | None) -> plt.Axes:
    _check_data(data, [x, "aov", "orders"], title)
    ax = get_ax(ax)
    labels = data[x].astype(str)
    ax.bar(labels, data["aov"].fillna(0), color=_colors(1)[0], label="Mean")
    if "median_order_value" in data.columns:
        ax.plot(labels, data["median_order_value"], "D", color="0.2", label="Median")
    for position, (value, orders) in enumerate(zip(data["aov"], data["orders"])):
        if pd.notna(value):
            ax.annotate(f"{orders:,} orders", (position, value), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize="x-small")
    ax.legend(fontsize="small")
    format_currency_axis(ax, currency)
    return label_axes(ax, title, xlabel, _money_label("Order value", currency))


def plot_aov_by_tenure(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Average (and median) order value by tenure band at the order (``clc.aov_by_tenure`` output)."""
    return _plot_aov(data, "tenure_band", "Order value by customer tenure at the order",
                     "Tenure at the order (since first purchase)", currency, ax)


def plot_aov_by_order_number(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Average (and median) order value of the 1st, 2nd, ... order (``clc.aov_by_order_number`` output)."""
    return _plot_aov(data, "order_number", "Order value by order number", "Order number of the customer",
                     currency, ax)
