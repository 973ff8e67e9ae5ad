"""Charts of the customer-value models: tracking, holdout fit, frequency/recency matrices, CLV spread.

Each function takes the frame an analysis function of :mod:`clc_lib.clv` returns as ``data=`` and
returns the matplotlib Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.errors import DataError
from clc_lib.i18n import N_, _
from clc_lib.plots.theme import (
    format_count_axis,
    format_currency_axis,
    format_percent_axis,
    get_ax,
    label_axes,
    legend_outside,
    money_label,
)

__all__ = ["plot_clv_tracking", "plot_clv_holdout_by_frequency", "plot_clv_matrix", "plot_clv_distribution"]

MATRIX_TITLES = {
    "p_alive": (N_("Probability of still buying (alive)"), N_("P(alive)")),
    "expected_purchases": (N_("Expected repeat purchase days"), N_("purchase days")),
}
#: The model time units (``clc_lib.periods.TIME_UNITS``) in the plural, as the axis labels name them.
_TIME_UNIT_WORDS: dict[str, str] = {"D": N_("days"), "W": N_("weeks"), "M": N_("months")}
_OTHER_TIME_UNIT_WORDS = N_("time units")
#: What the value histogram can show: the columns of :func:`clc_lib.clv.predict_customer_value`.
_VALUE_NAMES: dict[str, str] = {
    "clv": N_("Customer lifetime value"), "expected_spend": N_("Expected spend per purchase day"),
    "expected_purchases": N_("Expected repeat purchase days"), "p_alive": N_("Probability of still buying (alive)"),
}


def _time_unit_words(code: str) -> str:
    return _(_TIME_UNIT_WORDS.get(code, _OTHER_TIME_UNIT_WORDS))


def _need(data: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a DataFrame ({what}), got {type(data).__name__}.", source=what)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"data lacks the column(s) {', '.join(missing)}; pass the output of {what}.",
                        source=what, column=missing[0])


def plot_clv_tracking(data: pd.DataFrame, *, cumulative: bool = True, ax: plt.Axes | None = None) -> plt.Axes:
    """Actual vs expected repeat purchase days over time, from :func:`clc_lib.clv.cumulative_tracking`.

    The dashed vertical line marks the end of calibration; to its right the model forecasts.
    """
    _need(data, ("period", "actual_cumulative", "expected_cumulative", "actual", "expected", "in_holdout"),
          "clc_lib.clv.cumulative_tracking")
    ax = get_ax(ax)
    unit = _time_unit_words(data.attrs.get("time_unit", "W"))
    suffix = "_cumulative" if cumulative else ""
    actual_col, expected_col = ("actual" + suffix, "expected" + suffix)
    ax.plot(data["period"], data[actual_col], label=_("Actual"), color=sns.color_palette()[0], linewidth=2)
    ax.plot(data["period"], data[expected_col], label=_("Model"), color=sns.color_palette()[1], linestyle="--",
            linewidth=2)
    if data["in_holdout"].any():
        boundary = data.loc[~data["in_holdout"], "period"].max()
        ax.axvline(boundary, color="grey", linestyle=":", linewidth=1.5, label=_("End of calibration"))
    if cumulative:
        title = _("Cumulative repeat purchase days: actual vs model")
        ylabel = _("Cumulative repeat purchase days (count)")
    else:
        title, ylabel = _("Repeat purchase days: actual vs model"), _("Repeat purchase days (count)")
    label_axes(ax, title, _("Time since cohort start ({unit})").format(unit=unit), ylabel)
    format_count_axis(ax)
    legend_outside(ax)
    return ax


def plot_clv_holdout_by_frequency(data: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Mean holdout purchase days per calibration frequency, actual vs predicted (:func:`holdout_by_frequency`)."""
    _need(data, ("actual", "predicted", "customers"), "clc_lib.clv.holdout_by_frequency")
    ax = get_ax(ax)
    long = (data[["actual", "predicted"]].rename(columns={"actual": _("Actual"), "predicted": _("Model")})
            .rename_axis("x_group").reset_index().melt(id_vars="x_group", var_name="series", value_name="mean"))
    long["x_group"] = long["x_group"].astype(str)
    sns.barplot(data=long, x="x_group", y="mean", hue="series", ax=ax)
    duration = data.attrs.get("duration_holdout")
    unit = _time_unit_words(data.attrs.get("time_unit", ""))
    title = (_("Holdout purchases by calibration frequency over {duration} {unit}").format(
                 duration=f"{duration:g}", unit=unit) if duration is not None
             else _("Holdout purchases by calibration frequency"))
    label_axes(ax, title, _("Repeat purchase days in calibration (x)"),
               _("Mean repeat purchase days in holdout (per customer)"))
    legend_outside(ax)
    return ax


