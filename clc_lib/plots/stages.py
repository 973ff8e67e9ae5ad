"""Charts of lifecycle stages: counts, transitions, flows, metrics and back-test per stage.

Each function takes the output of the matching :mod:`clc_lib.stages` function as ``data=``, draws on
``ax=`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.plots.theme import (
    STAGE_COLORS,
    format_count_axis,
    format_currency_axis,
    format_percent_axis,
    get_ax,
    label_axes,
    label_bars,
    legend_outside,
    set_period_ticks,
    stage_color,
    term_label,
)
from clc_lib.definitions import stage_label
from clc_lib.i18n import N_, _, format_count, format_date, format_percent, ngettext
from clc_lib.stages import PROSPECT_STAGES, STAGES

__all__ = [
    "STAGE_COLORS",
    "plot_stage_counts",
    "plot_transition_matrix",
    "plot_stage_flows",
    "plot_stage_metrics",
    "plot_stage_backtest",
]

#: How each stage metric is labelled and formatted: (axis label, kind of axis).
#: The title of each metric's chart is its own message, so that each language words it whole.
_METRIC_AXES: Mapping[str, tuple[str, str]] = {
    "customers": (N_("Customers"), "count"),
    "customer_share": (N_("Share of customers"), "percent"),
    "revenue": (N_("Net revenue in window ({currency})"), "currency"),
    "revenue_share": (N_("Share of revenue in window"), "percent"),
    "aov": (N_("Average order value ({currency})"), "currency"),
    "next_period_purchase_rate": (N_("Bought in the next period (share)"), "percent"),
    "next_stage_conversion": (N_("Moved to the next stage (share)"), "percent"),
    "median_periods_in_stage": (N_("Median stay in stage (periods)"), "count"),
}
_METRIC_TITLES: Mapping[str, str] = {
    "customers": N_("Customers by lifecycle stage"),
    "customer_share": N_("Share of customers by lifecycle stage"),
    "revenue": N_("Net revenue in window by lifecycle stage"),
    "revenue_share": N_("Share of revenue in window by lifecycle stage"),
    "aov": N_("Average order value by lifecycle stage"),
    "next_period_purchase_rate": N_("Bought in the next period by lifecycle stage"),
    "next_stage_conversion": N_("Moved to the next stage by lifecycle stage"),
    "median_periods_in_stage": N_("Median stay in stage by lifecycle stage"),
}


def _format_axis(ax: plt.Axes, kind: str, currency: str, axis: str = "y") -> None:
    if kind == "percent":
        format_percent_axis(ax, axis=axis)
    elif kind == "currency":
        format_currency_axis(ax, currency, axis=axis)
    else:
        format_count_axis(ax, axis=axis)


def _present_stages(values) -> list[str]:
    present = set(map(str, values))
    return [s for s in STAGES if s in present]


def plot_stage_counts(data: pd.DataFrame, ax: plt.Axes | None = None, *, share: bool = False) -> plt.Axes:
    """Stacked area of customers per stage over time, with the prospects stated apart.

    Only customer stages are stacked, so each period end sums to the customers of the definitions
    layer (``TERMS["customer"]``); the prospect stages (aware, engaged) are not customers and are
    given as a count at the last period end in the subtitle.

    Parameters
    ----------
    data
        Output of :func:`clc_lib.stage_history.stage_counts` (``period_end``, ``stage``, ``customers``:
        people in the stage at the period end).
    share
        Plot each stage's share of the customers at the snapshot instead of counts.
    """
    ax = get_ax(ax)
    wide = data.pivot_table(index="period_end", columns="stage", values="customers", aggfunc="sum",
                            observed=False, fill_value=0)
    prospect_columns = [s for s in PROSPECT_STAGES if s in set(map(str, wide.columns))]
    prospects_at_end = int(wide[prospect_columns].iloc[-1].sum()) if prospect_columns and len(wide) else 0
    stages = [s for s in _present_stages(wide.columns) if s not in PROSPECT_STAGES and wide[s].sum() > 0]
    wide = wide[stages].astype(float)
    if share:
        wide = wide.div(wide.sum(axis=1).where(lambda t: t > 0), axis=0).fillna(0)
    ax.stackplot(wide.index, *[wide[s].to_numpy() for s in stages], labels=[stage_label(s) for s in stages],
                 colors=[stage_color(s) for s in stages], edgecolor="white", linewidth=0.4)
    legend_outside(ax, title=_("Stage"), reverse=True)
    set_period_ticks(ax, wide.index)
    ax.set_xlim(wide.index.min(), wide.index.max())
    customers = term_label("customer")
    title = (_("{customers} by lifecycle stage (share)") if share
             else _("{customers} by lifecycle stage")).format(customers=customers)
    if prospect_columns:
        title += "\n" + _("{prospects} (not customers, not drawn): {count} at the last period end").format(
            prospects=term_label("prospect"), count=format_count(prospects_at_end))
    ylabel = _("Share of {customers}").format(customers=customers.lower()) if share else customers
    label_axes(ax, title, _("Snapshot date (period end)"), ylabel)
    _format_axis(ax, "percent" if share else "count", "")
    return ax


def plot_transition_matrix(data: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Heatmap of stage-to-stage transitions (rows: from, columns: to).

    ``data`` is :func:`clc_lib.stage_history.transition_matrix`; with row shares the cells are annotated
    as percentages, with counts as whole numbers. Stages without any customer are left out.
    """
    ax = get_ax(ax, figsize=(8.0, 6.5))
    matrix = data.copy()
    keep_rows = [s for s in matrix.index if matrix.loc[s].fillna(0).sum() > 0]
    keep_cols = [s for s in matrix.columns if matrix[s].fillna(0).sum() > 0]
    matrix = matrix.loc[keep_rows, keep_cols].astype(float)
    matrix = matrix.rename(index=stage_label, columns=stage_label)
    is_share = bool(np.nanmax(matrix.to_numpy(), initial=0) <= 1.0)
    sns.heatmap(matrix, ax=ax, cmap="Blues", annot=True, fmt=".0%" if is_share else ",.0f",
                linewidths=0.5, cbar_kws={"label": _("Share of the row's customers") if is_share else _("Customers")})
    label_axes(ax, _("Stage transitions between snapshots"), _("Stage at the later snapshot"),
               _("Stage at the earlier snapshot"))
    return ax


