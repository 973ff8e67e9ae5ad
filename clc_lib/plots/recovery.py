"""Charts of recovery: active, lapsed and churned customers, reactivation, campaign uplift and survey scores.

Each function takes the output of the matching function of :mod:`clc_lib.recovery`,
:mod:`clc_lib.campaigns` or :mod:`clc_lib.surveys` as ``data=``, draws on ``ax=`` (a new figure when
None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.definitions import recency_rule
from clc_lib.i18n import N_, _
from clc_lib.plots.theme import (
    CUSTOMER_STATUS_COLORS,
    OTHER_SEGMENT_COLOR,
    format_count_axis,
    format_percent_axis,
    get_ax,
    label_axes,
    legend_outside,
    plot_rate_per_period,
    require_columns,
    set_period_ticks,
    term_label,
)

__all__ = ["plot_lapsed_counts", "plot_reactivation_rate", "plot_campaign_uplift", "plot_survey_scores"]


def plot_lapsed_counts(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Active, lapsed and churned customers at each period end (:func:`lapsed_counts_over_time`).

    The bands take the colours of :data:`~clc_lib.plots.theme.CUSTOMER_STATUS_COLORS` (those of
    the active, at-risk and churned stages) and are named in a legend beside the chart, with the
    terms of :mod:`clc_lib.definitions`; they match those terms when
    ``lapse_days`` is the at-risk threshold and ``churn_days`` the churn threshold of the run.
    """
    require_columns(data, ["period_end", "active", "lapsed", "churned"], "the lapsed-customers chart")
    ax = get_ax(ax)
    dates = pd.to_datetime(data["period_end"])
    labels = [term_label(key) for key in ("active_customer", "lapsed_customer", "churned_customer")]
    ax.stackplot(dates, data["active"], data["lapsed"], data["churned"], labels=labels,
                 colors=[CUSTOMER_STATUS_COLORS[key] for key in ("active", "lapsed", "churned")],
                 edgecolor="white", linewidth=0.4)
    set_period_ticks(ax, dates)
    ax.set_xlim(dates.min(), dates.max())
    format_count_axis(ax)
    lapse, churn = data.attrs.get("lapse_days"), data.attrs.get("churn_days")
    thresholds = {"at_risk_days": lapse, "churn_days": churn}
    default = _("Customers by days since last purchase")
    if lapse and churn:
        default += "\n" + _("{lapsed_rule}; {churned_rule}").format(
            lapsed_rule=recency_rule("lapsed_customer", thresholds),
            churned_rule=recency_rule("churned_customer", thresholds))
    label_axes(ax, title or default, _("Period end"), term_label("customer"))
    legend_outside(ax, reverse=True)
    return ax


def plot_reactivation_rate(data: pd.DataFrame, ax: plt.Axes | None = None, *,
                           title: str | None = None) -> plt.Axes:
    """Reactivation rate per period (``reactivation(...).rates``).

    The base is the customers whose last purchase is more than ``attrs["lapse_days"]`` days old at
    the start of the period (the reactivation gap), as for the reactivation rate of
    :mod:`clc_lib.definitions`; they are not the lapsed customers defined there (at-risk and
    dormant stages), so the chart does not call them lapsed.
    """
    require_columns(data, ["period_start", "reactivation_rate"], "the reactivation chart")
    ax = plot_rate_per_period(get_ax(ax), data["period_start"], data["reactivation_rate"])
    gap = data.attrs.get("lapse_days")
    base = (_("customers without a purchase for more than {days} days").format(days=gap) if gap
            else _("customers without a recent purchase"))
    default = (_("Reactivation rate per period") + "\n"
               + _("({customers} at its start who bought during it)").format(customers=base))
    label_axes(ax, title or default, _("Period"), _("Reactivation rate (% of {customers})").format(customers=base))
    return ax


def plot_campaign_uplift(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Conversion rate of treatment and control per campaign with 95% intervals (``campaign_uplift``)."""
    needed = [f"rate_{g}{s}" for g in ("treatment", "control") for s in ("", "_lower", "_upper")]
    require_columns(data, ["campaign_id", *needed], "the uplift chart")
    ax = get_ax(ax, figsize=(9.0, max(3.5, 0.9 * len(data) + 2.5)))
    positions = np.arange(len(data))[::-1]
    palette = sns.color_palette(n_colors=2)
    for offset, color, group in ((0.15, palette[0], N_("treatment")), (-0.15, palette[1], N_("control"))):
        rate = data[f"rate_{group}"].to_numpy(dtype=float)
        # A Wilson bound at a rate of 0 or 1 can sit a rounding error on the wrong side of the rate.
        errors = np.clip(np.vstack([rate - data[f"rate_{group}_lower"].to_numpy(dtype=float),
                                    data[f"rate_{group}_upper"].to_numpy(dtype=float) - rate]), 0, None)
        ax.errorbar(rate, positions + offset, xerr=errors, fmt="o", capsize=3, color=color, label=_(group))
    labels = [str(c) for c in data["campaign_id"]]
    if "uplift" in data.columns:
        labels = [c + "\n" + _("uplift {points} pts").format(points=f"{100 * u:+.1f}") if pd.notna(u) else c
                  for c, u in zip(labels, data["uplift"], strict=True)]
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.6, len(data) - 0.4)
    format_percent_axis(ax, axis="x")
    ax.set_xlim(left=0)
    window = data.attrs.get("window_days")
    level = round(100 * (1 - data.attrs.get("alpha", 0.05)))
    default = (_("Customers buying within {days} days of the send: treatment vs control ({level}% CI)") if window
               else _("Customers buying of the send: treatment vs control ({level}% CI)"))
    label_axes(ax, title or default.format(days=window, level=level), _("Conversion rate (% of group)"), None)
    legend_outside(ax)
    return ax


def plot_survey_scores(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Distribution of 0-10 survey scores of churned vs retained respondents (``survey_summary(...).responses``)."""
    require_columns(data, ["score", "status"], "the survey chart")
    scored = data.assign(score=np.floor(data["score"]).astype(int))
    shares = (scored.groupby("status")["score"].value_counts(normalize=True)
              .rename("share").reset_index())
    order = [s for s in (N_("churned"), N_("retained"), N_("unknown")) if s in set(shares["status"])]
    ax = get_ax(ax)
    colors = {"churned": CUSTOMER_STATUS_COLORS["churned"], "retained": CUSTOMER_STATUS_COLORS["active"],
              "unknown": OTHER_SEGMENT_COLOR}
    sns.barplot(data=shares, x="score", y="share", hue="status", hue_order=order, order=list(range(11)), ax=ax,
                palette=colors, saturation=1.0)
    format_percent_axis(ax)
    legend_outside(ax, title=_("Respondents"))
    if ax.get_legend() is not None:  # the legend names the status codes of the data: in the reader's language
        for text in ax.get_legend().get_texts():
            text.set_text(_(text.get_text()))
    for edge in (6.5, 8.5):  # detractors 0-6 | passives 7-8 | promoters 9-10
        ax.axvline(edge, color="grey", linestyle=":", linewidth=1)
    label_axes(ax, title or _("Survey scores of churned vs retained customers"),
               _("Likelihood to recommend (0-10; detractors 0-6, passives 7-8, promoters 9-10)"),
               _("Respondents (% of group)"))
    return ax
