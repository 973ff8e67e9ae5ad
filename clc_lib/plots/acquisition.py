"""Charts of acquisition: new customers, funnel, CAC, repeat rate, LTV:CAC and payback.

Each function takes the frame of the matching :mod:`clc_lib.acquisition` function as ``data=`` and
``ax=``, and returns the matplotlib Axes with a title and labelled axes (money in the run currency,
passed as ``currency=``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from clc_lib.errors import ConfigError, DataError
from clc_lib.i18n import N_, _, current_language, format_count, format_number, format_percent, ngettext
from clc_lib.tables import CHANNEL_SUMMARY_ROWS
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
    rate_axis_from_zero,
    require_columns_and_rows,
    set_period_ticks,
    term_label,
)

__all__ = [
    "plot_new_customers",
    "plot_funnel",
    "plot_cac",
    "plot_repeat_rate",
    "plot_ltv_cac",
    "plot_payback_curve",
]

FUNNEL_STAGES: dict[str, str] = {"aware": N_("Aware"), "engaged": N_("Engaged"), "converted": N_("Converted")}
#: The rows of the acquisition tables that sum up channels (named in the reader's language; channel
#: names from the data are drawn as they are).
ALL_ROWS = CHANNEL_SUMMARY_ROWS


def _channel_name(channel) -> str:
    """A channel as the charts name it: the summing rows of :data:`ALL_ROWS` translated, data values as given."""
    return _(channel) if channel in ALL_ROWS else str(channel)


def plot_new_customers(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Stacked bars of new customers per period by acquisition channel (``clc.new_customers`` output).

    A period marked incomplete (``is_complete`` False: it runs past ``as_of``) is drawn hatched and
    lighter and named in the legend.
    """
    require_columns_and_rows(data, ["period_start", "channel", "new_customers"], "plot_new_customers")
    table = data.pivot_table(index="period_start", columns="channel", values="new_customers",
                             aggfunc="sum", fill_value=0)
    table = table[table.sum().sort_values(ascending=False).index]
    incomplete = incomplete_periods(data, table.index)
    ax = get_ax(ax)
    positions = np.arange(len(table))
    bottom = np.zeros(len(table))
    for color, channel in zip(palette_colors(table.shape[1]), table.columns):
        bars = ax.bar(positions, table[channel].to_numpy(), bottom=bottom, label=_channel_name(channel), color=color,
                      width=0.85)
        for bar in np.asarray(bars.patches, dtype=object)[incomplete]:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
        bottom += table[channel].to_numpy()
    if incomplete.any():
        ax.bar([], [], color="white", edgecolor="grey", hatch="//", label=incomplete_period_label(data))
    set_period_ticks(ax, table.index, positions)
    ax.set_xlim(-0.6, len(table) - 0.4)
    legend_outside(ax, title=_("Acquisition channel"), fontsize="small")
    format_count_axis(ax)
    return label_axes(ax, _("New customers per period by acquisition channel"), _("Period of first purchase"),
                      _("New customers (count)"))


def plot_funnel(data: pd.DataFrame, *, by: str = "channel", ax: plt.Axes | None = None) -> plt.Axes:
    """Grouped bars aware / engaged / converted per group with the conversion rate (``clc.funnel`` output)."""
    require_columns_and_rows(data, [by, *FUNNEL_STAGES, "conversion_rate"], "plot_funnel")
    groups = data[~data[by].isin(ALL_ROWS)] if len(data) > 1 else data
    ax = get_ax(ax)
    positions = np.arange(len(groups))
    width = 0.8 / len(FUNNEL_STAGES)
    for i, (color, (stage, label)) in enumerate(zip(palette_colors(len(FUNNEL_STAGES)), FUNNEL_STAGES.items())):
        bars = ax.bar(positions + (i - 1) * width, groups[stage].to_numpy(), width=width, label=_(label), color=color)
    label_bars(ax, bars, [format_percent(rate) if pd.notna(rate) else "" for rate in groups["conversion_rate"]])
    ax.set_xticks(positions)
    ax.set_xticklabels(groups[by].map(_channel_name), rotation=30, ha="right")
    legend_outside(ax, title=_("Stage reached"), fontsize="small")
    format_count_axis(ax)
    name = _group_name(by)
    return label_axes(ax, _("Pre-purchase funnel by {group} (label: converted / aware)").format(group=name),
                      _("First-touch {group}").format(group=name), _("People (count)"))


#: How the charts name the columns a funnel is grouped by; other columns read as their words.
_GROUP_NAMES: dict[str, str] = {"channel": N_("channel"), "campaign": N_("campaign"), "source": N_("source"),
                                "medium": N_("medium")}


def _group_name(column: str) -> str:
    """The column ``column`` as words in the active language (``"channel"`` -> ``渠道`` in Chinese)."""
    return _(_GROUP_NAMES[column]) if column in _GROUP_NAMES else column.replace("_", " ")