def _band(ax: plt.Axes, y0_left: float, y0_right: float, height: float, color, x0: float, x1: float) -> None:
    xs = np.linspace(x0, x1, 50)
    ease = (1 - np.cos(np.pi * (xs - x0) / (x1 - x0))) / 2
    lower = y0_left + (y0_right - y0_left) * ease
    ax.fill_between(xs, lower, lower + height, color=color, alpha=0.45, linewidth=0)


def plot_stage_flows(data: pd.DataFrame, ax: plt.Axes | None = None, *, period_end=None) -> plt.Axes:
    """Alluvial-style chart of customers moving between stages into one snapshot.

    Parameters
    ----------
    data
        Output of :func:`clc_lib.stage_history.stage_flows`.
    period_end
        Snapshot to draw (the later of the two); default the latest one.
    """
    ax = get_ax(ax)
    when = pd.Timestamp(period_end) if period_end is not None else data["period_end"].max()
    flows = data[data["period_end"] == when]
    order = ["(first seen)", *STAGES]
    rank = {s: i for i, s in enumerate(order)}
    flows = flows.assign(f=flows["from_stage"].map(rank), t=flows["to_stage"].map(rank)).sort_values(["f", "t"])
    bar, left_x, right_x = 0.08, 0.0, 0.92
    totals_left = flows.groupby("from_stage")["customers"].sum()
    totals_right = flows.groupby("to_stage")["customers"].sum()
    gap = 0.02 * max(float(totals_left.sum()), 1.0)

    def stack(totals):
        offsets, y = {}, 0.0
        for stage in order:
            if stage in totals.index and totals[stage] > 0:
                offsets[stage] = y
                y += float(totals[stage]) + gap
        return offsets

    left_base, right_base = stack(totals_left), stack(totals_right)
    left_used = dict.fromkeys(left_base, 0.0)
    right_used = dict.fromkeys(right_base, 0.0)
    right_order = flows.sort_values(["t", "f"])
    right_start = {}
    for row in right_order.itertuples():
        right_start[(row.from_stage, row.to_stage)] = right_base[row.to_stage] + right_used[row.to_stage]
        right_used[row.to_stage] += row.customers
    for row in flows.itertuples():
        y_left = left_base[row.from_stage] + left_used[row.from_stage]
        left_used[row.from_stage] += row.customers
        color = stage_color(row.from_stage)
        _band(ax, y_left, right_start[(row.from_stage, row.to_stage)], row.customers, color,
              left_x + bar, right_x)
    for base, totals, x in ((left_base, totals_left, left_x), (right_base, totals_right, right_x)):
        for stage, y in base.items():
            height = float(totals[stage])
            ax.add_patch(plt.Rectangle((x, y), bar, height, color=stage_color(stage)))
            ha, tx = ("right", x - 0.01) if x == left_x else ("left", x + bar + 0.01)
            name = _("(first seen)") if stage == "(first seen)" else stage_label(stage)
            ax.text(tx, y + height / 2, _("{stage} ({count})").format(stage=name, count=format_count(height)),
                    va="center", ha=ha, fontsize=9)
    ax.set_xlim(-0.3, 1.3)
    snapshot = format_date(when)
    ax.set_xticks([left_x + bar / 2, right_x + bar / 2], [_("Previous snapshot"), snapshot])
    ax.grid(False)
    format_count_axis(ax)
    label_axes(ax, _("Stage flows into the snapshot of {date}").format(date=snapshot), _("Snapshot"),
               _("Customers (stacked)"))
    return ax