def plot_clv_matrix(data: pd.DataFrame, *, ax: plt.Axes | None = None, annotate: bool = False) -> plt.Axes:
    """Heatmap of :func:`clc_lib.clv.frequency_recency_matrix` (frequency down, recency across)."""
    if not isinstance(data, pd.DataFrame) or data.index.name != "x" or data.columns.name != "t_x":
        raise DataError("data must be the output of clc_lib.clv.frequency_recency_matrix (index x, columns t_x).",
                        source="clc_lib.clv.frequency_recency_matrix")
    ax = get_ax(ax, figsize=(9.0, 6.0))
    quantity = data.attrs.get("quantity", "p_alive")
    title, colour_label = MATRIX_TITLES.get(quantity, (quantity, quantity))
    shown = data.copy()
    shown.columns = [f"{c:g}" for c in shown.columns]
    sns.heatmap(shown, ax=ax, cmap="viridis", annot=annotate, fmt=".2f", cbar_kws={"label": _(colour_label)},
                vmin=0.0, vmax=1.0 if quantity == "p_alive" else None)
    ax.invert_yaxis()
    T = data.attrs.get("T")
    horizon = data.attrs.get("t")
    details = [f"T = {T:g}" if T is not None else None,
               _("next {horizon} time units").format(horizon=f"{horizon:g}") if horizon else None]
    subtitle = ", ".join(d for d in details if d)
    shown_title = _(title) + (_(" ({details})").format(details=subtitle) if subtitle else "")
    label_axes(ax, shown_title, _("Time of last purchase since the first (t_x, model time units)"),
               _("Repeat purchase days (x)"))
    return ax


def plot_clv_distribution(data: pd.DataFrame, *, column: str = "clv", currency: str = "",
                          ax: plt.Axes | None = None, log_scale: bool = True) -> plt.Axes:
    """Histogram of predicted customer value (or another column of :func:`predict_customer_value`)."""
    _need(data, (column,), "clc_lib.clv.predict_customer_value")
    ax = get_ax(ax)
    values = data[column].dropna()
    money = column in ("clv", "expected_spend")
    positive = values[values > 0]
    low = float(positive.quantile(0.01)) if len(positive) else 0.0
    if log_scale and low > 0 and positive.max() / low > 100:
        # Log bins from the 1st percentile; smaller values are counted in the first bin.
        bins = np.logspace(np.log10(low), np.log10(positive.max()), 40)
        ax.hist(np.clip(values, low, None), bins=bins, color=sns.color_palette()[0])
        ax.set_xscale("log")
    else:
        ax.hist(values, bins=40, color=sns.color_palette()[0])
    horizon = data.attrs.get("horizon")
    unit = _time_unit_words(data.attrs.get("time_unit", ""))
    name = _(_VALUE_NAMES[column]) if column in _VALUE_NAMES else column
    title = (_("{value} over {horizon} {unit}").format(value=name, horizon=f"{horizon:g}", unit=unit)
             if horizon is not None and column in ("clv", "expected_purchases") else name)
    xlabel = money_label(name, currency or _("currency")) if money else name
    label_axes(ax, title, xlabel, _("Customers (count)"))
    if money and not ax.get_xscale() == "log":
        format_currency_axis(ax, currency, axis="x")
    if column == "p_alive":
        format_percent_axis(ax, axis="x")
    format_count_axis(ax)
    return ax
