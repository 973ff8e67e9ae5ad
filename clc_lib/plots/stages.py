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
)
from clc_lib.definitions import TERMS, stage_label
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
_METRIC_AXES: Mapping[str, tuple[str, str]] = {
    "customers": ("Customers", "count"),
    "customer_share": ("Share of customers", "percent"),
    "revenue": ("Net revenue in window ({currency})", "currency"),
    "revenue_share": ("Share of revenue in window", "percent"),
    "aov": ("Average order value ({currency})", "currency"),
    "next_period_purchase_rate": ("Bought in the next period (share)", "percent"),
    "next_stage_conversion": ("Moved to the next stage (share)", "percent"),
    "median_periods_in_stage": ("Median stay in stage (periods)", "count"),
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
    legend_outside(ax, title="Stage", reverse=True)
    set_period_ticks(ax, wide.index)
    ax.set_xlim(wide.index.min(), wide.index.max())
    customers = TERMS["customer"].label
    title = f"{customers} by lifecycle stage" + (" (share)" if share else "")
    if prospect_columns:
        title += (f"\n{TERMS['prospect'].label} (not customers, not drawn): {prospects_at_end:,} "
                  "at the last period end")
    label_axes(ax, title, "Snapshot date (period end)", f"Share of {customers.lower()}" if share else customers)
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
                linewidths=0.5, cbar_kws={"label": "Share of the row's customers" if is_share else "Customers"})
    label_axes(ax, "Stage transitions between snapshots", "Stage at the later snapshot",
               "Stage at the earlier snapshot")
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
            ax.text(tx, y + height / 2, f"{stage_label(stage)} ({height:,.0f})", va="center", ha=ha, fontsize=9)
    ax.set_xlim(-0.3, 1.3)
    ax.set_xticks([left_x + bar / 2, right_x + bar / 2], ["Previous snapshot", f"{when:%Y-%m-%d}"])
    ax.grid(False)
    format_count_axis(ax)
    label_axes(ax, f"Stage flows into the snapshot of {when:%Y-%m-%d}", "Snapshot", "Customers (stacked)")
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
    label = label.format(currency=currency or "run currency")
    label_axes(ax, f"{label.split(' (')[0]} by lifecycle stage", "Lifecycle stage", label)
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
    label_bars(ax, bars, ["–" if pd.isna(v) else f"{v:.0%}" for v in rates])
    window = data.attrs.get("window_days")
    as_of = data.attrs.get("as_of")
    when = f" within {window} days after {pd.Timestamp(as_of):%Y-%m-%d}" if window and as_of is not None else ""
    label_axes(ax, f"Customers who bought{when}, by stage at that date", "Lifecycle stage at the back-test date",
               "Bought in the window (share of stage)")
    format_percent_axis(ax)
    ax.tick_params(axis="x", rotation=30)
    return ax