def plot_stage_metrics(data: pd.DataFrame, metric: str = "revenue_share", ax: plt.Axes | None = None, *,
                       currency: str = "") -> plt.Axes:
    """Bar chart of one column of :func:`clc_lib.stage_history.stage_metrics` per stage (empty stages left out)."""
    if metric not in _METRIC_AXES:
        from clc_lib.errors import ConfigError

        raise ConfigError(f"Unknown stage metric {metric!r}; choose one of {', '.join(_METRIC_AXES)}.")
    ax = get_ax(ax)
    frame = data.reset_index()
    frame["stage"] = frame["stage"].astype(str)
    frame = frame[frame["customers"] > 0] if "customers" in frame else frame
    stages = _present_stages(frame["stage"])
    frame = frame.set_index("stage").loc[stages]
    ax.bar([stage_label(s) for s in stages], frame[metric].astype(float).fillna(0),
           color=[stage_color(s) for s in stages])
    label, kind = _METRIC_AXES[metric]
    label = _(label).format(currency=currency or _("run currency"))
    label_axes(ax, _(_METRIC_TITLES[metric]), _("Lifecycle stage"), label)
    _format_axis(ax, kind, currency)
    ax.tick_params(axis="x", rotation=30)
    return ax


def plot_stage_backtest(data: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Share of each stage's customers who bought in the window after the back-test date."""
    ax = get_ax(ax)
    frame = data.reset_index()
    frame["stage"] = frame["stage"].astype(str)
    stages = _present_stages(frame["stage"])
    frame = frame.set_index("stage").loc[stages]
    rates = frame["buy_rate"].astype(float)
    bars = ax.bar([stage_label(s) for s in stages], rates.fillna(0), color=[stage_color(s) for s in stages])
    # Room above the tallest bar for its label; a back-test without buyers still gets a 0-1% axis.
    ax.set_ylim(0, max(rates.max() if rates.notna().any() else 0.0, 0.01) * 1.12)
    label_bars(ax, bars, ["–" if pd.isna(v) else format_percent(v, 0) for v in rates])
    window = data.attrs.get("window_days")
    as_of = data.attrs.get("as_of")
    if window and as_of is not None:
        title = ngettext("Customers who bought within {days} day after {date}, by stage at that date",
                         "Customers who bought within {days} days after {date}, by stage at that date",
                         int(window)).format(days=window, date=format_date(pd.Timestamp(as_of)))
    else:
        title = _("Customers who bought, by stage at that date")
    label_axes(ax, title, _("Lifecycle stage at the back-test date"), _("Bought in the window (share of stage)"))
    format_percent_axis(ax)
    ax.tick_params(axis="x", rotation=30)
    return ax