def plot_cac(data: pd.DataFrame, *, currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """CAC per paid channel (``clc.cac_by_channel``): bars for totals, lines per month when ``by_period=True``."""
    require_columns_and_rows(data, ["channel", "cac"], "plot_cac")
    ax = get_ax(ax)
    paid = data[data["cac"].notna()]
    if paid.empty:
        raise DataError("No channel has a CAC (no spend matched any new customer): nothing to plot.",
                        source="plot_cac", column="cac", n_rows=len(data),
                        hint="Check that spend.channel uses the same names as the acquisition channels.")
    if "period_start" in paid.columns:
        for color, (channel, rows) in zip(palette_colors(paid["channel"].nunique()),
                                          paid.groupby("channel", sort=True)):
            style = "--" if channel in ALL_ROWS else "-"
            ax.plot(rows["period_start"], rows["cac"], style, marker="o", label=_channel_name(channel), color=color)
        set_period_ticks(ax, pd.to_datetime(paid["period_start"]))
        legend_outside(ax, title=_("Channel"), fontsize="small")
        ax.set_ylim(bottom=0)
        xlabel = _("Month")
    else:
        paid = paid.sort_values("cac")
        colors = ["0.55" if c in ALL_ROWS else palette_colors(1)[0] for c in paid["channel"]]
        ax.barh(paid["channel"].map(_channel_name), paid["cac"], color=colors)
        for y, (value, new) in enumerate(zip(paid["cac"], paid["new_customers"])):
            ax.annotate(_cac_note(value, currency, new), (value, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize="small")
        format_currency_axis(ax, currency, axis="x")
        return label_axes(ax, _("Customer acquisition cost by channel"),
                          money_label(_("CAC per new customer"), currency), _("Acquisition channel"))
    format_currency_axis(ax, currency)
    return label_axes(ax, _("Customer acquisition cost per month by channel"), xlabel,
                      money_label(_("CAC per new customer"), currency))


def _cac_note(cac: float, currency: str, new_customers: int) -> str:
    """The text beside a CAC bar: ``42 EUR (1,234 new)``."""
    # the code after the amount in English, before it in Chinese, as in clc_lib.i18n.format_currency
    amount = f"{cac:,.0f} {currency}" if current_language() == "en" else f"{currency} {cac:,.0f}"
    return _("{amount} ({count} new)").format(amount=amount.strip(), count=format_count(new_customers))


def plot_repeat_rate(data: pd.DataFrame, *, window_days: int | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Repeat rate per acquisition cohort, one line per channel (``clc.repeat_rate`` output; complete cohorts)."""
    require_columns_and_rows(data, ["cohort", "repeat_rate"], "plot_repeat_rate")
    complete = data[data["repeat_rate"].notna()]
    ax = get_ax(ax)
    title = (ngettext("Customers with a second purchase within {days} day, by cohort",
                      "Customers with a second purchase within {days} days, by cohort", window_days)
             .format(days=window_days) if window_days else _("Customers with a second purchase, by cohort"))
    if complete.empty:  # a legitimate state of young data, shown rather than raised
        ax.text(0.5, 0.5, _("No cohort has a complete repeat window yet"), ha="center", va="center",
                transform=ax.transAxes)
        return label_axes(ax, title, _("Acquisition cohort (period start)"), _repeat_rate_label(window_days))
    series = complete.groupby("channel", sort=True) if "channel" in complete.columns else [("all", complete)]
    for color, (channel, rows) in zip(palette_colors(complete.get("channel", pd.Series(["all"])).nunique()), series):
        ax.plot(rows["cohort"], rows["repeat_rate"], marker="o", label=_channel_name(channel), color=color)
    if "channel" in complete.columns:
        legend_outside(ax, title=_("Acquisition channel"), fontsize="small")
    set_period_ticks(ax, pd.to_datetime(complete["cohort"]))
    rate_axis_from_zero(ax, complete["repeat_rate"])
    format_percent_axis(ax)
    return label_axes(ax, title, _("Acquisition cohort (period start)"), _repeat_rate_label(window_days))


def _repeat_rate_label(window_days: int | None) -> str:
    """Axis label of the repeat rate: the defined term with the window, else a plain description."""
    if not window_days:
        return _("Customers with a second purchase (% of cohort)")
    term = term_label("repeat_within_window", window_days=window_days)
    return _("{rate} (% of cohort)").format(rate=term)


def plot_ltv_cac(data: pd.DataFrame, *, payback: pd.DataFrame | None = None, currency: str = "",
                 horizon: str | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Bars of LTV and CAC per channel with the LTV:CAC ratio and, when given, the payback months.

    ``data`` is ``clc.ltv_cac`` output; ``payback`` is ``clc.payback_period`` output; ``horizon`` is
    the LTV horizon as words (:func:`clc_lib.definitions.horizon_text`, e.g. ``"12-month"``), put in
    the title and legend so the value states its horizon.
    """
    require_columns_and_rows(data, ["channel", "ltv", "cac", "ltv_cac_ratio"], "plot_ltv_cac")
    rows = data[data["ltv"].notna()].reset_index(drop=True)  # CAC-only rows (blended) have nothing to compare
    if rows.empty:
        raise DataError("No channel has an LTV: nothing to plot.", source="plot_ltv_cac", column="ltv",
                        n_rows=len(data), hint="Check that the LTV and CAC channel names match.")
    months = {} if payback is None else dict(zip(payback["channel"], payback["payback_months"]))
    ax = get_ax(ax)
    positions = np.arange(len(rows))
    colors = palette_colors(2)
    value_words = (_("{horizon} customer value").format(horizon=horizon) if horizon
                   else _("Customer value"))
    ltv_label = _("{value} (LTV) per customer").format(value=value_words)
    ax.bar(positions - 0.2, rows["ltv"].fillna(0), width=0.4, label=ltv_label, color=colors[0])
    ax.bar(positions + 0.2, rows["cac"].fillna(0), width=0.4, label=_("CAC per new customer"), color=colors[1])
    for x, (channel, ltv, cac, ratio) in enumerate(rows[["channel", "ltv", "cac", "ltv_cac_ratio"]].itertuples(
            index=False)):
        parts = [f"{format_number(ratio, 1)}:1"] if pd.notna(ratio) else []
        if channel in months:
            paid_back = months[channel]
            parts.append(_("payback {months} mo").format(months=format_number(paid_back, 0)) if pd.notna(paid_back)
                         else _("not paid back"))
        if parts:
            ax.annotate("\n".join(parts), (x, np.nanmax([ltv, cac])), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize="small")
    ax.set_xticks(positions)
    ax.set_xticklabels(rows["channel"].map(_channel_name), rotation=30, ha="right")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the annotations
    legend_outside(ax, fontsize="small")
    format_currency_axis(ax, currency)
    return label_axes(ax, _("{value} (LTV) vs CAC by acquisition channel").format(value=value_words),
                      _("Acquisition channel"), money_label(_("Value per customer"), currency))


def plot_payback_curve(data: pd.DataFrame, *, cac: pd.DataFrame | pd.Series | None = None, margin_rate: float = 1.0,
                       currency: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Cumulative value per acquired customer by months since acquisition, with each channel's CAC as a line.

    ``data`` is ``clc.cumulative_revenue_per_customer`` output; ``cac`` is ``clc.cac_by_channel(...,
    by_period=False)`` output or a Series channel -> CAC. The value is the curve's gross margin when it
    has ``cumulative_margin_per_customer`` (built with ``margin=``), else ``margin_rate`` x its revenue;
    the title says which. The curve crosses its CAC line at the payback month.
    """
    require_columns_and_rows(data, ["channel", "months_since_acquisition", "cumulative_revenue_per_customer"],
                             "plot_payback_curve")
    on_margin = "cumulative_margin_per_customer" in data.columns
    if on_margin and margin_rate != 1.0:
        raise ConfigError("The curve is already on gross margin (built with margin=); leave margin_rate at 1.0.")
    column = "cumulative_margin_per_customer" if on_margin else "cumulative_revenue_per_customer"
    if cac is not None and isinstance(cac, pd.DataFrame):
        cac = cac.set_index("channel")["cac"]
    ax = get_ax(ax)
    channels = sorted(data["channel"].unique())
    for color, channel in zip(palette_colors(len(channels)), channels):
        rows = data[data["channel"] == channel]
        ax.plot(rows["months_since_acquisition"] + 1, rows[column] * margin_rate,
                marker="o", markersize=3, color=color, label=_channel_name(channel))
        if cac is not None and pd.notna(cac.get(channel, np.nan)):
            ax.axhline(cac[channel], color=color, linestyle="--", linewidth=1)
    legend_outside(ax, title=_("Channel (dashed: CAC)"), fontsize="small")
    ax.set_ylim(bottom=0)
    format_currency_axis(ax, currency)
    if on_margin or margin_rate != 1.0:
        title = _("Cumulative gross margin per acquired customer")
        ylabel = _("Cumulative gross margin per customer")
        basis = (data.attrs.get("value_basis", _("gross margin")) if on_margin
                 else _("{share} of net revenue").format(share=format_percent(margin_rate, 0)))
    else:
        title = _("Cumulative revenue per acquired customer")
        ylabel = _("Cumulative revenue per customer")
        basis = _("net revenue, no gross margin applied")
    return label_axes(ax, title + "\n" + _("({basis})").format(basis=basis),
                      _("Months since acquisition (30.4-day months, at month end)"), money_label(ylabel, currency))
